"""testinfra checks of the lab hosts, read like a runbook: units, users, ports, hardening, logs."""

from __future__ import annotations

import pytest

from tests.conftest import group_hosts, host_units, hostvars, lab_host, lab_inventory, require_lab

pytestmark = pytest.mark.lab


def vllm_units() -> list[tuple[str, dict]]:
    """(host, service) for every vLLM service in the lab inventory."""
    if not lab_inventory():
        return [("(no lab)", {"name": "none", "port": 0})]
    return [
        (h, s)
        for h in sorted(set(group_hosts("blackwell") + group_hosts("embedding")))
        for s in host_units(h)
        if s["kind"] == "vllm"
    ]


def explain(host, unit: str) -> str:
    return host.run(f"systemctl status --no-pager {unit}; journalctl -u {unit} -n 40 --no-pager").stdout


@pytest.fixture(autouse=True)
def _lab() -> None:
    require_lab()


@pytest.mark.parametrize(("host_name", "svc"), vllm_units(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_vllm_unit_is_running_enabled_and_listening(host_name: str, svc: dict) -> None:
    host = lab_host(host_name)
    unit = host.service(f"vllm-{svc['name']}")
    assert unit.is_running, explain(host, f"vllm-{svc['name']}")
    assert unit.is_enabled
    address = hostvars(host_name)["ansible_host"]
    assert host.socket(f"tcp://{address}:{svc['port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{svc['port']}").is_listening, "backends must not listen on every interface"


@pytest.mark.parametrize(("host_name", "svc"), vllm_units(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_vllm_unit_is_hardened(host_name: str, svc: dict) -> None:
    host = lab_host(host_name)
    props = host.service(f"vllm-{svc['name']}").systemd_properties
    assert props["User"] == "vllm"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert props["Restart"] == "on-failure"
    assert props["TimeoutStartUSec"] == "30min", "model loading needs a long start timeout"
    assert props["PrivateDevices"] == "yes"  # the lab has no GPU; production uses DeviceAllow= instead
    caps = host.check_output(f"systemctl show -p CapabilityBoundingSet --value vllm-{svc['name']}")
    assert caps.strip() == "", f"the unit keeps capabilities: {caps}"


@pytest.mark.parametrize("host_name", group_hosts("blackwell") or ["(no lab)"])
def test_vllm_user_has_no_login_shell(host_name: str) -> None:
    user = lab_host(host_name).user("vllm")
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"


@pytest.mark.parametrize(("host_name", "svc"), vllm_units(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_vllm_logs_reach_the_journal(host_name: str, svc: dict) -> None:
    host = lab_host(host_name)
    unit = f"vllm-{svc['name']}"
    invocation = host.check_output(f"systemctl show -p InvocationID --value {unit}")
    out = host.check_output(f"journalctl _SYSTEMD_INVOCATION_ID={invocation} --no-pager -o cat")
    assert "Application startup complete" in out, out[-2000:]  # this run of the unit logged its start-up
    assert host.run(f"journalctl -t vllm-{svc['name']} -b -n 1 --no-pager").stdout.strip()


@pytest.mark.parametrize("host_name", group_hosts("gateway") or ["(no lab)"])
def test_gateway_unit(host_name: str) -> None:
    host = lab_host(host_name)
    unit = host.service("litellm")
    assert unit.is_running, explain(host, "litellm")
    assert unit.is_enabled
    assert host.socket("tcp://0.0.0.0:8200").is_listening
    props = unit.systemd_properties
    assert props["User"] == "litellm"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["PrivateDevices"] == "yes"
    assert host.user("litellm").shell == "/usr/sbin/nologin"


@pytest.mark.parametrize("host_name", group_hosts("gateway") or ["(no lab)"])
def test_gateway_secret_is_not_world_readable(host_name: str) -> None:
    env = lab_host(host_name).file("/etc/litellm-local/litellm.env")
    assert env.user == "root"
    assert env.group == "litellm"
    assert env.mode == 0o640


@pytest.mark.parametrize("host_name", group_hosts("gateway") or ["(no lab)"])
def test_gateway_config_lists_every_replica(host_name: str) -> None:
    """Every host that serves an alias is one deployment of it in the generated config."""
    import yaml

    config = yaml.safe_load(lab_host(host_name).file("/etc/litellm-local/litellm.yaml").content_string)
    deployments = {(m["model_name"], m["litellm_params"]["api_base"]) for m in config["model_list"]}
    hosts = sorted({h for g in ("blackwell", "embedding", "gateway") for h in group_hosts(g)})
    expected = {(u["alias"], f"{u['url']}/v1") for h in hosts for u in host_units(h) if u["alias"]}
    assert deployments == expected
    assert {alias for alias, _ in expected} >= {"completions", "ocr", "asr", "embedding", "rerank"}
