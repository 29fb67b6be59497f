"""Safe changes: a new pin builds a new venv beside the running one and switches atomically; a failed install
leaves the running service and its venv untouched; going back to the old pins reuses the kept venv."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import group_hosts, lab_host, lab_playbook, require_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]
VENV = "/opt/litellm-local/venvs/litellm"
TOMLI_W = [
    "tomli-w==1.2.0 \\",
    "    --hash=sha256:188306098d013b691fcadc011abd66727d3c414c571bb01b1a174ba8c983cf90 \\",
    "    --hash=sha256:2dd14fac5a47c27be9cd4c976af5a12d87fb1f0b4512f81d69cce3b35ae25021",
]


def gateway_play(extra: list[str]) -> subprocess.CompletedProcess:
    return lab_playbook("-e", json.dumps({"litellm_extra_requirements": extra}), "playbooks/gateway.yml")


def task_output(stdout: str, task: str) -> str:
    """The lines a task printed in ansible-playbook's default output ('' when it did not run)."""
    lines, inside = [], False
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            inside = task in line
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def state(host) -> dict[str, str]:
    return {
        "link": host.check_output(f"readlink {VENV}"),
        "previous": host.run(f"readlink {VENV}.previous").stdout.strip(),
        "pid": host.check_output("systemctl show -p MainPID --value litellm"),
        "active": host.run("systemctl is-active litellm").stdout.strip(),
    }


def test_pin_changes_are_built_beside_and_switched_atomically() -> None:
    require_lab()
    host = lab_host(group_hosts("gateway")[0])
    before = state(host)
    assert before["active"] == "active"

    failed = gateway_play(["litellm-local-no-such-package==0.0.1"])
    assert failed.returncode != 0
    assert "the running services still use the previous venv" in failed.stdout
    after_failure = state(host)
    assert after_failure == before, "a failed install must leave the link and the running gateway alone"

    # Extra requirements are lock lines too: every venv installs with --require-hashes.
    added = gateway_play(TOMLI_W)
    assert added.returncode == 0, added.stdout[-4000:]
    with_six = state(host)
    assert with_six["link"] != before["link"] and with_six["previous"] == before["link"]
    assert with_six["active"] == "active" and with_six["pid"] != before["pid"], "the gateway restarts on the new venv"
    assert host.run(f"{VENV}/bin/python -c 'import tomli_w'").rc == 0

    unhashed = gateway_play(["tomli-w==1.2.0"])
    assert unhashed.returncode != 0, "a requirement without a hash must be refused"
    assert state(host)["link"] == with_six["link"]

    back = gateway_play([])
    assert back.returncode == 0, back.stdout[-4000:]
    restored = state(host)
    assert restored["link"] == before["link"], "the old pins reuse the kept venv"
    assert restored["previous"] == with_six["link"]
    assert restored["active"] == "active"
    install = task_output(back.stdout, "Install with uv")
    assert "changed:" not in install, "going back to the old pins must not install anything"
