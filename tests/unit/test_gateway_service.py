"""The gateway plug-ins' own tests that need LiteLLM (services/gateway/tests), run in .venv-gateway: the gateway's
pinned dependencies (roles/litellm/files/requirements.lock), which the control node's venv does not hold.
scripts/deploy builds that venv (build_gateway_test_venv in scripts/common.sh)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT

GATEWAY_PYTHON = ROOT / ".venv-gateway" / "bin" / "python"


def test_gateway_plugin_suite() -> None:
    if not GATEWAY_PYTHON.exists():
        if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
            pytest.fail(".venv-gateway is missing: scripts/deploy builds it")
        pytest.skip(".venv-gateway is missing (scripts/deploy builds it)")
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(ROOT / "services/gateway/src"),
    }
    proc = subprocess.run(
        [str(GATEWAY_PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "services/gateway/tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(proc.stdout[-2000:])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
