#!/usr/bin/env python3
"""What the LiteLLM gateway adds: latency and CPU per request, direct to a backend vs through the gateway.

The same chat completion (max_tokens=1) is sent straight to a vLLM backend and through the gateway, interleaved so
that drift hits both alike, sequentially and from N concurrent clients (keep-alive connections, one per client).
The gateway's CPU time comes from the kernel's accounting of every process in its unit's cgroup (utime + stime of
/proc/<pid>/stat, read over SSH before and after each phase), divided by the requests the phase sent through it.

Usage (from the repository root, with the lab deployed):
  .venv/bin/python bench/gateway_overhead.py [--requests 200] [--concurrency 1,16] [--json out.json]
Defaults come from the lab inventory (gateway host, completions backend, the lab key in .lab/secrets.yml).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CPU_SCRIPT = (
    "cg=$(systemctl show -p ControlGroup --value {unit}); t=0; hz=$(getconf CLK_TCK); "
    "for p in $(cat /sys/fs/cgroup/systemd$cg/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup$cg/cgroup.procs); do "
    "set -- $(cut -d' ' -f14,15 /proc/$p/stat 2>/dev/null); t=$((t + ${{1:-0}} + ${{2:-0}})); done; echo $t $hz"
)


def lab_defaults() -> dict[str, str]:
    import yaml

    from tests.conftest import group_hosts, hostvars

    gateway = hostvars(group_hosts("gateway")[0])["ansible_host"]
    backend_host = group_hosts("blackwell")[0]
    port = next(s["port"] for s in hostvars(backend_host)["blackwell_vllm_services"] if s["name"] == "completions")
    key = yaml.safe_load((ROOT / ".lab" / "secrets.yml").read_text())["litellm_master_key"]
    return {
        "gateway": f"http://{gateway}:8200",
        "direct": f"http://{hostvars(backend_host)['ansible_host']}:{port}",
        "key": key,
        "ssh_host": group_hosts("gateway")[0],
    }


def cpu_seconds(ssh_host: str, unit: str) -> float:
    out = subprocess.run(
        [sys.executable, str(ROOT / "lab" / "labctl.py"), "ssh", ssh_host, CPU_SCRIPT.format(unit=unit)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]) / int(out[1])


class Client:
    """One keep-alive connection posting a fixed chat completion."""

    def __init__(self, base: str, model: str, key: str | None) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.body = json.dumps(
            {"model": model, "max_tokens": 1, "temperature": 0, "messages": [{"role": "user", "content": "Hi"}]}
        ).encode()
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

    def post(self) -> float:
        start = time.perf_counter()
        self.conn.request("POST", "/v1/chat/completions", self.body, self.headers)
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return (time.perf_counter() - start) * 1000


def run_phase(
    targets: dict[str, tuple[str, str, str | None]], requests: int, concurrency: int
) -> dict[str, list[float]]:
    """Each client alternates direct and gateway requests; returns latencies (ms) per target."""
    results: dict[str, list[float]] = {name: [] for name in targets}
    lock = threading.Lock()
    per_client = max(1, requests // concurrency)

    def worker() -> None:
        clients = {name: Client(*spec) for name, spec in targets.items()}
        for client in clients.values():
            client.post()  # warm the connection
        local: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(per_client):
            for name, client in clients.items():
                local[name].append(client.post())
        with lock:
            for name, values in local.items():
                results[name].extend(values)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per target and phase")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--model", default="completions", help="the gateway alias; the backend serves the same name")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    lab = lab_defaults()
    targets = {"direct": (lab["direct"], args.model, None), "gateway": (lab["gateway"], args.model, lab["key"])}
    report = []
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        cpu_before = cpu_seconds(lab["ssh_host"], "litellm")
        wall = time.perf_counter()
        latencies = run_phase(targets, args.requests, concurrency)
        wall = time.perf_counter() - wall
        cpu = cpu_seconds(lab["ssh_host"], "litellm") - cpu_before
        sent = len(latencies["gateway"]) + concurrency  # + one warm-up request per client
        row = {
            "concurrency": concurrency,
            "requests": len(latencies["gateway"]),
            "direct_median_ms": round(statistics.median(latencies["direct"]), 2),
            "gateway_median_ms": round(statistics.median(latencies["gateway"]), 2),
            "added_median_ms": round(
                statistics.median(latencies["gateway"]) - statistics.median(latencies["direct"]), 2
            ),
            "added_p99_ms": round(percentile(latencies["gateway"], 0.99) - percentile(latencies["direct"], 0.99), 2),
            "gateway_cpu_ms_per_request": round(cpu * 1000 / sent, 2),
            "wall_s": round(wall, 1),
        }
        report.append(row)
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
