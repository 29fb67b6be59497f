"""The input pipeline of /v1/embeddings: a request's inputs in the engine's terms, image references checked, then
each input prepared (images decoded or fetched, tokenised) in the preprocessing pool or on the event loop."""

from __future__ import annotations

import asyncio

import httpx
from PIL import Image

from .engine import EmbedInput, Engine, Prepared
from .errors import InputError
from .images import check_image_ref, decode_data_url, decode_image, fetch_remote
from .method import conversation
from .schemas import ChatMessage, EmbeddingRequest, MultimodalItem, TextPart
from .settings import Settings

# Inputs without images and at most this many characters are prepared on the event loop: templating and tokenising
# them hold the GIL anyway (well under a millisecond), and a hop through the thread pool costs about as much again.
INLINE_PREPARE_CHARS = 4096


class Pending:
    """An input on its way to the engine: what to embed, and the image sources still to load."""

    def __init__(self, item: EmbedInput, image_urls: list[tuple[str, str]] | None = None) -> None:
        self.item = item
        self.image_urls = image_urls or []  # (url, param)
        self.remote: list[httpx.URL | None] = []  # per image: None for a data URL, else the checked URL to fetch


def _chars(item: EmbedInput) -> int:
    if item.kind == "tokens":
        return len(item.token_ids or [])
    if item.kind == "text":
        return len(item.text or "")
    return sum(len(str(part.get("text", ""))) for m in item.messages or [] for part in m.get("content", []))


def max_tokens(engine: Engine, settings: Settings) -> int:
    return min(engine.max_model_len, settings.max_tokens_per_input)


def to_inputs(body: EmbeddingRequest, settings: Settings) -> list[Pending]:
    """The request's inputs, in order, in the engine's terms (images still as URLs)."""
    if body.messages is not None:
        return [chat_input(body.messages, body, settings)]
    value = body.input
    if isinstance(value, str):
        value = [value]
    assert isinstance(value, list)
    if not value:
        raise InputError("`input` must not be empty", param="input")
    if len(value) > settings.max_embedding_inputs:
        raise InputError(
            f"`input` has {len(value)} items, more than this server's limit of {settings.max_embedding_inputs}; "
            "split the request",
            param="input",
        )
    if all(isinstance(v, int) for v in value):
        return [Pending(EmbedInput(kind="tokens", token_ids=list(value)))]  # type: ignore[arg-type]
    multimodal = body.instruction is not None or any(isinstance(v, MultimodalItem) for v in value)
    pending = []
    for i, v in enumerate(value):
        param = f"input[{i}]"
        if isinstance(v, list):
            if not v:
                raise InputError(f"{param} is an empty list of token ids", param=param)
            pending.append(Pending(EmbedInput(kind="tokens", token_ids=v)))
        elif isinstance(v, str) and not multimodal:
            if not v:
                raise InputError(f"{param} is an empty string", param=param)
            pending.append(Pending(EmbedInput(kind="text", text=v)))
        else:
            if isinstance(v, str) and not v:
                raise InputError(f"{param} is an empty string", param=param)
            item = MultimodalItem(text=v) if isinstance(v, str) else v
            urls = [(item.image, f"{param}.image")] if item.image else []
            messages = conversation(
                item.text, len(urls), item.instruction, body.instruction, settings.default_instruction
            )
            pending.append(Pending(EmbedInput(kind="chat", messages=messages, add_generation_prompt=True), urls))
    return pending


def chat_input(messages: list[ChatMessage], body: EmbeddingRequest, settings: Settings) -> Pending:
    """vLLM's chat form: the messages as they are, image_url parts as image placeholders."""
    converted, urls = [], []
    for m, message in enumerate(messages):
        if isinstance(message.content, str):
            converted.append({"role": message.role, "content": [{"type": "text", "text": message.content}]})
            continue
        parts = []
        for p, part in enumerate(message.content):
            if isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
            else:
                url = part.image_url if isinstance(part.image_url, str) else part.image_url.url
                urls.append((url, f"messages[{m}].content[{p}].image_url"))
                parts.append({"type": "image"})
        converted.append({"role": message.role, "content": parts})
    if len(urls) > settings.max_images_per_input:
        raise InputError(
            f"the messages hold {len(urls)} images, more than this server's limit of {settings.max_images_per_input}",
            param="messages",
        )
    item = EmbedInput(
        kind="chat",
        messages=converted,
        add_generation_prompt=body.add_generation_prompt,
        continue_final_message=body.continue_final_message,
    )
    return Pending(item, urls)


def check_images(pending: list[Pending], settings: Settings) -> None:
    """Refuse the request (400 naming the field) if any image is not a data URL or an allowed http(s) URL."""
    for p in pending:
        p.remote = [check_image_ref(url, settings, param) for url, param in p.image_urls]


async def prepare_all(
    pending: list[Pending], engine: Engine, settings: Settings, state, chat_form: bool
) -> list[Prepared]:
    """Every input prepared, in order; `state` is the app's (its preprocessing pool and HTTP client)."""
    loop = asyncio.get_running_loop()
    limit = max_tokens(engine, settings)
    # All inputs on the loop, or all in the pool: the engine sees a request's inputs in order either way.
    inline = all(not p.image_urls for p in pending) and sum(_chars(p.item) for p in pending) <= INLINE_PREPARE_CHARS

    async def one(index: int, p: Pending) -> Prepared:
        # Data URLs (the usual case) are base64-decoded in the pool, with the image, not on the event loop.
        if len(p.remote) != len(p.image_urls):
            raise RuntimeError("image references reached prepare_all unchecked")
        in_pool = all(remote is None for remote in p.remote)
        raw = []
        if not in_pool:
            for (url, param), remote in zip(p.image_urls, p.remote, strict=True):
                if remote is None:
                    raw.append(decode_data_url(url, settings, param))
                else:
                    raw.append(await fetch_remote(remote, settings, param, state.http))

        def work() -> Prepared:
            images: list[Image.Image] = [
                decode_image(decode_data_url(url, settings, param) if in_pool else raw[k], settings, param)
                for k, (url, param) in enumerate(p.image_urls)
            ]
            p.item.images = images
            try:
                return engine.prepare(p.item)
            except StopIteration as exc:  # cannot cross into an asyncio future: it would hang the request
                raise RuntimeError(f"StopIteration in prepare: {exc}") from exc

        where, param = ("the messages", "messages") if chat_form else (f"input[{index}]", f"input[{index}]")
        try:
            if inline:
                prepared = work()
            else:
                prepared = await loop.run_in_executor(state.preprocess, work)
        except InputError as exc:
            if exc.param is None:
                exc.message, exc.param = f"{where}: {exc.message}", param
            raise
        if prepared.n_tokens > limit:
            raise InputError(
                f"{where} has {prepared.n_tokens} tokens, more than this server's limit of {limit}", param=param
            )
        return prepared

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(pending))))
