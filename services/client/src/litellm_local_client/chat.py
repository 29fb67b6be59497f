"""Chat completions (`POST /v1/chat/completions`): one answer, or a stream of text deltas; images go with the text."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import openai

from . import errors, media
from .core import ClientCore, to_usage
from .results import ChatResult, Usage

DEFAULT_ALIAS = "completions"
Message = Mapping[str, Any]


class ChatStream:
    """Iterate for the text deltas as they arrive; afterwards `text`, `finish_reason` and `usage` hold the totals.

    Use as a context manager (or call `close()`) to drop the connection when stopping early."""

    def __init__(
        self, stream: openai.Stream[Any], guard: Callable[[], contextlib.AbstractContextManager[None]]
    ) -> None:
        self._stream = stream
        self._guard = guard
        self._parts: list[str] = []
        self.model: str = ""
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def __iter__(self) -> Iterator[str]:
        with self._guard():
            for chunk in self._stream:
                self.model = chunk.model or self.model
                if chunk.usage is not None:
                    self.usage = to_usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.finish_reason:
                        self.finish_reason = choice.finish_reason
                    if choice.delta.content:
                        self._parts.append(choice.delta.content)
                        yield choice.delta.content

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def result(self) -> ChatResult:
        """Consume what is left and return the whole answer."""
        for _ in self:
            pass
        return ChatResult(text=self.text, model=self.model, finish_reason=self.finish_reason, usage=self.usage)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sampling(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
    """The sampling parameters that were given (the server's defaults apply to the others)."""
    params: dict[str, Any] = {}
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if temperature is not None:
        params["temperature"] = temperature
    return params


def messages_of(
    prompt: str | Sequence[Message], images: Sequence[media.ImageInput], system: str | None
) -> list[dict[str, Any]]:
    """The request's messages: the prompt (or a copy of the given messages), the system message first, and the
    images before the text of the last user message."""
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    else:
        messages = [dict(m) for m in prompt]
        if not messages:
            raise errors.InputError("no messages to send", "Pass a prompt or at least one message")
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    if images:
        last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        if last is None:
            raise errors.InputError("images need a user message to go in")
        content = last.get("content") or ""
        parts = content if isinstance(content, list) else ([{"type": "text", "text": content}] if content else [])
        last["content"] = media.image_items(images) + list(parts)
    return messages


class ChatMixin(ClientCore):
    def chat(
        self,
        prompt: str | Sequence[Message],
        *,
        images: Sequence[media.ImageInput] = (),
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """One answer. `prompt` is the user's text or a list of OpenAI messages; `images` (paths, bytes or URLs)
        go before the text of the last user message."""
        model = model or self.aliases.chat
        messages = messages_of(prompt, images, system)
        with self._errors("chat", model):
            reply = self.openai.chat.completions.create(
                model=model,
                messages=cast(Any, messages),
                **sampling(max_tokens, temperature),
                extra_body=dict(extra_body) if extra_body else None,
                timeout=self._timeout(self.timeouts.chat),
            )
        choice = reply.choices[0]
        return ChatResult(
            text=choice.message.content or "",
            model=reply.model,
            finish_reason=choice.finish_reason,
            usage=to_usage(reply.usage),
        )

    def chat_stream(
        self,
        prompt: str | Sequence[Message],
        *,
        images: Sequence[media.ImageInput] = (),
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ChatStream:
        """Like `chat`, streamed: iterate the returned `ChatStream` for text deltas."""
        model = model or self.aliases.chat
        messages = messages_of(prompt, images, system)
        with self._errors("chat", model):
            stream = self.openai.chat.completions.create(
                model=model,
                messages=cast(Any, messages),
                stream=True,
                stream_options={"include_usage": True},
                **sampling(max_tokens, temperature),
                extra_body=dict(extra_body) if extra_body else None,
                timeout=self._timeout(self.timeouts.chat),
            )
        return ChatStream(stream, lambda: self._errors("chat", model))
