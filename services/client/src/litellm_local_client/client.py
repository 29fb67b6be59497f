"""The SDK: `Client` wraps one `openai.OpenAI` client and gives each gateway capability a typed method.

Retries (connection errors, 408/409/429 and 5xx, honouring Retry-After, exponential backoff with jitter) are the
openai client's own, set by `max_retries`; a failure after them is raised as one of `errors.ClientError`.
"""

from __future__ import annotations

import array
import base64
import contextlib
import os
import re
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx2
import openai

from . import audio as long_audio
from . import errors, media
from .results import (
    ChatResult,
    EmbeddingResult,
    Granularity,
    Health,
    ModelInfo,
    OcrPage,
    OcrResult,
    OcrTask,
    Segment,
    Transcript,
    TranscriptFormat,
    Usage,
    Word,
)

DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_CHUNK_BYTES = 24 * 1024 * 1024  # under the ASR server's default upload limit of 25 MB
OCR_PROMPTS: dict[str, str] = {
    "text": "Text Recognition:",
    "table": "Table Recognition:",
    "formula": "Formula Recognition:",
}
TRANSCRIPT_FORMATS: tuple[str, ...] = ("json", "text", "srt", "verbose_json", "vtt")
Message = Mapping[str, Any]


@dataclass(frozen=True)
class Aliases:
    """The gateway aliases each capability uses unless a call names another model."""

    chat: str = "completions"
    ocr: str = "ocr"
    embedding: str = "embedding"
    asr: str = "asr"


@dataclass(frozen=True)
class Timeouts:
    """Seconds. The read timeout is the longest silence allowed while waiting for the answer, so it is sized per
    capability: a transcription of a long file answers only once the whole file is done."""

    connect: float = 10.0
    chat: float = 300.0
    ocr: float = 300.0  # per page
    embed: float = 120.0
    transcribe: float = 1800.0
    models: float = 30.0
    health: float = 10.0

    def scaled(self, seconds: float) -> Timeouts:
        """Every capability's read timeout set to `seconds` (what --timeout does)."""
        return Timeouts(self.connect, seconds, seconds, seconds, seconds, seconds, seconds)


@dataclass(frozen=True)
class EmbedInput:
    """One item of a multimodal embedding request: text, an image (path, bytes, data or http URL), or both."""

    text: str | None = None
    image: media.ImageInput | None = None
    instruction: str | None = None

    def to_json(self) -> dict[str, str]:
        if self.text is None and self.image is None:
            raise errors.InputError("an embedding input needs text, an image or both")
        item: dict[str, str] = {}
        if self.text is not None:
            item["text"] = self.text
        if self.image is not None:
            item["image"] = media.image_url(self.image)
        if self.instruction is not None:
            item["instruction"] = self.instruction
        return item


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    return Usage(
        prompt_tokens=getattr(raw, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(raw, "completion_tokens", 0) or 0,
        total_tokens=getattr(raw, "total_tokens", 0) or 0,
    )


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
                    self.usage = _usage(chunk.usage)
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


class Client:
    """A client of the litellm_local gateway.

    `base_url` and `api_key` default to OPENAI_BASE_URL and OPENAI_API_KEY; `ca_file` (default: LITELLM_LOCAL_CA_FILE,
    else SSL_CERT_FILE, else the system's CAs) is the CA that verifies the gateway's TLS certificate — the deploy
    prints its path. Verification is never turned off. `max_retries` is handed to the openai
    client, which retries connection errors, 408, 409, 429 and 5xx with exponential backoff. `http_client` (an
    `httpx2.Client`, the HTTP library of openai 3.x) lets tests and proxies supply the transport. The underlying
    `openai.OpenAI` client is `client.openai`, for anything this SDK does not wrap."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeouts: Timeouts | None = None,
        aliases: Aliases | None = None,
        http_client: httpx2.Client | None = None,
        ca_file: str | None = None,
    ) -> None:
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").strip().rstrip("/")
        if not url:
            raise errors.ConfigurationError(
                "no gateway address",
                "Set OPENAI_BASE_URL=https://<gateway>:8200/v1 or pass base_url (--base-url)",
            )
        if not url.startswith(("http://", "https://")):
            raise errors.ConfigurationError(
                f"the gateway address {url!r} is not an http(s) URL", "Use https://<gateway>:8200/v1"
            )
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise errors.ConfigurationError(
                "no API key", "Set OPENAI_API_KEY to the gateway's key or pass api_key (--api-key)"
            )
        ca = ca_file or os.environ.get("LITELLM_LOCAL_CA_FILE")
        if http_client is None and ca:
            if not os.path.isfile(ca):
                raise errors.ConfigurationError(
                    f"the CA file {ca!r} does not exist",
                    "Point --ca-file (LITELLM_LOCAL_CA_FILE) at the CA the deploy printed, e.g. .pki/ca.crt",
                )
            http_client = httpx2.Client(verify=ssl.create_default_context(cafile=ca))
        self.base_url = url
        self.timeouts = timeouts or Timeouts()
        self.aliases = aliases or Aliases()
        self.max_retries = max_retries
        self.openai = openai.OpenAI(
            base_url=url,
            api_key=key,
            max_retries=max_retries,
            timeout=self._timeout(self.timeouts.chat),
            http_client=http_client,
        )

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _timeout(self, read: float) -> httpx2.Timeout:
        return httpx2.Timeout(read, connect=self.timeouts.connect)

    @contextlib.contextmanager
    def _errors(self, action: str, model: str | None = None) -> Iterator[None]:
        try:
            yield
        except openai.OpenAIError as err:
            raise errors.translate(err, action, base_url=str(self.base_url), model=model) from err

    def close(self) -> None:
        self.openai.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chat -----------------------------------------------------------------------------------------------------

    def _messages(
        self, prompt: str | Sequence[Message], images: Sequence[media.ImageInput], system: str | None
    ) -> list[dict[str, Any]]:
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
        messages = self._messages(prompt, images, system)
        with self._errors("chat", model):
            reply = self.openai.chat.completions.create(
                model=model,
                messages=cast(Any, messages),
                **self._sampling(max_tokens, temperature),
                extra_body=dict(extra_body) if extra_body else None,
                timeout=self._timeout(self.timeouts.chat),
            )
        choice = reply.choices[0]
        return ChatResult(
            text=choice.message.content or "",
            model=reply.model,
            finish_reason=choice.finish_reason,
            usage=_usage(reply.usage),
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
        messages = self._messages(prompt, images, system)
        with self._errors("chat", model):
            stream = self.openai.chat.completions.create(
                model=model,
                messages=cast(Any, messages),
                stream=True,
                stream_options={"include_usage": True},
                **self._sampling(max_tokens, temperature),
                extra_body=dict(extra_body) if extra_body else None,
                timeout=self._timeout(self.timeouts.chat),
            )
        return ChatStream(stream, lambda: self._errors("chat", model))

    @staticmethod
    def _sampling(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if temperature is not None:
            params["temperature"] = temperature
        return params

    # -- ocr ------------------------------------------------------------------------------------------------------

    def ocr_pages(
        self,
        source: media.ImageInput,
        *,
        task: OcrTask = "text",
        model: str | None = None,
        pages: str | None = None,
        scale: float = 2.0,
        max_tokens: int | None = None,
        repetition_penalty: float = 1.05,
    ) -> Iterator[tuple[OcrPage, int]]:
        """(page result, number of pages selected) as each page is done. `source` is an image (path, bytes, URL)
        or a PDF (path or bytes), whose pages (all, or `pages` such as "1-3,5") are rendered at `scale` x 72 dpi."""
        if task not in OCR_PROMPTS:
            raise errors.InputError(f"unknown OCR task {task!r}", "Use one of: " + ", ".join(OCR_PROMPTS))
        model = model or self.aliases.ocr
        images: Iterator[tuple[int, int, str]]
        if media.is_url(source):
            images = iter([(1, 1, str(source))])
        else:
            data, _ = media.read_input(source, "document")
            if media.is_pdf(data):
                images = (
                    (n, total, media.data_url(png, "image/png"))
                    for n, total, png in media.render_pdf(data, pages=pages, scale=scale)
                )
            else:
                images = iter([(1, 1, media.image_url(data))])
        for number, total, url in images:
            with self._errors(f"ocr of page {number}", model):
                reply = self.openai.chat.completions.create(
                    model=model,
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {"type": "image_url", "image_url": {"url": url}},
                                {"type": "text", "text": OCR_PROMPTS[task]},
                            ],
                        }
                    ],
                    **self._sampling(max_tokens, 0),
                    extra_body={"repetition_penalty": repetition_penalty},
                    timeout=self._timeout(self.timeouts.ocr),
                )
            choice = reply.choices[0]
            page = OcrPage(
                page=number,
                text=choice.message.content or "",
                finish_reason=choice.finish_reason,
                usage=_usage(reply.usage),
            )
            yield page, total

    def ocr(
        self,
        source: media.ImageInput,
        *,
        task: OcrTask = "text",
        model: str | None = None,
        pages: str | None = None,
        scale: float = 2.0,
        max_tokens: int | None = None,
        repetition_penalty: float = 1.05,
    ) -> OcrResult:
        """Text, a table or formulas read from an image or every selected page of a PDF."""
        model = model or self.aliases.ocr
        done = [
            page
            for page, _ in self.ocr_pages(
                source,
                task=task,
                model=model,
                pages=pages,
                scale=scale,
                max_tokens=max_tokens,
                repetition_penalty=repetition_penalty,
            )
        ]
        return OcrResult(task=task, model=model, pages=done)

    # -- embeddings -----------------------------------------------------------------------------------------------

    def embed(
        self,
        inputs: str | Sequence[str | EmbedInput | Mapping[str, Any]],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        instruction: str | None = None,
        encoding_format: str | None = None,
    ) -> EmbeddingResult:
        """Vectors, in input order. Plain strings use the OpenAI request; any `EmbedInput` (or dict with text/image/
        instruction) or an `instruction` uses the multimodal request. `dimensions` truncates (Matryoshka);
        `encoding_format` ("float", the default, or "base64") is the wire format only: vectors come back as floats
        either way."""
        model = model or self.aliases.embedding
        items = [inputs] if isinstance(inputs, str) else list(inputs)
        if not items:
            raise errors.InputError("nothing to embed", "Pass at least one text or image")
        if encoding_format not in (None, "float", "base64"):
            raise errors.InputError(f"unknown encoding format {encoding_format!r}", "Use float or base64")
        if dimensions is not None and dimensions < 1:
            raise errors.InputError(f"dimensions must be positive, not {dimensions}")
        multimodal = instruction is not None or any(not isinstance(i, str) for i in items)
        payload: list[Any] = (
            [
                i if isinstance(i, str) else (i if isinstance(i, EmbedInput) else EmbedInput(**i)).to_json()
                for i in items
            ]
            if multimodal
            else items
        )
        # The openai client asks for base64 unless told otherwise; not every backend behind a LiteLLM gateway accepts
        # that, so the SDK asks for floats unless the caller chose.
        kwargs: dict[str, Any] = {"encoding_format": encoding_format or "float"}
        if dimensions is not None:
            kwargs["dimensions"] = dimensions
        with self._errors("embed", model):
            reply = self.openai.embeddings.create(
                model=model,
                input=cast(Any, payload),
                extra_body={"instruction": instruction} if instruction is not None else None,
                timeout=self._timeout(self.timeouts.embed),
                **kwargs,
            )
        ordered = sorted(reply.data, key=lambda d: d.index)
        vectors = [_vector(d.embedding) for d in ordered]
        if len(vectors) != len(items):
            raise errors.ServerError(f"embed: the gateway returned {len(vectors)} vectors for {len(items)} inputs")
        return EmbeddingResult(model=reply.model, vectors=vectors, usage=_usage(reply.usage))

    # -- transcription --------------------------------------------------------------------------------------------

    def transcribe(
        self,
        audio: media.AudioInput,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        response_format: TranscriptFormat | None = None,
        timestamps: Sequence[Granularity] = (),
        filename: str | None = None,
        progress: media.ProgressCallback | None = None,
        chunk_seconds: float | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        on_piece: Callable[[int, int], None] | None = None,
    ) -> Transcript:
        """Speech to text. `audio`: a path (streamed from disk), bytes or a binary file. `response_format` defaults
        to verbose_json when `timestamps` ("word", "segment") are asked for, else json. `progress(sent, total)` is
        called as the upload is read.

        Long files: with `chunk_seconds`, audio longer than that (or larger than `max_chunk_bytes`) is split into
        pieces cut at pauses, each piece transcribed in turn (`on_piece(number, count)` before each), and the
        transcripts merged with timestamps on the whole file's clock; srt and vtt are then rendered from the merged
        segments. Without it, the server's own limits apply (a 400 or 413 says which)."""
        model = model or self.aliases.asr
        fmt = response_format or ("verbose_json" if timestamps else "json")
        if fmt not in TRANSCRIPT_FORMATS:
            raise errors.InputError(f"unknown response format {fmt!r}", "Use one of: " + ", ".join(TRANSCRIPT_FORMATS))
        bad = [g for g in timestamps if g not in ("word", "segment")]
        if bad:
            raise errors.InputError(f"unknown timestamp granularity {bad[0]!r}", "Use word and/or segment")
        if timestamps and fmt != "verbose_json":
            raise errors.InputError(
                f"timestamps need response_format verbose_json, not {fmt}",
                "Drop the response format (verbose_json is then used) or the timestamps",
            )
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            raise errors.InputError(
                f"language {language!r} is not an ISO-639-1 code", "Use a two-letter code such as en, de or zh"
            )
        if chunk_seconds is not None and chunk_seconds <= 0:
            raise errors.InputError(f"chunk_seconds must be positive, not {chunk_seconds}")
        params: dict[str, Any] = {}
        if language is not None:
            params["language"] = language
        if prompt is not None:
            params["prompt"] = prompt
        if temperature is not None:
            params["temperature"] = temperature
        granularities = list(dict.fromkeys(timestamps))
        if chunk_seconds is None:
            return self._transcribe_once(audio, model, fmt, granularities, params, filename, progress)

        with media.open_audio(audio, filename=filename) as upload:
            data, name = upload.reader.read(), upload.name
        pcm = long_audio.decode(data, name)
        if pcm.seconds <= chunk_seconds and len(data) <= max_chunk_bytes:
            return self._transcribe_once(data, model, fmt, granularities, params, name, progress)
        pieces = list(long_audio.split(pcm, chunk_seconds=chunk_seconds, max_bytes=max_chunk_bytes))
        # Pieces come back as verbose_json when timestamps are needed (asked for, or to build srt/vtt).
        piece_granularities = granularities + (["segment"] if fmt in ("srt", "vtt") and not granularities else [])
        piece_fmt = "verbose_json" if piece_granularities else "json"
        parts = []
        for number, piece in enumerate(pieces, 1):
            if on_piece is not None:
                on_piece(number, len(pieces))
            part = self._transcribe_once(
                piece.wav,
                model,
                piece_fmt,
                piece_granularities,
                params,
                f"piece{number}.wav",
                progress,
                action=f"transcribe (piece {number} of {len(pieces)}, from {piece.start:.1f} s)",
            )
            parts.append((piece, part))
        return long_audio.merge(parts, cast(TranscriptFormat, fmt))

    def _transcribe_once(
        self,
        audio: media.AudioInput,
        model: str,
        fmt: str,
        granularities: list[Granularity],
        params: dict[str, Any],
        filename: str | None,
        progress: media.ProgressCallback | None,
        action: str = "transcribe",
    ) -> Transcript:
        extra: dict[str, Any] = {"response_format": fmt, **params}
        if granularities:
            extra["timestamp_granularities"] = granularities
        with media.open_audio(audio, filename=filename, progress=progress) as upload, self._errors(action, model):
            reply: Any = self.openai.audio.transcriptions.create(
                model=model,
                file=upload.as_file(),
                timeout=self._timeout(self.timeouts.transcribe),
                **extra,
            )
        return _transcript(fmt, reply)

    # -- models and health ----------------------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """The aliases the gateway serves (GET /v1/models)."""
        with self._errors("listing models"):
            page = self.openai.models.list(timeout=self._timeout(self.timeouts.models))
            return [
                ModelInfo(id=m.id, owned_by=getattr(m, "owned_by", None), created=getattr(m, "created", None))
                for m in page
            ]

    @property
    def root_url(self) -> str:
        """The gateway's address without the /v1 suffix: where its health endpoints are."""
        return re.sub(r"/v1$", "", str(self.base_url))

    def health(self) -> Health:
        """Liveliness (the process answers) and readiness (it can serve). No retries: health reports the moment.
        Raises ConnectionFailedError when the gateway cannot be reached at all."""
        quick = self.openai.with_options(max_retries=0, timeout=self._timeout(self.timeouts.health))
        try:
            with self._errors("health check"):
                quick.get(self.root_url + "/health/liveliness", cast_to=httpx2.Response)
        except errors.ConnectionFailedError:
            raise
        except errors.ClientError as err:
            return Health(live=False, ready=False, error=str(err))
        try:
            with self._errors("readiness check"):
                response = quick.get(self.root_url + "/health/readiness", cast_to=httpx2.Response)
        except errors.ClientError as err:
            return Health(live=True, ready=False, error=str(err))
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        status = str(body.get("status", "healthy")).lower()
        ready = status in ("healthy", "connected", "ok")
        return Health(
            live=True,
            ready=ready,
            version=body.get("litellm_version"),
            readiness=body,
            error=None if ready else f"readiness reports status {status!r}",
        )


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # base64 of little-endian float32, when asked for explicitly
        return array.array("f", base64.b64decode(value)).tolist()
    return [float(x) for x in value]


def _transcript(fmt: str, reply: Any) -> Transcript:
    if isinstance(reply, str):
        text = reply
        return Transcript(
            response_format=cast(TranscriptFormat, fmt), text=text.strip() if fmt == "text" else text, body=text
        )
    words = [Word(word=w.word, start=float(w.start), end=float(w.end)) for w in (getattr(reply, "words", None) or [])]
    segments = [
        Segment(
            id=s.id,
            start=float(s.start),
            end=float(s.end),
            text=s.text,
            seek=s.seek,
            tokens=list(s.tokens),
            temperature=s.temperature,
            avg_logprob=s.avg_logprob,
            compression_ratio=s.compression_ratio,
            no_speech_prob=s.no_speech_prob,
        )
        for s in (getattr(reply, "segments", None) or [])
    ]
    return Transcript(
        response_format=cast(TranscriptFormat, fmt),
        text=reply.text,
        language=getattr(reply, "language", None),
        duration=getattr(reply, "duration", None),
        words=words,
        segments=segments,
    )
