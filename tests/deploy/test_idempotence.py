"""A second converge of the lab changes nothing, and check mode runs clean on the deployed lab."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import LAB_INVENTORY, ROOT, require_lab

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)",
    re.MULTILINE,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def converge(*extra: str) -> tuple[str, dict[str, dict[str, int]]]:
    cmd = ["ansible-playbook", "-i", str(LAB_INVENTORY), "-e", f"@{ROOT / '.lab' / 'secrets.yml'}", "site.yml", *extra]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1800)
    recap = {
        m["host"]: {k: int(m[k]) for k in ("changed", "unreachable", "failed")} for m in RECAP.finditer(proc.stdout)
    }
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap, "no PLAY RECAP in the output:\n" + proc.stdout[-3000:]
    return proc.stdout, recap


def changed_tasks(output: str) -> list[str]:
    tasks, current = [], ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            current = line
        elif line.startswith("changed:"):
            tasks.append(f"{current} {line}")
    return tasks


def test_second_converge_changes_nothing() -> None:
    require_lab()
    output, recap = converge()
    assert all(v["changed"] == 0 for v in recap.values()), "changed on re-run:\n" + "\n".join(changed_tasks(output))


def test_check_mode_on_the_deployed_lab_reports_no_change() -> None:
    require_lab()
    output, recap = converge("--check")
    assert all(v["changed"] == 0 for v in recap.values()), "check mode predicts changes:\n" + "\n".join(
        changed_tasks(output)
    )


# Two runs carry the five phases: each run holds at most one phase of a role, so every role's phase still runs
# without its role's other phases (what the preflight-under-every-tag rule is about), at two converges' cost, not five.
PHASE_RUNS = [
    {
        "asr_configure": "asr : Create the ASR state directory",
        "embed_pascal_service": "python_service : Check the models served by embed-pascal",
        "litellm_install": "python_service : Install uv into its own venv",
    },
    {
        "asr_service": "python_service : Wait for the health check of asr",
        "vllm_blackwell_configure,vllm_blackwell_service": "python_service : Enable the units at boot",
        "open_webui_configure": "open_webui : Give the web UI the CA of the gateway's edge",
    },
]


@pytest.mark.parametrize("phases", PHASE_RUNS, ids=lambda phases: "+".join(phases))
def test_one_phase_runs_alone(phases: dict[str, str]) -> None:
    """A phase's tag runs that phase (its preflight runs under every phase tag, with the facts it reads) and
    changes nothing on the deployed lab."""
    require_lab()
    roles = [tags.split(",")[0].rsplit("_", 1)[0] for tags in phases]
    assert len(roles) == len(set(roles)), "one phase of a role per run, or a phase could lean on another's facts"
    tags = ",".join(phases)
    output, recap = converge("--tags", tags)
    for phase, task in phases.items():
        assert f"TASK [{task}]" in output, f"--tags {tags} did not run {task!r} ({phase}):\n" + output[-3000:]
    assert all(v["changed"] == 0 for v in recap.values()), f"--tags {tags} changed:\n" + "\n".join(
        changed_tasks(output)
    )
