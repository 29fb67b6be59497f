"""Key check of the gateway: the master key or nothing, with 401 for a missing or wrong key.

LiteLLM without a database answers a wrong key with 400 "No connected db." (it would look the key up in the
database). This stack has no key database: the gateway's only key is its master key, so a request passes with it
and gets 401 without it, before any backend is reached. Loaded by `general_settings.custom_auth`.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, ProxyErrorTypes, ProxyException, UserAPIKeyAuth

HINT = "send the gateway's key as 'Authorization: Bearer <key>' (OPENAI_API_KEY for OpenAI clients)"


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
    return UserAPIKeyAuth(api_key=master_key, user_role=LitellmUserRoles.PROXY_ADMIN)
