"""Fixtures of the client SDK and CLI tests: a fake gateway behind httpx2.MockTransport, no real sleeping."""

from __future__ import annotations

import time

import pytest
from litellm_local_client import Client

from tests.client.fakes import BASE_URL, KEY, FakeGateway


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the openai client waited between retries (recorded instead of slept)."""
    waited: list[float] = []
    monkeypatch.setattr(time, "sleep", waited.append)
    return waited


@pytest.fixture
def client(gateway: FakeGateway, sleeps: list[float]) -> Client:
    return Client(BASE_URL, KEY, http_client=gateway.http_client())


@pytest.fixture(autouse=True)
def _no_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the address and key themselves; the developer's lab environment must not leak in."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
