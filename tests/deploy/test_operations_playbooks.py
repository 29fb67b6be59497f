"""The operations playbooks against the lab: status prints a row per service and changes nothing; models places
pinned revisions from a local mirror (idempotent) and refuses to fill the disk."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    client_key,
    gateway_base,
    group_hosts,
    host_units,
    lab_ca,
    lab_host,
    lab_playbook,
    require_lab,
)
from tests.infra.test_operations import units_by_host

RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=\d+", re.M)


def lab_models_dir() -> Path:
    """The control node's directory of lab models (mounted read-only into the hosts)."""
    sys.path.insert(0, str(ROOT / "lab"))
    from labkit.config import SHARED_MOUNTS

    return next(m.source for m in SHARED_MOUNTS if m.target == "/srv/lab-models")


pytestmark = [pytest.mark.lab, pytest.mark.slow]


def playbook(name: str, *extra: str, check: bool = True) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    proc = lab_playbook(*extra, name, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc, {m["host"]: int(m["changed"]) for m in RECAP.finditer(proc.stdout)}


@pytest.fixture(autouse=True)
def _lab() -> None:
    require_lab()


def test_status_prints_a_row_per_service_and_changes_nothing() -> None:
    proc, changed = playbook("playbooks/status.yml")
    assert set(changed.values()) == {0}, changed
    rows = [line for line in proc.stdout.splitlines() if re.match(r'^\s+"lab-\w+\s', line)]
    expected = {(h, u["unit"]) for h, units in units_by_host().items() for u in units}
    found = {tuple(line.strip().strip('",').split()[:2]) for line in rows}
    assert found == expected, proc.stdout[-4000:]
    for line in rows:
        assert "active/running" in line and " 200 " in line, line


def prometheus_requests(end_user: str) -> float:
    """Requests of `end_user` in Prometheus (its host's loopback), summed over aliases."""
    query = urllib.parse.quote(f'sum(litellm_proxy_total_requests_metric_total{{end_user="{end_user}"}})')
    out = lab_host(group_hosts("monitoring")[0]).check_output(
        f"curl -s -m 10 'http://127.0.0.1:9090/api/v1/query?query={query}'"
    )
    result = json.loads(out)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def test_usage_prints_requests_per_client_by_name() -> None:
    """Requests of two clients, scraped by Prometheus, then the usage table: each client by name with its count."""
    base = gateway_base()
    context = ssl.create_default_context(cafile=lab_ca())
    sent = {"tests": 0, "rate-b": 0}
    before = {name: prometheus_requests(name) for name in sent}
    for name, count in (("tests", 3), ("rate-b", 2)):
        for _ in range(count):
            body = json.dumps({"model": "embedding", "input": "usage"}).encode()
            request = urllib.request.Request(
                f"{base}/v1/embeddings",
                data=body,
                headers={"Authorization": f"Bearer {client_key(name)}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60, context=context) as response:
                assert response.status == 200
            sent[name] += 1
            time.sleep(1.1)  # rate-b: one request a second
    deadline = time.monotonic() + 90
    while any(prometheus_requests(n) < before[n] + c for n, c in sent.items()) and time.monotonic() < deadline:
        time.sleep(3)
    proc, changed = playbook("playbooks/usage.yml", "-e", "usage_range=2h")
    assert set(changed.values()) == {0}, changed
    table = [line.strip().strip('",') for line in proc.stdout.splitlines() if re.match(r'^\s+"(tests|rate-b)\s', line)]
    print("\n".join(table))
    rows = {tuple(line.split()[:2]): int(line.split()[2]) for line in table}
    assert rows.get(("tests", "embedding"), 0) >= sent["tests"], table
    assert rows.get(("rate-b", "embedding"), 0) >= sent["rate-b"], table


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, str, dict]:
    """A hub-cache mirror holding every hub model of the embedding host's services at its pinned revision, each made
    from its lab model; the vllm-embedding service is the one the test checks."""
    host = (group_hosts("embedding") or ["(none)"])[0]
    services = [u for u in host_units(host) if u["unit"] == "vllm-embedding"]
    if not services or not (lab_models_dir() / services[0]["models"][0]["lab_model"]).is_dir():
        pytest.skip("no lab embedding model to mirror")
    svc = services[0]
    for unit in host_units(host):
        for model in unit["models"]:
            if model["model"].startswith("/") or not model["revision"]:
                continue
            snapshot = tmp_path / f"models--{model['model'].replace('/', '--')}" / "snapshots" / model["revision"]
            if not snapshot.exists():
                shutil.copytree(lab_models_dir() / model["lab_model"], snapshot, symlinks=False)
    return tmp_path, host, svc


def test_models_places_pinned_revisions_from_a_mirror(mirror: tuple[Path, str, dict]) -> None:
    path, host_name, svc = mirror
    scratch = f"/var/tmp/litellm-local-models-test-{uuid.uuid4().hex[:8]}"
    extra = ["--limit", host_name, "-e", f"litellm_local_models_mirror={path}"]
    extra += ["-e", f"litellm_local_models_root={scratch}"]
    host = lab_host(host_name)
    vllm = next(u for u in units_by_host()[host_name] if u["kind"] == "vllm")
    try:
        _, first = playbook("playbooks/models.yml", *extra)
        assert first[host_name] > 0
        placed = f"{scratch}/vllm/hub/models--{svc['model'].replace('/', '--')}/snapshots/{svc['revision']}"
        config = host.file(f"{placed}/config.json")
        assert config.exists and config.user == "vllm" and config.mode == 0o640
        # The hub library finds the revision offline, as the service will.
        resolved = host.check_output(
            f"HF_HOME={scratch}/vllm HF_HUB_OFFLINE=1 runuser -u vllm -- {vllm['venv']}/bin/python -c "
            f"\"from huggingface_hub import snapshot_download; print(snapshot_download('{svc['model']}', "
            f"revision='{svc['revision']}'))\""
        )
        assert resolved.strip() == placed
        _, second = playbook("playbooks/models.yml", *extra)
        assert second[host_name] == 0, "a second run must change nothing"
        # The preflight refuses when the disk cannot hold the models with the headroom asked for.
        proc, _ = playbook(
            "playbooks/models.yml",
            *extra,
            "-e",
            f"litellm_local_models_root={scratch}-full",
            "-e",
            "litellm_local_models_headroom_gb=1000000",
            check=False,
        )
        assert proc.returncode != 0 and "GB free" in proc.stdout, proc.stdout[-3000:]
    finally:
        host.run(f"rm -rf {scratch} {scratch}-full")
