"""FastAPI's side of OpenAI's error shape: every failure answers the body of litellm_local_common.errors (type and
code from the status, Retry-After on an overload), never a bare 500."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from litellm_local_common.errors import error_body, retry_after
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    status = 400

    def __init__(self, message: str, *, param: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if status is not None:
            self.status = status


class InputError(APIError):
    """The request is well-formed JSON but asks for something this server refuses (a limit, a bad image)."""


class ModelNotFound(APIError):
    status = 404


class Overloaded(APIError):
    """The batching queue is full: the client should retry later (503 with Retry-After)."""

    status = 503

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def error_response(status: int, message: str, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, status, param=param), status_code=status, headers=headers)


def _loc(loc: tuple) -> str:
    """`input[0].image` from pydantic's location, without the union-branch tags it adds."""
    out = ""
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier() and part not in _BRANCH_TAGS:
            out += f".{part}" if out else part
    return out


def _inside_object(loc: tuple) -> bool:
    for i, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("function-after[") and "MultimodalItem" in part:
            return i + 1 < len(loc)
    return False


_BRANCH_TAGS = {"str", "int", "MultimodalItem", "ImageURL"}
_INPUT_SHAPES = (
    "`input` must be a string, a list of strings, a list of token ids, a list of lists of token ids, or a list of "
    "strings and {text, image, instruction} objects"
)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = list(exc.errors())
    if not errors:
        return "invalid request", None
    first = errors[0]
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}", None
    # Our own checks (value errors) say what is wrong most precisely; then a wrong shape of `input` as a whole.
    own = [e for e in errors if e.get("type") == "value_error"]
    if own:
        err = own[0]
        where = _loc(tuple(err.get("loc", ())))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return (f"{where}: {msg}" if where else msg), where or None
    # An object in `input` that is wrong inside (an unknown key, a number for text): say what, not every branch.
    inside = [e for e in errors if _inside_object(tuple(e.get("loc", ())))]
    if inside:
        return "; ".join(f"{_loc(tuple(e['loc']))}: {e.get('msg')}" for e in inside[:3]), _loc(tuple(inside[0]["loc"]))
    if all(tuple(e.get("loc", ()))[:2] == ("body", "input") for e in errors):
        return _INPUT_SHAPES, "input"
    msgs = []
    for err in errors[:3]:
        where = _loc(tuple(err.get("loc", ())))
        msgs.append(f"{where or 'body'}: {err.get('msg')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "invalid request: " + "; ".join(msgs) + more, _loc(tuple(first.get("loc", ()))) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        headers = retry_after(exc.status, exc.retry_after_s) if isinstance(exc, Overloaded) else None
        return error_response(exc.status, exc.message, exc.param, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server's journal")
