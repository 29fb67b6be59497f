"""Operations in the lab: litellm-local.target, journald identifiers, the gateway's /metrics, Prometheus' targets."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import (
    LAB_INVENTORY,
    ROOT,
    client_key,
    gateway_base,
    gateway_env,
    group_hosts,
    hostvars,
    lab_ca_on,
    lab_host,
    lab_inventory,
    master_key,
    require_lab,
)

pytestmark = pytest.mark.lab


@functools.cache
def units_by_host() -> dict[str, list[dict]]:
    """litellm_local_units of every lab host, templated by Ansible (inventory/group_vars/all/main.yml)."""
    if not lab_inventory():
        return {}
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
    }
    proc = subprocess.run(
        ["ansible", "-i", str(LAB_INVENTORY), "all", "-m", "ansible.builtin.debug", "-a", "var=litellm_local_units"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    # The JSON document starts at the first line that is "{" (the task timer of ansible.cfg prints around it).
    start = proc.stdout.index("\n{\n") + 1 if not proc.stdout.startswith("{") else 0
    document, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    hosts = document["plays"][0]["tasks"][0]["hosts"]
    return {name: result["litellm_local_units"] for name, result in sorted(hosts.items())}


def host_names() -> list[str]:
    return sorted(units_by_host()) or ["(no lab)"]


def http_status(url: str, token: str | None = None) -> int:
    """Status of a GET from the control node; https is verified with the lab CA (SSL_CERT_FILE)."""
    gateway_env()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


@pytest.fixture(autouse=True)
def _lab() -> None:
    require_lab()


@pytest.mark.parametrize("host_name", host_names())
def test_target_groups_the_units_of_the_host(host_name: str) -> None:
    host = lab_host(host_name)
    target = host.service("litellm-local.target")
    assert target.is_enabled and target.is_running
    members = host.check_output("systemctl list-dependencies --plain --no-pager litellm-local.target")
    for unit in units_by_host()[host_name]:
        name = f"{unit['unit']}.service"
        assert name in members, f"{name} is not wanted by litellm-local.target:\n{members}"
        props = host.service(unit["unit"]).systemd_properties
        assert "litellm-local.target" in props["PartOf"], props["PartOf"]
        assert props["SyslogIdentifier"] == unit["unit"], "journalctl -t <unit> must find the service's lines"


def gpu_host_names() -> list[str]:
    """The first blackwell host: its target holds every kind of unit and the longest start order (chat, OCR, the ASR
    engine's units, then the ASR server). The other host's units come back in order in the reboot drill
    (tests/drills), which would only be repeated here."""
    return [h for h in host_names() if h in group_hosts("blackwell")][:1] or ["(no lab)"]


@pytest.mark.slow
@pytest.mark.parametrize("host_name", gpu_host_names())
def test_restarting_the_target_restarts_every_unit_healthy_and_in_order(host_name: str) -> None:
    """One `systemctl restart litellm-local.target` restarts every unit; a unit ordered After= another starts only
    once that one is ready (active: its ExecStartPost health gate passed), so on one GPU the models load one at a
    time (vllm-ocr after vllm-completions, the ASR engine's units after it, the ASR server after every vllm-*)."""
    host = lab_host(host_name)
    units = units_by_host()[host_name]

    def started() -> dict[str, str]:
        return {
            u["unit"]: host.check_output(f"systemctl show -p ExecMainStartTimestampMonotonic --value {u['unit']}")
            for u in units
        }

    before = started()
    result = host.run("timeout 900 systemctl restart litellm-local.target")
    assert result.rc == 0, result.stderr + host.run("systemctl list-dependencies litellm-local.target").stdout
    after = started()
    for unit in units:
        name = unit["unit"]
        assert after[name] != before[name], f"{name} was not restarted"
        assert host.service(name).is_running, host.run(f"journalctl -u {name} -n 40 --no-pager").stdout
        assert unit_health(host_name, unit) == 200, f"{name} is not healthy"

    def stamp(unit: str, prop: str) -> int:
        return int(host.check_output(f"systemctl show -p {prop} --value {unit}"))

    names = {u["unit"] for u in units}
    checked = 0
    for name in names:
        for other in host.check_output(f"systemctl show -p After --value {name}").split():
            other = other.removesuffix(".service")
            if other in names:
                ready, started = (
                    stamp(other, "ActiveEnterTimestampMonotonic"),
                    stamp(name, "InactiveExitTimestampMonotonic"),
                )
                assert 0 < ready <= started, f"{name} started at {started}, before {other} was ready at {ready}"
                checked += 1
    assert checked, "no unit of the target is ordered after another"
    assert "wait-healthy: http" in host.check_output(
        f"journalctl -o cat -u {sorted(names)[0]} --since '-15min' --no-pager"
    )


def unit_health(host_name: str, unit: dict) -> int:
    """A unit's health status: from the control node, or on its host for a unit that listens on loopback."""
    address = unit.get("address") or hostvars(host_name)["ansible_host"]
    url = f"{unit.get('scheme', 'http')}://{address}:{unit['port']}{unit['health']}"
    if address.startswith("127."):
        code = lab_host(host_name).run(f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 {url}").stdout.strip()
        return int(code or -1)
    if url.startswith("https"):
        ca = lab_ca_on(host_name)
        code = lab_host(host_name).run(f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 --cacert {ca} {url}").stdout
        return int(code.strip() or -1)
    return http_status(url)


@pytest.mark.parametrize("host_name", group_hosts("gateway") or ["(no lab)"])
def test_gateway_metrics_need_a_metrics_clients_key(host_name: str) -> None:
    url = f"{gateway_base()}/metrics"
    assert http_status(url) == 401
    assert http_status(url, "sk-wrong-key-0000000000000000") == 401
    assert http_status(url, master_key()) == 401, "the master key is refused at the edge"
    assert http_status(url, client_key("tests")) == 403, "a client without metrics: true reads /metrics"
    assert http_status(url, client_key("prometheus")) == 200


@pytest.mark.parametrize("host_name", group_hosts("monitoring") or ["(no lab)"])
def test_prometheus_scrapes_every_service_and_all_are_up(host_name: str) -> None:
    host = lab_host(host_name)

    def api(path: str) -> dict:
        # Prometheus listens on its host's loopback only: asked there.
        return json.loads(host.check_output(f"curl -s -m 10 http://127.0.0.1:9090{path}"))

    # The edge (nginx) and the web UI have no /metrics: the gateway job scrapes LiteLLM through the edge.
    expected = {(h, u["unit"]) for h, units in units_by_host().items() for u in units if u["metrics"]}
    deadline, seen = time.monotonic() + 180, {}
    while time.monotonic() < deadline:
        targets = api("/api/v1/targets?state=active")["data"]["activeTargets"]
        seen = {(t["labels"].get("host"), t["labels"].get("unit")): t for t in targets if "unit" in t["labels"]}
        if set(seen) >= expected and all(seen[key]["health"] == "up" for key in expected):
            break
        time.sleep(5)
    assert set(seen) >= expected, f"not scraped: {sorted(expected - set(seen))}"
    down = {f"{h}/{u}": seen[(h, u)]["lastError"] for h, u in expected if seen[(h, u)]["health"] != "up"}
    assert not down, f"targets down: {down}"
    alerts = {r["name"] for g in api("/api/v1/rules?type=alert")["data"]["groups"] for r in g["rules"]}
    assert {"ServiceDown", "HighErrorRate", "QueueSaturated", "GpuMemoryNearBudget", "ClientAtRateLimit"} <= alerts
