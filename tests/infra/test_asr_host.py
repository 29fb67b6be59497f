"""testinfra checks of the ASR server: unit, user, socket, ordering after vLLM, hardening, logs."""

from __future__ import annotations

import pytest

from tests.conftest import host_unit, hosts_running, hostvars, lab_host, lab_inventory, require_lab

pytestmark = pytest.mark.lab


def asr_hosts() -> list[str]:
    if not lab_inventory():
        return ["(no lab)"]
    return hosts_running("asr")


@pytest.mark.parametrize("host_name", asr_hosts())
def test_asr_unit(host_name: str) -> None:
    require_lab()
    host = lab_host(host_name)
    unit = host.service("asr")
    log = host.run("systemctl status --no-pager asr; journalctl -u asr -n 40 --no-pager").stdout
    assert unit.is_running, log
    assert unit.is_enabled
    user = host.user("asr")
    assert user.shell == "/usr/sbin/nologin"
    address = hostvars(host_name)["ansible_host"]
    port = host_unit(host_name, "asr")["port"]
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    props = unit.systemd_properties
    assert props["User"] == "asr" and props["Restart"] == "on-failure"
    assert props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict" and props["PrivateTmp"] == "yes"
    vllm_units = host.check_output("systemctl list-units --all --plain --no-legend 'vllm-*.service' | awk '{print $1}'")
    for name in vllm_units.split():
        assert name in props["After"].split(), f"asr is not ordered after {name}"
    # one worker process holding the model: gunicorn's arbiter and a single worker
    assert int(host.check_output("pgrep -u asr -c -f 'litellm_local_asr.app:create_app'")) == 2
    assert host.run("journalctl -t asr -n 5 --no-pager").stdout.strip()
