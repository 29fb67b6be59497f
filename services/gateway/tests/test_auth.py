"""The gateway's key check (auth.py): the master key or 401, and the end user the edge names."""

from __future__ import annotations

import asyncio

import pytest
from litellm.proxy import proxy_server
from litellm.proxy._types import ProxyException
from litellm_local_gateway import auth
from starlette.requests import Request

MASTER = "sk-test-" + "m" * 32


def request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": raw})


@pytest.fixture(autouse=True)
def _master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy_server, "master_key", MASTER)
    monkeypatch.setenv(auth.END_USER_HEADER, "X-Litellm-Local-End-User")
    auth.end_user_header.cache_clear()


def check(headers: dict[str, str], key: str):
    return asyncio.run(auth.user_api_key_auth(request(headers), key))


def test_the_master_key_passes_with_the_edges_end_user() -> None:
    result = check({"x-litellm-local-end-user": "open-webui/alice@example.org"}, f"Bearer {MASTER}")
    assert result.end_user_id == "open-webui/alice@example.org"


def test_no_header_no_end_user() -> None:
    assert check({}, f"Bearer {MASTER}").end_user_id is None


def test_other_end_user_headers_are_not_read() -> None:
    assert check({"x-litellm-end-user-id": "mallory"}, f"Bearer {MASTER}").end_user_id is None


@pytest.mark.parametrize("key", ["", "Bearer ", "Bearer sk-wrong", MASTER[:-1]])
def test_anything_else_is_a_401(key: str) -> None:
    with pytest.raises(ProxyException) as exc:
        check({"x-litellm-local-end-user": "alice"}, key)
    assert str(exc.value.code) == "401"
