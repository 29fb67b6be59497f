"""Key check of the gateway: the master key or nothing, with 401 for a missing or wrong key.

LiteLLM without a database answers a wrong key with 400 "No connected db." (it would look the key up in the
database). This stack has no key database: the gateway's only key is its master key, so a request passes with it
and gets 401 without it, before any backend is reached. Loaded by `general_settings.custom_auth`.

People and programs never hold the master key: the edge (roles/edge) checks their own keys, sends the request on
with the master key and names the client in the header LITELLM_LOCAL_END_USER_HEADER names. That name becomes the
request's end user, which LiteLLM's Prometheus metrics count requests, tokens and failures under.
"""

from __future__ import annotations

import functools
import hmac
import os

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, ProxyErrorTypes, ProxyException, UserAPIKeyAuth

HINT = "send the gateway's key as 'Authorization: Bearer <key>' (OPENAI_API_KEY for OpenAI clients)"
END_USER_HEADER = "LITELLM_LOCAL_END_USER_HEADER"
MAX_END_USER = 200


@functools.cache
def end_user_header() -> str:
    """The header naming the end user (set by the edge), read once; empty: no end user."""
    return os.environ.get(END_USER_HEADER, "").strip().lower()


def end_user(request: Request) -> str | None:
    """The request's end user: the edge's header, if set and not empty."""
    header = end_user_header()
    value = (request.headers.get(header) or "").strip() if header else ""
    return value[:MAX_END_USER] or None


def _presented(api_key: str | None) -> str:
    key = (api_key or "").strip()
    return key[len("Bearer ") :].strip() if key.lower().startswith("bearer ") else key


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    from litellm.proxy.proxy_server import master_key

    presented = _presented(api_key)
    if not master_key:
        raise ProxyException(
            message="the gateway has no master key configured",
            type=ProxyErrorTypes.auth_error,
            param="api_key",
            code=500,
        )
    if not presented:
        raise ProxyException(
            message=f"missing API key: {HINT}", type=ProxyErrorTypes.auth_error, param="api_key", code=401
        )
    if not hmac.compare_digest(presented.encode(), str(master_key).encode()):
        raise ProxyException(
            message=f"invalid API key: {HINT}", type=ProxyErrorTypes.auth_error, param="api_key", code=401
        )
    return UserAPIKeyAuth(api_key=master_key, user_role=LitellmUserRoles.PROXY_ADMIN, end_user_id=end_user(request))
