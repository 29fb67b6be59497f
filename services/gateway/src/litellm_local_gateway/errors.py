"""OpenAI's error shape, as the gateway's own refusals and its rewrite of FastAPI's 422 answers give it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Refusal:
    """A request the gateway answers itself: status, message, the offending field (`param`) and OpenAI's `code`
    where it has one (`model_not_found`; else the status)."""

    message: str
    param: str | None = None
    status: int = 400
    code: str | None = None


def error_body(message: str, param: str | None = None, code: int | str = 400) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": str(code)}}
    ).encode()


def refusal_body(refusal: Refusal) -> bytes:
    return error_body(refusal.message, refusal.param, refusal.code or refusal.status)


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
