"""The operations playbooks against the lab: status prints a row per service and changes nothing; models places
pinned revisions from a local mirror (idempotent) and refuses to fill the disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import LAB_INVENTORY, ROOT, group_hosts, host_units, lab_host, require_lab
from tests.infra.test_operations import units_by_host

RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=\d+", re.M)


def lab_models_dir() -> Path:
    """The control node's directory of lab models (mounted read-only into the hosts)."""
    sys.path.insert(0, str(ROOT / "lab"))
    from labkit.config import SHARED_MOUNTS

    return next(m.source for m in SHARED_MOUNTS if m.target == "/srv/lab-models")


pytestmark = [pytest.mark.lab, pytest.mark.slow]


def playbook(name: str, *extra: str, check: bool = True) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    cmd = ["ansible-playbook", "-i", str(LAB_INVENTORY), "-e", f"@{ROOT / '.lab' / 'secrets.yml'}", name, *extra]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
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
