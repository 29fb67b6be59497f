"""The app's lifespan: the engine loads (in a thread), the preprocessing pool, HTTP client and batching worker start;
a watchdog stops the server when the engine's forward process dies; all of it is closed on the way out."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from .batching import Batcher
from .engine import Engine
from .images import make_http_client
from .metrics import Metrics
from .settings import Settings

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], Engine]


def default_engine(settings: Settings) -> Engine:
    if settings.inference_process:
        from .remote import ProcessEngine

        return ProcessEngine(settings)
    from .engine import QwenVLEmbeddingEngine

    return QwenVLEmbeddingEngine(settings)


def request_stop() -> None:
    """Uvicorn's graceful shutdown, as on `systemctl stop`."""
    os.kill(os.getpid(), signal.SIGTERM)


async def watch_engine(app: FastAPI, engine: Engine) -> None:
    """An engine whose forward process died can embed nothing: stop the server with a non-zero exit code (main()
    reads app.state.exit_code), so that systemd restarts it whole."""
    while getattr(engine, "alive", True):
        await asyncio.sleep(1.0)
    log.critical("the forward process exited; stopping the server so that it is restarted")
    app.state.exit_code = 1
    request_stop()


def make_lifespan(
    settings: Settings, factory: EngineFactory, metrics: Metrics
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
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
            max_wait_s=settings.batch_wait_ms / 1000,
            max_queue=settings.max_queue,
            retry_after_s=settings.retry_after_s,
            metrics=metrics,
        )
        batcher.start()
        app.state.batcher = batcher
        watchdog = asyncio.get_running_loop().create_task(watch_engine(app, engine), name="engine-watchdog")
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

    return lifespan
