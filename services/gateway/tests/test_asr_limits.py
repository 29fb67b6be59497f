"""The transcription route's upload limit (asr.py): a file over the ASR servers' limit is a 413 before it is sent
on, so a backend never closes a connection under LiteLLM (which would come back as a 500)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from litellm_local_gateway import asr


def test_the_limit_comes_from_the_environment() -> None:
    assert asr.max_upload_bytes({}) == 25_000_000
    assert asr.max_upload_bytes({"LITELLM_LOCAL_MAX_UPLOAD_BYTES": "1000"}) == 1000
    with pytest.raises(ValueError, match="LITELLM_LOCAL_MAX_UPLOAD_BYTES"):
        asr.max_upload_bytes({"LITELLM_LOCAL_MAX_UPLOAD_BYTES": "lots"})


def test_a_file_over_the_limit_is_413_naming_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MAX_UPLOAD_BYTES", "1000")
    assert asr._too_large(SimpleNamespace(size=1000)) is None
    assert asr._too_large(None) is None
    refusal = asr._too_large(SimpleNamespace(size=1001))
    assert refusal is not None
    assert (refusal.status, refusal.param, refusal.code) == (413, "file", "file_too_large")
    assert "limit of 0.001 MB" in refusal.message
