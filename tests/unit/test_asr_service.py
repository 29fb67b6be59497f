"""The ASR server's own tests (services/asr/tests), run in .venv-labasr: qwen-asr pins transformers 4.57, so the
server cannot share the control node's venv. scripts/deploy builds that venv (build_lab_asr_models in
scripts/common.sh) together with the tiny lab models the real-engine tests load."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT

ASR_PYTHON = ROOT / ".venv-labasr" / "bin" / "python"


def test_asr_server_suite() -> None:
    if not ASR_PYTHON.exists():
        if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
            pytest.fail(".venv-labasr is missing: scripts/deploy builds it")
        pytest.skip(".venv-labasr is missing (scripts/deploy builds it)")
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT / "services/asr/src"),
    }
    proc = subprocess.run(
        [str(ASR_PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "services/asr/tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
