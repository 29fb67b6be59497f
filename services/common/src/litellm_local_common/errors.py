"""OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, its type for each HTTP status, and which
answers carry `Retry-After`.

Every service builds its error bodies here and keeps only its framework's glue (Flask error handlers, FastAPI
exception handlers, the gateway's ASGI answers). The types are OpenAI's, as the edge (roles/edge, nginx.conf.j2)
writes them too: `invalid_request_error` for a client error, `rate_limit_exceeded` for 429, `server_error` from 500
on. `code` is a machine-readable reason (`model_not_found`, `file_too_large`) or, without one, the status as a
string, which is what LiteLLM relays from a backend (`"400"`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypedDict

INVALID_REQUEST = "invalid_request_error"
RATE_LIMIT = "rate_limit_exceeded"
SERVER_ERROR = "server_error"

# OpenAI's `type` for the statuses whose type is not the rule's (below 500: invalid_request_error; from 500 on:
# server_error).
ERROR_TYPES: Mapping[int, str] = MappingProxyType({429: RATE_LIMIT})

# Answers that ask the client to come back later: they carry Retry-After.
RETRY_STATUSES = frozenset({429, 503})


class ErrorInfo(TypedDict):
    message: str
    type: str
    param: str | None
    code: str


class ErrorBody(TypedDict):
    error: ErrorInfo


def error_type(status: int) -> str:
    """OpenAI's error `type` for an HTTP status."""
    return ERROR_TYPES.get(status) or (SERVER_ERROR if status >= 500 else INVALID_REQUEST)


def error_body(
    message: str, status: int, *, param: str | None = None, code: str | None = None, type_: str | None = None
) -> ErrorBody:
    """The error body of an answer with `status`: `type_` defaults to the status's type, `code` to the status."""
    return {
        "error": {
            "message": message,
            "type": type_ or error_type(status),
            "param": param,
            "code": code or str(status),
        }
    }


def retry_after(status: int, seconds: float) -> dict[str, str]:
    """The `Retry-After` header of an answer with `status`: on 429 and 503 only, in whole seconds, at least 1."""
    if status not in RETRY_STATUSES:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
