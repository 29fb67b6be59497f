"""ASGI plumbing the guard and the rerank rewrite share: the message types, and holding back one answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Gets the held http.response.start message and the whole body; sends what the client gets instead.
Rewrite = Callable[[Send, Message, bytes], Awaitable[None]]


def hold_answer(send: Send, status: int, rewrite: Rewrite) -> Send:
    """A `send` that holds back an answer with `status` until its body is complete, then lets `rewrite` send it
    (changed or not); every other answer goes out as it comes."""
    held: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and message.get("status") == status:
            held = message
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await rewrite(send, held, b"".join(chunks))

    return wrapped
