"""Settings shared in name with the other services (services/common): the upload limit in bytes (its former name in
MB still read), the log level and format Gunicorn is configured with, and Retry-After on a 503."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence

import pytest
from conftest import FakeEngine, encode, post, tone
from litellm_local_asr import settings as settings_module
from litellm_local_asr.app import create_app
from litellm_local_asr.engine import Job, Result
from litellm_local_asr.settings import Settings


def test_the_upload_limit_is_in_bytes_and_the_former_mb_name_still_sets_it(monkeypatch) -> None:
    monkeypatch.delenv("ASR_MAX_UPLOAD_BYTES", raising=False)
    monkeypatch.delenv("ASR_MAX_UPLOAD_MB", raising=False)
    assert Settings().max_upload_bytes == 25_000_000
    monkeypatch.setenv("ASR_MAX_UPLOAD_MB", "1.5")
    assert Settings().max_upload_bytes == 1_500_000
    monkeypatch.setenv("ASR_MAX_UPLOAD_BYTES", "2000")  # the new name wins over the former one
    assert Settings().max_upload_bytes == 2000
    assert Settings(max_upload_mb=3).max_upload_bytes == 2000
    monkeypatch.delenv("ASR_MAX_UPLOAD_BYTES")
    with pytest.raises(ValueError, match="max_upload_mb"):
        Settings(max_upload_mb=0)


def test_gunicorn_takes_the_log_level_and_format(monkeypatch) -> None:
    monkeypatch.setenv("ASR_LOG_FORMAT", "json")
    monkeypatch.setenv("ASR_LOG_LEVEL", "warning")
    settings_module.get_settings.cache_clear()
    monkeypatch.delitem(sys.modules, "litellm_local_asr.gunicorn_conf", raising=False)
    try:
        conf = importlib.import_module("litellm_local_asr.gunicorn_conf")
    finally:
        settings_module.get_settings.cache_clear()
        sys.modules.pop("litellm_local_asr.gunicorn_conf", None)
    assert conf.loglevel == "warning"
    assert conf.logconfig_dict["root"]["level"] == "WARNING"
    assert conf.logconfig_dict["formatters"]["console"] == {"()": "litellm_local_common.logs.JsonFormatter"}


class GatedEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def transcribe(self, jobs: Sequence[Job]) -> list[Result]:
        self.gate.wait(10)
        return super().transcribe(jobs)


def test_a_503_tells_the_client_when_to_retry(settings) -> None:
    settings.request_timeout_s = 0.2
    settings.retry_after_s = 3
    engine = GatedEngine()
    app = create_app(settings, engine=engine)
    try:
        with app.test_client() as client:
            r = post(client, encode(tone(1.0), 16000))
        assert r.status_code == 503, r.get_data(as_text=True)
        assert r.headers["Retry-After"] == "3"
        assert r.json["error"]["type"] == "server_error" and r.json["error"]["code"] == "timeout"
        with app.test_client() as client:
            r = post(client, encode(tone(1.0), 16000), response_format="xml")
        assert r.status_code == 400 and "Retry-After" not in r.headers
        assert r.json["error"]["code"] == "400"  # no reason of its own: the status
    finally:
        engine.gate.set()
        app.extensions["asr"]["batcher"].close()
