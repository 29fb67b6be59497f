"""The FastAPI app: create_app(settings) wires the lifespan (lifespan.py: the engine and the batching worker), the
middleware (middleware.py), the error handlers (errors.py) and the routes (routes.py; inputs: pipeline.py)."""

from __future__ import annotations

from fastapi import FastAPI

from . import __version__
from .errors import install_error_handlers
from .lifespan import EngineFactory, default_engine, make_lifespan
from .metrics import Metrics
from .middleware import BodyLimit, CountRequests
from .routes import router
from .settings import Settings


def create_app(settings: Settings, engine_factory: EngineFactory | None = None) -> FastAPI:
    metrics = Metrics()
    app = FastAPI(
        title="litellm-local embeddings",
        version=__version__,
        description="OpenAI-compatible embeddings of text and images with Qwen3-VL-Embedding (see docs/embeddings.md).",
        lifespan=make_lifespan(settings, engine_factory or default_engine, metrics),
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.exit_code = 0
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CountRequests, metrics=metrics)  # outermost: it sees the body limit's 413 too
    app.include_router(router)
    return app
