"""OpenAI's error shape (litellm_local_common.errors), as the gateway's own refusals and its rewrite of FastAPI's 422
answers give it: the body as the bytes of an ASGI answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from litellm_local_common.errors import error_body


@dataclass(frozen=True)
class Refusal:
    """A request the gateway answers itself: status, message, the offending field (`param`) and OpenAI's `code`
    where it has one (`model_not_found`; else the status)."""

    message: str
    param: str | None = None
    status: int = 400
    code: str | None = None


def error_json(message: str, status: int = 400, param: str | None = None, code: str | None = None) -> bytes:
    return json.dumps(error_body(message, status, param=param, code=code)).encode()


def refusal_body(refusal: Refusal) -> bytes:
    return error_json(refusal.message, refusal.status, refusal.param, refusal.code)


def openai_error_from_validation(detail: Any) -> tuple[str, str | None]:
    """A readable message and the offending field from FastAPI's 422 `detail` list."""
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        loc = [str(p) for p in first.get("loc", []) if p not in ("body", "query", "form")]
        field = ".".join(loc) or None
        message = str(first.get("msg", "invalid request"))
        if first.get("type") == "missing" and field:
            return f"missing required field `{field}`", field
        return f"invalid field `{field}`: {message}" if field else message, field
    return str(detail), None
