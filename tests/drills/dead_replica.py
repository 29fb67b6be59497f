"""Run on the gateway host with the gateway's own Python: LiteLLM's router, built from the deployed config's
router_settings, with one alias given a second deployment that refuses every connection. Prints one JSON line:
how many of N requests failed and how many attempts the dead deployment took.

A refused connection to a vLLM replica never cools it down in LiteLLM; without the deployed failover settings about
one request in 2**(retries + 1) fails, every one of whose attempts landed on the dead replica.

Usage: python dead_replica.py CONFIG ALIAS REQUESTS DEAD_PORT
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import sys

import httpx
import litellm
import yaml
from litellm import Router


async def main(config_path: str, alias: str, requests: int, dead_port: int) -> None:
    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    deployments = [m for m in config["model_list"] if m["model_name"] == alias]
    if len(deployments) != 1:
        found = len(deployments)
        raise SystemExit(f"{alias}: the drill adds a dead twin to an alias with one deployment, found {found}")
    live = deployments[0]
    dead = copy.deepcopy(live)
    base = httpx.URL(live["litellm_params"]["api_base"])
    dead["litellm_params"]["api_base"] = str(base.copy_with(port=dead_port))
    dead["model_info"]["id"] = f"{live['model_info']['id']}-dead"
    for d in (live, dead):  # an alias with two deployments: no single-deployment settings
        d["litellm_params"].pop("num_retries", None)
        d["model_info"].pop("allowed_fails", None)
    router = Router(model_list=[live, dead], **config.get("router_settings", {}))

    attempts: collections.Counter[str] = collections.Counter()
    completion = litellm.acompletion

    async def counted(*args, **kwargs):  # every attempt the router makes, by the address it went to
        attempts[str(kwargs.get("api_base"))] += 1
        return await completion(*args, **kwargs)

    litellm.acompletion = counted
    semaphore = asyncio.Semaphore(4)

    async def one(i: int) -> str | None:
        async with semaphore:
            try:
                await router.acompletion(
                    model=alias,
                    messages=[{"role": "user", "content": f"drill {i}"}],
                    max_tokens=1,
                )
            except Exception as exc:  # every failure is counted and reported
                return f"{type(exc).__name__}: {str(exc)[:200]}"
            return None

    errors = [e for e in await asyncio.gather(*(one(i) for i in range(requests))) if e]
    print(
        json.dumps(
            {
                "requests": requests,
                "failed": len(errors),
                "errors": sorted(set(errors))[:3],
                "attempts": dict(attempts),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
