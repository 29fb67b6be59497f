"""Our services' own test suites that need dependencies the control node's venv does not hold, each run in the venv
that scripts/deploy builds for it (scripts/common.sh), against the working tree's source (PYTHONPATH):

* services/asr/tests in .venv-labasr: qwen-asr pins transformers 4.57 (build_lab_asr_models, with the tiny lab
  models the real-engine tests load);
* services/gateway/tests in .venv-gateway: the gateway's pinned dependencies, LiteLLM among them, from
  roles/litellm/files/requirements.lock (build_gateway_test_venv);
* services/common/tests in the control node's .venv: litellm-local-common needs the standard library only."""

from __future__ import annotations

import os

import pytest

from tests.conftest import ROOT, run_service_tests

SUITES = {
    "asr": (".venv-labasr", "services/asr", {"HF_HUB_OFFLINE": "1"}),
    "common": (".venv", "services/common", {}),
    "gateway": (".venv-gateway", "services/gateway", {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}),
}


@pytest.mark.parametrize("name", sorted(SUITES))
def test_service_suite(name: str) -> None:
    venv, service, extra_env = SUITES[name]
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
            pytest.fail(f"{venv} is missing: scripts/test builds it")
        pytest.skip(f"{venv} is missing (scripts/test builds it)")
    proc = run_service_tests(venv, service, [f"{service}/tests"], extra_env)
    print(proc.stdout[-2000:])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
