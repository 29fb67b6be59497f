"""The catalogue of litellm_local's services: what runs on which host, on which port, under which alias.

`litellm_local_services` (inventory/group_vars/all/services.yml) declares every service once: its kind, the host
groups that run it, its port, alias, GPU budget and models. These filters turn that declaration into the facts every
role, template, playbook and test reads, so that no other file decides what runs where:

    litellm_local_units: "{{ litellm_local_services | litellm_local_catalogue(group_names, litellm_local_address,
                                                                              litellm_local_profile) }}"
    deployments: "{{ units_by_host | litellm_local_deployments }}"   (the gateway's model_list)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the unit tests run without Ansible
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

ROOT = "/opt/litellm-local/venvs"
STATE = "/var/lib/litellm-local"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Kind:
    """What is the same for every service of one kind."""

    unit: str  # the systemd unit, from the service's name
    role: str  # the role that deploys it
    venv: str
    user: str
    state_dir: str
    health: str
    metrics: str  # "" when Prometheus does not scrape it
    gpu: bool  # counted in the host's GPU budget
    exposure: str  # backend (gateway and monitoring hosts), client (client networks) or loopback
    modes: tuple[str, ...]  # the gateway modes it may serve ("" = not behind an alias)
    scheme: str = "http"


def _kind(unit: str, role: str, short: str, user: str, **kw: Any) -> Kind:
    """A kind whose venv and state directory are named after `short`."""
    defaults = {"venv": f"{ROOT}/{short}", "state_dir": f"{STATE}/{short}", "health": "/health", "metrics": "/metrics"}
    return Kind(unit=unit, role=role, user=user, **{**defaults, **kw})


KINDS: dict[str, Kind] = {
    "vllm": _kind(
        "vllm-{name}",
        "vllm_blackwell",
        "vllm",
        "vllm",
        gpu=True,
        exposure="backend",
        modes=("chat", "embedding", "rerank", ""),  # "": a server only another service calls (the ASR engine's)
    ),
    "asr": _kind("{name}", "asr", "asr", "asr", gpu=True, exposure="backend", modes=("audio_transcription",)),
    "embed": _kind(
        "{name}", "embed_pascal", "embed-pascal", "embed", gpu=True, exposure="backend", modes=("embedding",)
    ),
    "litellm": _kind(
        "litellm",
        "litellm",
        "litellm",
        "litellm",
        health="/health/liveliness",
        gpu=False,
        exposure="loopback",
        modes=("",),
    ),
    "edge": _kind(
        "litellm-edge",
        "edge",
        "",
        "litellm-edge",
        venv="",
        state_dir="",
        health="/health/liveliness",
        metrics="",
        gpu=False,
        exposure="client",
        modes=("",),
        scheme="https",
    ),
    # The web UI (roles/open_webui): clients reach it at `port` through the edge's TLS (so its url and health are
    # the edge's), the process itself listens on loopback at listen_port.
    "webui": _kind(
        "{name}",
        "open_webui",
        "open-webui",
        "open-webui",
        health="/ready",
        metrics="",
        gpu=False,
        exposure="client",
        modes=("",),
        scheme="https",
    ),
}

# How the gateway reaches a mode: LiteLLM's provider prefix and the OpenAI parameters it passes on.
PROVIDERS: dict[str, str] = {
    "chat": "hosted_vllm",
    "rerank": "hosted_vllm",
    "audio_transcription": "hosted_vllm",
    "embedding": "litellm-local-embed",  # our plug-in (services/gateway, embeddings.py)
}
# The ASR server's engines and the vLLM services each needs beside it (recognition, then alignment if it has an
# aligner): none for transformers, whose models load in the server.
ENGINE_SERVICES: dict[str, tuple[str, ...]] = {"transformers": (), "vllm": ("recognizer", "aligner")}
EMBEDDING_PARAMS = ["dimensions", "encoding_format", "user", "instruction"]
# The edge's CA certificate, which verifies its TLS (roles/edge writes it there).
EDGE_CA_FILE = "/etc/litellm-local/edge/ca.crt"


def _fail(service: Mapping[str, Any], message: str) -> None:
    name = service.get("name", "(no name)") if isinstance(service, Mapping) else service
    raise AnsibleFilterError(
        f"litellm_local_services: service {name!r}: {message}. Fix inventory/group_vars/all/services.yml "
        "(docs/catalogue.md lists the keys)."
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _models(service: Mapping[str, Any]) -> list[dict[str, str]]:
    raw = service.get("models")
    if raw is None:
        raw = (
            [{k: service[k] for k in ("model", "revision", "lab_model") if k in service}] if "model" in service else []
        )
    if not isinstance(raw, list):
        _fail(service, "models must be a list of {model, revision, lab_model}")
    models = []
    for m in raw:
        if not isinstance(m, Mapping) or not str(m.get("model", "")).strip():
            _fail(service, f"every model needs `model` (a hub id or an absolute path), got {m!r}")
        models.append(
            {
                "model": str(m["model"]),
                "revision": str(m.get("revision") or ""),
                "lab_model": str(m.get("lab_model") or ""),
            }
        )
    return models


def _unit(service: Mapping[str, Any], address: str, profile: str) -> dict[str, Any]:
    if not isinstance(service, Mapping):
        _fail(service, "each entry must be a mapping")
    name = str(service.get("name", ""))
    if not NAME.match(name):
        _fail(service, "needs a name of lower-case letters, digits and dashes")
    kind_name = str(service.get("kind", ""))
    if kind_name not in KINDS:
        _fail(service, f"kind must be one of {', '.join(sorted(KINDS))}, not {kind_name!r}")
    kind = KINDS[kind_name]
    try:
        port = int(service.get("port", 0))
    except (TypeError, ValueError):
        port = 0
    if not 1024 <= port <= 65535:
        _fail(service, f"port must be 1024-65535, not {service.get('port')!r}")
    alias = str(service.get("alias") or "")
    mode = str(service.get("mode") or (kind.modes[0] if len(kind.modes) == 1 else ""))
    if alias and not ALIAS.match(alias):
        _fail(service, f"alias {alias!r} must be letters, digits, '.', '_' or '-'")
    if mode and not alias:
        _fail(service, f"mode {mode!r} is how the gateway serves an alias: give it an alias, or no mode")
    if alias and mode not in PROVIDERS:
        _fail(service, f"an alias needs a mode the gateway serves ({', '.join(sorted(PROVIDERS))}), not {mode!r}")
    if mode not in kind.modes:
        _fail(
            service, f"a {kind_name} service serves mode {' or '.join(m or '(none)' for m in kind.modes)}, not {mode!r}"
        )
    runner = str(service.get("runner") or "")
    if kind_name == "vllm" and alias and (runner == "pooling") != (mode in {"embedding", "rerank"}):
        _fail(service, "a vLLM service with runner: pooling serves mode embedding or rerank, and only it does")
    engine = str(service.get("engine") or "transformers") if kind_name == "asr" else ""
    if kind_name == "asr" and engine not in ENGINE_SERVICES:
        _fail(service, f"engine (asr_engine) must be {' or '.join(ENGINE_SERVICES)}, not {engine!r}")
    # The ASR server on the vllm engine needs no GPU of its own: its two vLLM services hold the models.
    gpu = kind.gpu and engine != "vllm"
    try:
        gpu_memory_gb = float(service.get("gpu_memory_gb", 0) or 0)
    except (TypeError, ValueError):
        gpu_memory_gb = -1.0
    if gpu_memory_gb < 0 or (gpu and kind_name in {"vllm", "asr"} and gpu_memory_gb <= 0):
        _fail(
            service,
            "gpu_memory_gb (its share of the card, GB) must be > 0 for vllm and asr on the transformers engine, "
            ">= 0 otherwise",
        )
    if not gpu:
        gpu_memory_gb = 0.0
    models = _models(service)
    if kind.gpu and not models:
        _fail(service, "needs model (or models)")
    if profile == "lab" and kind.gpu and not all(m["lab_model"] for m in models):
        _fail(service, "every model needs lab_model (the lab's stand-in under litellm_local_lab_models_dir)")
    state_dir = str(service.get("state_dir") or kind.state_dir)
    unit = {
        **{k: v for k, v in service.items() if k not in {"groups", "enabled"}},
        "name": name,
        "kind": kind_name,
        "unit": kind.unit.format(name=name),
        "role": kind.role,
        "alias": alias,
        "mode": mode,
        "provider": PROVIDERS.get(mode, "") if alias else "",
        "served": str(service.get("served") or name),
        "port": port,
        "address": str(service.get("address") or address),
        "scheme": kind.scheme,
        "health": kind.health,
        "metrics": kind.metrics,
        "exposure": kind.exposure,
        "gpu": gpu,
        "gpu_memory_gb": gpu_memory_gb,
        "models": models,
        "lab_models": [m["lab_model"] for m in models],
        "venv": str(service.get("venv") or kind.venv),
        "user": str(service.get("user") or kind.user),
        "state_dir": state_dir,
        "hf_home": f"{state_dir}/hf" if kind.gpu else "",
    }
    unit["url"] = f"{unit['scheme']}://{unit['address']}:{port}"
    if kind_name in {"edge", "webui"}:
        unit["ca_file"] = str(service.get("ca_file") or EDGE_CA_FILE)
    if kind_name == "webui":
        try:
            listen_port = int(service.get("listen_port", 0))
        except (TypeError, ValueError):
            listen_port = 0
        if not 1024 <= listen_port <= 65535 or listen_port == port:
            _fail(service, "listen_port (where the UI itself listens, on loopback) must be 1024-65535 and not its port")
        unit["listen_port"] = listen_port
        unit["listen_url"] = f"http://127.0.0.1:{listen_port}"
    if kind_name == "asr":
        unit["engine"] = engine
        wanted = service.get("engine_services") or {}
        if not isinstance(wanted, Mapping) or set(wanted) - {"recognizer", "aligner"}:
            _fail(service, "engine_services maps recognizer (and aligner) to the names of vLLM services")
        unit["engine_services"] = {k: str(v) for k, v in wanted.items()}
        unit["engine_backends"] = {}  # filled by catalogue() from the host's units
    return unit


def _engine_backends(units: list[dict[str, Any]]) -> None:
    """Give each ASR server on the vllm engine the URLs and served names of its vLLM services on the same host."""
    by_name = {u["name"]: u for u in units}
    for u in units:
        if u["kind"] != "asr" or u["engine"] != "vllm":
            continue
        roles = ENGINE_SERVICES["vllm"] if len(u["models"]) > 1 else ENGINE_SERVICES["vllm"][:1]
        for role in roles:
            name = u["engine_services"].get(role, "")
            backend = by_name.get(name)
            if not name or backend is None or backend["kind"] != "vllm" or backend["alias"]:
                _fail(
                    u,
                    f"on the vllm engine it needs its {role}, a vLLM service without an alias on the same host, "
                    f"named by engine_services.{role} (now {name or 'unset'!r}, "
                    f"{'not a vLLM service without an alias' if backend else 'not on this host'}); enable it where "
                    "the asr service runs, or set asr_engine: transformers",
                )
            u["engine_backends"][role] = {"unit": backend["unit"], "url": backend["url"], "served": backend["served"]}


def catalogue(
    services: Iterable[Mapping[str, Any]], group_names: Iterable[str], address: str, profile: str = "production"
) -> list[dict[str, Any]]:
    """The services of one host: those of `services` whose groups hold one of the host's groups and that are enabled
    there, with every derived fact. Refuses a malformed entry, and two services with one unit name or port."""
    if not isinstance(services, list):
        raise AnsibleFilterError(
            "litellm_local_services must be a list of services (inventory/group_vars/all/services.yml)"
        )
    groups = set(group_names)
    units = []
    for service in services:
        if not isinstance(service, Mapping):
            _fail(service, "each entry must be a mapping")
        wanted = service.get("groups")
        if not isinstance(wanted, list) or not wanted:
            _fail(service, "needs groups: the inventory groups whose hosts run it")
        if groups.isdisjoint(wanted) or not _truthy(service.get("enabled", True)):
            continue
        units.append(_unit(service, str(address), str(profile)))
    if any(u["kind"] == "webui" for u in units) and not any(u["kind"] == "edge" for u in units):
        raise AnsibleFilterError(
            "litellm_local_services: the web UI runs behind the gateway's TLS edge, on a gateway host: put the hosts "
            f"of its group in the gateway group too (this host's groups: {', '.join(sorted(groups))})"
        )
    for key in ("unit", "port"):
        seen: dict[Any, str] = {}
        for u in units:
            ports = [u[key]] + ([u["listen_port"]] if key == "port" and u["kind"] == "webui" else [])
            for value in ports:
                if value in seen:
                    raise AnsibleFilterError(
                        f"litellm_local_services: {seen[value]} and {u['name']} would both have {key} {value} on a "
                        f"host of {', '.join(sorted(groups))}. Give one of them another "
                        f"{'name' if key == 'unit' else key}."
                    )
                seen[value] = u["name"]
    _engine_backends(units)
    return units


def deployments(units_by_host: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The gateway's deployments: one per host and service with an alias, in host order, each knowing how many
    deployments its alias has (one deployment gets no retries and is never cooled down)."""
    out: list[dict[str, Any]] = []
    for host, units in units_by_host.items():
        for u in units:
            if not u.get("alias"):
                continue
            params: dict[str, Any] = {
                "model": f"{u['provider']}/{u['served']}",
                "api_base": f"{u['url']}/v1",
            }
            if u["mode"] == "embedding":
                params["allowed_openai_params"] = list(EMBEDDING_PARAMS)
            if u["kind"] == "asr":
                params["api_key"] = "unused"
            out.append(
                {
                    "alias": u["alias"],
                    "host": host,
                    "unit": u["unit"],
                    "mode": u["mode"],
                    "id": f"{u['unit']}@{host}",  # unique: a unit name is unique on its host
                    "litellm_params": params,
                }
            )
    counts: dict[str, int] = {}
    for d in out:
        counts[d["alias"]] = counts.get(d["alias"], 0) + 1
    for d in out:
        d["replicas"] = counts[d["alias"]]
    return out


def gpu_budget(units: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every service of a host that shares its GPU, with its GB: the one list the budget check sums."""
    return [{"unit": u["unit"], "gb": float(u["gpu_memory_gb"])} for u in units if u.get("gpu")]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "litellm_local_catalogue": catalogue,
            "litellm_local_deployments": deployments,
            "litellm_local_gpu_budget": gpu_budget,
        }
