"""Every error the gateway returns has OpenAI's shape and a 4xx status when the client is at fault.

Two of LiteLLM 1.108.7's answers to bad requests break that, both before any of its hooks runs:

  * a JSON body that is valid JSON but not an object (`[1, 2]`, `"text"`) crashes its auth step with
    `AttributeError: 'list' object has no attribute 'get'` and comes back as 500 "Internal server error";
  * a request that misses a form or query field (a transcription without `file`) gets FastAPI's validation answer,
    422 with `{"detail": [...]}`, which OpenAI clients cannot read.

LiteLLM takes no user middleware, so this callback (loaded through `litellm_settings.callbacks`) wraps the
application's ASGI stack once: a JSON body that is not an object gets 400 with a message, and a 422 `{"detail"}`
answer is rewritten as 400 `{"error": {...}}` naming the field. Everything else passes through untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_body(message: str, param: str | None = None, code: int = 400) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": str(code)}}
    ).encode()


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


class RequestGuard:
    """ASGI wrapper around LiteLLM's application stack."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope.get("method") == "POST" and content_type == b"application/json":
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
            try:
                parsed = json.loads(body) if body.strip() else {}
            except ValueError:
                parsed = {}  # not JSON: LiteLLM answers 400 with the parser's message itself
            if not isinstance(parsed, dict):
                kind = type(parsed).__name__
                await self._respond(
                    send,
                    400,
                    error_body(
                        f"the request body must be a JSON object, not a JSON {kind}; see the OpenAI API reference",
                        "request_body",
                    ),
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _rewrite_422(send))

    @staticmethod
    async def _respond(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _rewrite_422(send: Send) -> Send:
    held: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and message.get("status") == 422:
            held = message
            return
        if held is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        raw = b"".join(chunks)
        try:
            detail = json.loads(raw).get("detail")
        except (ValueError, AttributeError):
            detail = None
        if detail is None:  # some other 422: pass it on as it was
            await send(held)
            await send({"type": "http.response.body", "body": raw})
            return
        text, field = openai_error_from_validation(detail)
        body = error_body(text, field)
        await RequestGuard._respond(send, 400, body)

    return wrapped


def install(app: Any) -> bool:
    """Wrap `app`'s ASGI stack (now, if it is built, and whenever Starlette rebuilds it); idempotent."""
    if getattr(app, "_litellm_local_guard", False):
        return False
    build = app.build_middleware_stack

    def build_guarded() -> ASGIApp:
        return RequestGuard(build())

    app.build_middleware_stack = build_guarded
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = RequestGuard(app.middleware_stack)
    app._litellm_local_guard = True
    return True


class RequestGuardCallback(CustomLogger):
    """Loaded by LiteLLM from `litellm_settings.callbacks`; installs the guard once, when created."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from litellm.proxy.proxy_server import app
        except ImportError:  # litellm used as a library, without its proxy
            return
        if install(app):
            log.info("litellm_local_gateway.guard: OpenAI-shaped 400s for non-object JSON bodies and 422 answers")


request_guard = RequestGuardCallback()
