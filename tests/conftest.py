"""Shared fixtures: the lab inventory, testinfra hosts by group, the gateway's address and key."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"


@functools.cache
def lab_inventory() -> dict:
    """`ansible-inventory --list` of the lab, or {} when no lab is deployed."""
    if not LAB_INVENTORY.is_file():
        return {}
    out = subprocess.run(
        ["ansible-inventory", "-i", str(LAB_INVENTORY), "--list"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def group_hosts(group: str) -> list[str]:
    return list(lab_inventory().get(group, {}).get("hosts", []))


def hostvars(host: str) -> dict:
    return lab_inventory()["_meta"]["hostvars"][host]


def require_lab() -> None:
    """Skip lab tests when no lab exists, unless the run demands one (scripts/test sets LITELLM_LOCAL_REQUIRE_LAB)."""
    if lab_inventory():
        return
    if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
        pytest.fail("inventory/lab.yml is missing: scripts/deploy did not create the lab")
    pytest.skip("no lab deployed (run scripts/deploy)")


@pytest.fixture(scope="session")
def lab() -> dict:
    require_lab()
    return lab_inventory()


def lab_host(name: str):
    import testinfra

    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(LAB_INVENTORY))


@functools.cache
def templated(host: str, expression: str):
    """The value of a Jinja expression for a lab host, as Ansible templates it (group_vars included)."""
    out = subprocess.run(
        [
            "ansible",
            "-i",
            str(LAB_INVENTORY),
            host,
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={{{{ ({expression}) | to_json }}}}",
            "-o",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "0"},
    ).stdout
    payload = json.loads(out.split("=>", 1)[1])
    return json.loads(payload["msg"]) if isinstance(payload["msg"], str) else payload["msg"]


def host_units(host: str) -> list[dict]:
    """The host's services as the catalogue gives them (litellm_local_units: plugins/filter/catalogue.py)."""
    return templated(host, "litellm_local_units") if lab_inventory() else []


def host_unit(host: str, name: str) -> dict | None:
    """The catalogue entry of the service `name` (e.g. "asr", "embedding", "litellm") on the host, if it runs there."""
    return next((u for u in host_units(host) if u["name"] == name), None)


def hosts_running(name: str) -> list[str]:
    """The lab hosts whose catalogue holds the service `name`."""
    hosts = sorted({h for g in lab_inventory() if g != "_meta" for h in group_hosts(g)})
    return [h for h in hosts if host_unit(h, name)]


@functools.cache
def gateway_env() -> dict[str, str]:
    """OPENAI_BASE_URL, OPENAI_API_KEY and SSL_CERT_FILE (the lab CA that verifies the gateway's TLS edge): from the
    environment, else from the lab (and exported, so the openai client, urllib and curl pick them up)."""
    require_lab()
    if not all(os.environ.get(k) for k in GATEWAY_ENV):
        out = subprocess.run(
            ["bash", "-c", "source scripts/common.sh; lab_gateway_env"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        os.environ.update(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {k: os.environ[k] for k in GATEWAY_ENV}


GATEWAY_ENV = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "SSL_CERT_FILE")
LAB_SECRETS = ROOT / ".lab" / "secrets.yml"


def lab_playbook(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    """ansible-playbook against the lab with its secrets (`args`: extra options, then the playbook)."""
    cmd = ["ansible-playbook", "-i", str(LAB_INVENTORY), "-e", f"@{LAB_SECRETS}", *args]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


def lab_secrets() -> dict:
    """The lab's vault (scripts/common.sh, ensure_lab_secrets): litellm_master_key and litellm_local_clients."""
    import yaml

    require_lab()
    return yaml.safe_load(LAB_SECRETS.read_text())


def client_key(name: str) -> str:
    """The key of the lab client `name` (tests, prometheus, open-webui, rate-a, rate-b)."""
    return next(c["key"] for c in lab_secrets()["litellm_local_clients"] if c["name"] == name)


def master_key() -> str:
    """The gateway's own key: the edge refuses it; only processes on the gateway host use it, on loopback."""
    return lab_secrets()["litellm_master_key"]


def gateway_base() -> str:
    """https://<gateway>:<edge port> of the lab gateway (no /v1)."""
    return gateway_env()["OPENAI_BASE_URL"].removesuffix("/v1")


def lab_ca() -> str:
    """Path of the lab CA (on the control node) that verifies the gateway."""
    return gateway_env()["SSL_CERT_FILE"]


def put_file(host, path: str, data: bytes) -> None:
    """Write `data` to `path` on a testinfra host, readable by root only (base64 in pieces: a command line has a
    length limit). Never pass a secret this way: it would be on a command line; use it for files the tests make."""
    import base64
    import shlex

    encoded = base64.b64encode(data).decode()
    quoted = shlex.quote(path)
    host.check_output(f"umask 077 && mkdir -p $(dirname {quoted}) && : > {quoted}")
    for i in range(0, len(encoded), 60000):
        host.check_output(f"printf %s {shlex.quote(encoded[i : i + 60000])} | base64 -d >> {quoted}")


LAB_CA_ON_HOSTS = "/root/litellm-local-lab-ca.crt"


@functools.cache
def lab_ca_on(name: str) -> str:
    """Copy the lab CA to lab host `name` (for curl --cacert there); returns its path on that host."""
    put_file(lab_host(name), LAB_CA_ON_HOSTS, Path(lab_ca()).read_bytes())
    return LAB_CA_ON_HOSTS


def put_secret(name: str, path: str, data: bytes) -> None:
    """Write a secret to `path` on lab host `name`, mode 0600, through SSH's standard input (never a command line)."""
    hv = hostvars(name)
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    if hv.get("ansible_ssh_private_key_file"):
        ssh += ["-i", hv["ansible_ssh_private_key_file"]]
    target = f"{hv.get('ansible_user', 'root')}@{hv.get('ansible_host', name)}"
    subprocess.run(
        [*ssh, target, f"umask 077 && mkdir -p $(dirname {path}) && cat > {path}"],
        input=data,
        check=True,
        capture_output=True,
        timeout=60,
    )


def run_service_tests(
    venv: str, service: str, paths: list[str], extra_env: dict[str, str]
) -> subprocess.CompletedProcess:
    """pytest of a service's own tests (`paths`, e.g. services/asr/tests) in the venv scripts/deploy built for it,
    against the working tree's source: the service's src and litellm-local-common's (services/common) on PYTHONPATH."""
    path = os.pathsep.join([str(ROOT / service / "src"), str(ROOT / "services" / "common" / "src")])
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": path, **extra_env}
    return subprocess.run(
        [str(ROOT / venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *paths],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
