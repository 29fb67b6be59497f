"""The gateway's request guard: an ASGI wrapper around LiteLLM's application that checks each request first.

LiteLLM takes no user middleware, so a callback (guard_callback.py, loaded through `litellm_settings.callbacks`
as `litellm_local_gateway.guard.request_guard`) wraps the application's ASGI stack once. For every HTTP request:

  * headers that must have one value (Content-Type, Content-Length and the API-key headers) keep their FIRST
    occurrence and lose the others, in the scope LiteLLM sees too, so the guard and LiteLLM read the same one;
  * a POST whose body is not a form (JSON, text/plain, no content type, anything else; LiteLLM parses them all as
    JSON) is read whole, up to LITELLM_LOCAL_MAX_BODY_BYTES (413 past it), and must be one JSON object within the
    nesting limits (jsonbody.py); the per-request caps and media rules of policy.py are then checked, then, on the
    chat-completions and embeddings routes, OpenAI's request contract (contract.py: types, ranges, roles, content
    parts) and the model (models.py: the `embedding` alias on /v1/chat/completions is a 400, a model nobody
    serves a 404), and the body is handed on to LiteLLM byte for byte. A form sent to an embeddings or generation
    route is refused: LiteLLM would read its fields as strings the caps do not see;
  * FastAPI's 422 `{"detail": [...]}` answers (a transcription without `file`) become 400 `{"error": {...}}`.

Each refusal is OpenAI's error shape, `application/json`. This module does not import LiteLLM: the unit tests run
it without. The nginx edge in front does TLS, the route allow-list, body-size limits and the key check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from .asgi import ASGIApp, Message, Receive, Scope, Send, hold_answer
from .contract import check_request as check_contract
from .contract import contract_route
from .errors import Refusal, error_json, openai_error_from_validation, refusal_body
from .jsonbody import BodyError, parse_object
from .models import Catalog, check_model
from .policy import check_request as check_policy
from .policy import route_kind
from .rerank import RERANK_SUFFIX, check_rerank, rewrite_answer
from .settings import MAX_BODY_BYTES, GatewaySettings

log = logging.getLogger(__name__)
# The scope key holding a rerank request's parsed body, for the rewrite of its answer.
RERANK_REQUEST = "litellm_local.rerank_request"


FORM_TYPES = frozenset({b"multipart/form-data", b"application/x-www-form-urlencoded"})
# Headers read as one value: the first occurrence is the one kept (Starlette's `headers[...]` reads the first).
SINGLE_HEADERS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"authorization",
        b"api-key",
        b"x-api-key",
        b"x-goog-api-key",
        b"x-litellm-api-key",
        b"ocp-apim-subscription-key",
    }
)

__all__ = ["RequestGuard", "error_json", "install", "openai_error_from_validation"]


def first_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]] | None:
    """`headers` without the repeats of SINGLE_HEADERS, or None when there are none to drop."""
    kept: list[tuple[bytes, bytes]] = []
    seen: set[bytes] = set()
    dropped = False
    for name, value in headers:
        lower = name.lower()
        if lower in SINGLE_HEADERS:
            if lower in seen:
                dropped = True
                continue
            seen.add(lower)
        kept.append((name, value))
    return kept if dropped else None


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case) in `scope`."""
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


def media_type(scope: Scope) -> bytes:
    return (header(scope, b"content-type") or b"").split(b";", 1)[0].strip().lower()


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body (None if the client left), in linear time; BodyTooLarge past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class RequestGuard:
    """ASGI wrapper around LiteLLM's application stack; `catalog` gives the served models and their modes
    (models.py) at each request, or None to skip that check."""

    def __init__(
        self,
        app: ASGIApp,
        settings: GatewaySettings | None = None,
        catalog: Callable[[], Catalog | None] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings or GatewaySettings()
        self.catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = first_headers(scope.get("headers") or ())
        if headers is not None:
            scope = {**scope, "headers": headers}
        if scope.get("method") == "POST":
            checked = await self._check_post(scope, receive)
            if checked is None:  # the client left
                return
            if isinstance(checked, Refusal):
                log.debug("refused %s: %s", scope.get("path"), checked.message)
                await respond(send, checked.status, refusal_body(checked))
                return
            receive = checked
        send = _rewrite_422(send)
        rerank_request = scope.get(RERANK_REQUEST)
        if isinstance(rerank_request, dict):
            send = rewrite_answer(send, rerank_request)
        await self.app(scope, receive, send)

    async def _check_post(self, scope: Scope, receive: Receive) -> Receive | Refusal | None:
        """The `receive` to pass on (the body replayed, or unread for a form), a Refusal, or None if the client
        left while sending the body."""
        kind = route_kind(str(scope.get("path") or ""))
        if media_type(scope) in FORM_TYPES:
            if kind is None:
                return receive
            return Refusal(
                "this endpoint takes a JSON body: send it with Content-Type: application/json", "content-type"
            )
        limit = self.settings.max_body_bytes
        declared = (header(scope, b"content-length") or b"").strip()
        if declared.isdigit() and int(declared) > limit:
            return _too_large(limit)
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            return _too_large(limit)
        if body is None:
            return None
        if body:  # an empty body is passed on: LiteLLM reads it as {}
            try:
                parsed = parse_object(body, self.settings.max_json_depth, self.settings.max_json_containers)
            except BodyError as exc:
                return Refusal(str(exc), exc.param)
            path = str(scope.get("path") or "").rstrip("/")
            if path.endswith(RERANK_SUFFIX):
                refusal = check_rerank(parsed, self.settings)
                scope[RERANK_REQUEST] = parsed  # its answer is rewritten (rerank.py)
            else:
                refusal = check_policy(kind, parsed, self.settings) or self._check_contract(scope, parsed)
            if refusal is not None:
                return refusal
        return _replay(body, receive)

    def _check_contract(self, scope: Scope, body: dict[str, Any]) -> Refusal | None:
        route, path_model = contract_route(str(scope.get("path") or ""))
        if route is None:
            return None
        refusal = check_contract(route, body, path_model)
        if refusal is None and self.catalog is not None:
            # LiteLLM takes the model named in the path (Azure's form) over the body's.
            refusal = check_model(route, path_model or body.get("model"), self.catalog())
        return refusal


def _too_large(limit: int) -> Refusal:
    return Refusal(f"the request body is larger than {limit} bytes ({MAX_BODY_BYTES})", "request_body", 413)


async def respond(send: Send, status: int, body: bytes) -> None:
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
    """FastAPI's 422 validation answers as OpenAI's 400 with the offending field."""

    async def rewrite(send: Send, start: Message, raw: bytes) -> None:
        try:
            detail = json.loads(raw).get("detail")
        except (ValueError, AttributeError, RecursionError):
            detail = None
        if detail is None:  # some other 422: pass it on as it was
            await send(start)
            await send({"type": "http.response.body", "body": raw})
            return
        text, field = openai_error_from_validation(detail)
        await respond(send, 400, error_json(text, 400, field))

    return hold_answer(send, 422, rewrite)


def install(
    app: Any, settings: GatewaySettings | None = None, catalog: Callable[[], Catalog | None] | None = None
) -> bool:
    """Wrap `app`'s ASGI stack (now, if it is built, and whenever Starlette rebuilds it); idempotent."""
    if getattr(app, "_litellm_local_guard", False):
        return False
    settings = settings or GatewaySettings.from_env()
    build = app.build_middleware_stack

    def build_guarded() -> ASGIApp:
        return RequestGuard(build(), settings, catalog)

    app.build_middleware_stack = build_guarded
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = RequestGuard(app.middleware_stack, settings, catalog)
    app._litellm_local_guard = True
    return True


def __getattr__(name: str) -> Any:
    """`request_guard`, the name litellm.yaml.j2 lists, comes from guard_callback.py, imported on first use: it
    needs LiteLLM, and this module does not."""
    if name == "request_guard":
        from .guard_callback import request_guard

        return request_guard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
