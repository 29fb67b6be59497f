"""The FastAPI app: create_app(settings) loads the engine in the lifespan and serves /v1/embeddings."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable

import httpx
import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import __version__
from .batching import Batcher
from .engine import EmbedInput, Engine, Prepared
from .errors import APIError, InputError, ModelNotFound, error_response, install_error_handlers
from .images import check_image_ref, decode_data_url, decode_image, fetch_remote, make_http_client
from .method import conversation, matryoshka
from .metrics import Metrics
from .schemas import (
    ChatMessage,
    EmbeddingData,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
    MultimodalItem,
    TextPart,
    Usage,
)
from .settings import Settings

log = logging.getLogger(__name__)
access = logging.getLogger("litellm_local_embed.access")
QUIET_PATHS = ("/health", "/metrics")

EngineFactory = Callable[[Settings], Engine]
# Inputs without images and at most this many characters are prepared on the event loop: templating and tokenising
# them hold the GIL anyway (well under a millisecond), and a hop through the thread pool costs about as much again.
INLINE_PREPARE_CHARS = 4096
_ERRORS = {
    400: {"model": ErrorResponse, "description": "Invalid input or a limit exceeded"},
    404: {"model": ErrorResponse, "description": "Unknown model"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    503: {"model": ErrorResponse, "description": "Overloaded (see Retry-After) or not ready"},
}


def _default_engine(settings: Settings) -> Engine:
    if settings.inference_process:
        from .remote import ProcessEngine

        return ProcessEngine(settings)
    from .engine import QwenVLEmbeddingEngine

    return QwenVLEmbeddingEngine(settings)


async def _watch_engine(app: FastAPI, engine: Engine) -> None:
    """An engine whose forward process died can embed nothing: stop the server with a non-zero exit code (main()
    reads app.state.exit_code), so that systemd restarts it whole."""
    while getattr(engine, "alive", True):
        await asyncio.sleep(1.0)
    log.critical("the forward process exited; stopping the server so that it is restarted")
    app.state.exit_code = 1
    _request_stop()


def _request_stop() -> None:
    """Uvicorn's graceful shutdown, as on `systemctl stop`."""
    os.kill(os.getpid(), signal.SIGTERM)


class _Pending:
    """An input on its way to the engine: what to embed, and the image sources still to load."""

    def __init__(self, item: EmbedInput, image_urls: list[tuple[str, str]] | None = None) -> None:
        self.item = item
        self.image_urls = image_urls or []  # (url, param)
        self.remote: list[httpx.URL | None] = []  # per image: None for a data URL, else the checked URL to fetch


class BodyLimit:
    """ASGI middleware: refuse request bodies over max_bytes with 413 (by Content-Length, then by counting)."""

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
    """ASGI middleware: request counts by route and status, and the duration of /v1/embeddings requests.

    A plain ASGI wrapper rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs every request
    through extra tasks and memory streams, a sizeable share of the event loop's time per request at high rates."""

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
            if path not in QUIET_PATHS:  # one line per request; health checks and scrapes stay out of the journal
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


def create_app(settings: Settings, engine_factory: EngineFactory | None = None) -> FastAPI:
    metrics = Metrics()
    factory = engine_factory or _default_engine
    # Response ids: unique per process without a system call per request (uuid4 reads the OS's random source).

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await asyncio.to_thread(factory, settings)
        app.state.engine = engine
        app.state.preprocess = concurrent.futures.ThreadPoolExecutor(
            settings.preprocess_threads or min(16, max(4, os.cpu_count() or 1)), thread_name_prefix="preprocess"
        )
        app.state.http = make_http_client(settings)
        batcher = Batcher(
            engine.embed,
            max_batch_size=settings.max_batch_size,
            max_batch_tokens=settings.max_batch_tokens,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue=settings.max_queue,
            retry_after_s=settings.retry_after_s,
            metrics=metrics,
        )
        batcher.start()
        app.state.batcher = batcher
        watchdog = asyncio.get_running_loop().create_task(_watch_engine(app, engine), name="engine-watchdog")
        log.info("serving %s as %r", engine.name, settings.served_model_name)
        try:
            yield
        finally:
            watchdog.cancel()
            await batcher.stop()
            await app.state.http.aclose()
            app.state.preprocess.shutdown(wait=False, cancel_futures=True)
            close = getattr(engine, "close", None)
            if close is not None:
                await asyncio.to_thread(close)

    app = FastAPI(
        title="litellm-local embeddings",
        version=__version__,
        description="OpenAI-compatible embeddings of text and images with Qwen3-VL-Embedding (see docs/embeddings.md).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.exit_code = 0
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(CountRequests, metrics=metrics)  # outermost: it sees the body limit's 413 too

    @app.get(
        "/health", response_class=Response, responses={200: {"description": "Ready (empty body)"}, 503: _ERRORS[503]}
    )
    async def health(request: Request) -> Response:
        """200 once the model is loaded and the batching worker runs."""
        batcher: Batcher | None = getattr(request.app.state, "batcher", None)
        if batcher is None or not batcher.running:
            return error_response(503, "the inference worker is not running")
        if not getattr(request.app.state.engine, "alive", True):
            return error_response(503, "the forward process exited; the server restarts")
        return Response(status_code=200)

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=settings.served_model_name, created=0)])

    @app.get("/v1/models/{model}", response_model=ModelCard, responses={404: _ERRORS[404]})
    async def model(model: str) -> ModelCard | Response:
        if model != settings.served_model_name:
            return error_response(
                404, f"the model `{model}` does not exist; this server serves `{settings.served_model_name}`", "model"
            )
        return ModelCard(id=settings.served_model_name, created=0)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/embeddings", response_model=EmbeddingResponse, responses=_ERRORS)
    async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
        """Embeddings in the OpenAI, multimodal or vLLM chat form; one embedding per input, in order."""
        state = request.app.state
        engine: Engine = state.engine
        try:
            if body.model is not None and body.model != settings.served_model_name:
                raise ModelNotFound(f"The model `{body.model}` does not exist.", param="model")
            if body.dimensions is not None and body.dimensions > engine.hidden_size:
                raise InputError(
                    f"dimensions must be at most {engine.hidden_size} for this model (got {body.dimensions})",
                    param="dimensions",
                )
            pending = _to_inputs(body, settings)
            _check_images(pending, settings)  # every image reference, before any is decoded or fetched
            prepared = await _prepare_all(pending, engine, settings, state, body.messages is not None)
            rows = await state.batcher.submit(prepared)
        except APIError as exc:
            reason = "overloaded" if exc.status == 503 else f"http_{exc.status}"
            if exc.status != 503:
                metrics.rejected.labels(reason=reason).inc()
            raise
        tokens = sum(p.n_tokens for p in prepared)
        metrics.prompt_tokens.inc(tokens)
        for p in pending:
            metrics.inputs.labels(kind=p.item.kind).inc()
        data = [
            EmbeddingData(index=i, embedding=_encode(matryoshka(row, body.dimensions), body.encoding_format))
            for i, row in enumerate(rows)
        ]
        response = EmbeddingResponse(
            model=settings.served_model_name,
            data=data,
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
        )
        # pydantic's Rust serializer: the same JSON as json.dumps of model_dump(), about six times faster on 2048
        # floats (Python's float repr is the main cost of a float response).
        return Response(response.model_dump_json(), media_type="application/json")

    return app


def _chars(item: EmbedInput) -> int:
    if item.kind == "tokens":
        return len(item.token_ids or [])
    if item.kind == "text":
        return len(item.text or "")
    return sum(len(str(part.get("text", ""))) for m in item.messages or [] for part in m.get("content", []))


def _max_tokens(engine: Engine, settings: Settings) -> int:
    return min(engine.max_model_len, settings.max_tokens_per_input)


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return np.asarray(vector, dtype=np.float32).tolist()


def _to_inputs(body: EmbeddingRequest, settings: Settings) -> list[_Pending]:
    """The request's inputs, in order, in the engine's terms (images still as URLs)."""
    if body.messages is not None:
        return [_chat_input(body.messages, body, settings)]
    value = body.input
    if isinstance(value, str):
        value = [value]
    assert isinstance(value, list)
    if not value:
        raise InputError("`input` must not be empty", param="input")
    if len(value) > settings.max_inputs_per_request:
        raise InputError(
            f"`input` has {len(value)} items, more than this server's limit of {settings.max_inputs_per_request}; "
            "split the request",
            param="input",
        )
    if all(isinstance(v, int) for v in value):
        return [_Pending(EmbedInput(kind="tokens", token_ids=list(value)))]  # type: ignore[arg-type]
    multimodal = body.instruction is not None or any(isinstance(v, MultimodalItem) for v in value)
    pending = []
    for i, v in enumerate(value):
        param = f"input[{i}]"
        if isinstance(v, list):
            if not v:
                raise InputError(f"{param} is an empty list of token ids", param=param)
            pending.append(_Pending(EmbedInput(kind="tokens", token_ids=v)))
        elif isinstance(v, str) and not multimodal:
            if not v:
                raise InputError(f"{param} is an empty string", param=param)
            pending.append(_Pending(EmbedInput(kind="text", text=v)))
        else:
            if isinstance(v, str) and not v:
                raise InputError(f"{param} is an empty string", param=param)
            item = MultimodalItem(text=v) if isinstance(v, str) else v
            instruction = item.instruction or body.instruction or settings.default_instruction
            urls = [(item.image, f"{param}.image")] if item.image else []
            messages = conversation(item.text, len(urls), instruction, settings.default_instruction)
            pending.append(_Pending(EmbedInput(kind="chat", messages=messages, add_generation_prompt=True), urls))
    return pending


def _chat_input(messages: list[ChatMessage], body: EmbeddingRequest, settings: Settings) -> _Pending:
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
    return _Pending(item, urls)


def _check_images(pending: list[_Pending], settings: Settings) -> None:
    """Refuse the request (400 naming the field) if any image is not a data URL or an allowed http(s) URL."""
    for p in pending:
        p.remote = [check_image_ref(url, settings, param) for url, param in p.image_urls]


async def _prepare_all(
    pending: list[_Pending], engine: Engine, settings: Settings, state, chat_form: bool
) -> list[Prepared]:
    loop = asyncio.get_running_loop()
    limit = _max_tokens(engine, settings)
    # All inputs on the loop, or all in the pool: the engine sees a request's inputs in order either way.
    inline = all(not p.image_urls for p in pending) and sum(_chars(p.item) for p in pending) <= INLINE_PREPARE_CHARS

    async def one(index: int, p: _Pending) -> Prepared:
        # Data URLs (the usual case) are base64-decoded in the pool, with the image, not on the event loop.
        if len(p.remote) != len(p.image_urls):
            raise RuntimeError("image references reached _prepare_all unchecked")
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
