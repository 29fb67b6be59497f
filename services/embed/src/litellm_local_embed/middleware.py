"""ASGI middleware of the server: the request body limit, and the request metrics and access log.

Plain ASGI wrappers rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs every request through
extra tasks and memory streams, a sizeable share of the event loop's time per request at high rates.
"""

from __future__ import annotations

import logging
import time

from .errors import APIError, error_response
from .metrics import Metrics

access = logging.getLogger("litellm_local_embed.access")
QUIET_PATHS = ("/health", "/metrics")


class BodyLimit:
    """Refuse request bodies over max_bytes with 413 (by Content-Length, then by counting)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is larger than this server's limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return await error_response(413, message)(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise APIError(message, status=413)
            return msg

        return await self.app(scope, limited_receive, send)


class CountRequests:
    """Request counts by route and status, the duration of /v1/embeddings requests, and one access line per request
    (health checks and scrapes left out); it also answers an APIError raised below the routing (the body limit)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = 500
        sent = False

        async def send_status(message):
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except APIError as exc:  # raised below the routing (the body limit)
            if sent:
                raise
            await error_response(exc.status, exc.message, exc.param)(scope, receive, send_status)
        finally:
            route = scope.get("route")
            elapsed = time.monotonic() - started
            self.metrics.requests.labels(route=getattr(route, "path", "other"), status=str(status)).inc()
            path = scope.get("path", "")
            if path == "/v1/embeddings":
                self.metrics.request_seconds.observe(elapsed)
            if path not in QUIET_PATHS:
                client = (scope.get("client") or ("-", 0))[0]
                access.info(
                    '%s "%s %s" %d %.1fms',
                    client,
                    scope.get("method"),
                    path,
                    status,
                    elapsed * 1000,
                    extra={
                        "client": client,
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 1),
                    },
                )
