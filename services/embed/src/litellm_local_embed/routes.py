"""The routes: /health, /v1/models, /v1/models/{model}, /metrics and /v1/embeddings. They find the settings, the
metrics, the engine and the batcher on `request.app.state` (create_app and the lifespan put them there)."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .batching import Batcher
from .engine import Engine
from .errors import APIError, InputError, ModelNotFound, error_response
from .method import matryoshka
from .metrics import Metrics
from .pipeline import check_images, prepare_all, to_inputs
from .schemas import EmbeddingData, EmbeddingRequest, EmbeddingResponse, ErrorResponse, ModelCard, ModelList, Usage
from .settings import Settings

ERRORS = {
    400: {"model": ErrorResponse, "description": "Invalid input or a limit exceeded"},
    404: {"model": ErrorResponse, "description": "Unknown model"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    503: {"model": ErrorResponse, "description": "Overloaded (see Retry-After) or not ready"},
}

router = APIRouter()


def encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return np.asarray(vector, dtype=np.float32).tolist()


@router.get(
    "/health", response_class=Response, responses={200: {"description": "Ready (empty body)"}, 503: ERRORS[503]}
)
async def health(request: Request) -> Response:
    """200 once the model is loaded and the batching worker runs."""
    batcher: Batcher | None = getattr(request.app.state, "batcher", None)
    if batcher is None or not batcher.running:
        return error_response(503, "the inference worker is not running")
    if not getattr(request.app.state.engine, "alive", True):
        return error_response(503, "the forward process exited; the server restarts")
    return Response(status_code=200)


@router.get("/v1/models", response_model=ModelList)
async def models(request: Request) -> ModelList:
    settings: Settings = request.app.state.settings
    return ModelList(data=[ModelCard(id=settings.served_model_name, created=0)])


@router.get("/v1/models/{model}", response_model=ModelCard, responses={404: ERRORS[404]})
async def model(model: str, request: Request) -> ModelCard | Response:
    settings: Settings = request.app.state.settings
    if model != settings.served_model_name:
        return error_response(
            404, f"the model `{model}` does not exist; this server serves `{settings.served_model_name}`", "model"
        )
    return ModelCard(id=settings.served_model_name, created=0)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/v1/embeddings", response_model=EmbeddingResponse, responses=ERRORS)
async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
    """Embeddings in the OpenAI, multimodal or vLLM chat form; one embedding per input, in order."""
    state = request.app.state
    settings: Settings = state.settings
    metrics: Metrics = state.metrics
    engine: Engine = state.engine
    try:
        if body.model is not None and body.model != settings.served_model_name:
            raise ModelNotFound(f"The model `{body.model}` does not exist.", param="model")
        if body.dimensions is not None and body.dimensions > engine.hidden_size:
            raise InputError(
                f"dimensions must be at most {engine.hidden_size} for this model (got {body.dimensions})",
                param="dimensions",
            )
        pending = to_inputs(body, settings)
        check_images(pending, settings)  # every image reference, before any is decoded or fetched
        prepared = await prepare_all(pending, engine, settings, state, body.messages is not None)
        rows = await state.batcher.submit(prepared)
    except APIError as exc:
        if exc.status != 503:
            metrics.rejected.labels(reason=f"http_{exc.status}").inc()
        raise
    tokens = sum(p.n_tokens for p in prepared)
    metrics.prompt_tokens.inc(tokens)
    for p in pending:
        metrics.inputs.labels(kind=p.item.kind).inc()
    data = [
        EmbeddingData(index=i, embedding=encode(matryoshka(row, body.dimensions), body.encoding_format))
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
