"""A Gunicorn app factory on the fake engine, for the tests that run the real server: `gunicorn 'fake_app:create()'`
with services/asr/src and this folder on PYTHONPATH; settings come from the ASR_* environment as in production."""

from __future__ import annotations

from conftest import FakeEngine
from litellm_local_asr.app import create_app
from litellm_local_asr.settings import Settings


def create():
    return create_app(Settings(model="fake", aligner=None), engine=FakeEngine())
