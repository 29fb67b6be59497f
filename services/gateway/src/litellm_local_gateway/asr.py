"""The `asr` alias answers exactly as OpenAI does, through the gateway: text, srt and vtt as plain text.

LiteLLM 1.108.7 forwards `response_format` and both `timestamp_granularities[]` values to the backend (its form
parser keeps repeated `[]` fields), but its `/v1/audio/transcriptions` route always serializes the normalized
`TranscriptionResponse` as JSON, so `text`, `srt` and `vtt` come back as `{"text": ...}` (BerriAI/litellm#31457),
which breaks the official clients. That route calls no hook able to replace its response (only the pre-call and
response-headers hooks run there), and LiteLLM takes no user middleware, so this callback, loaded through
`litellm_settings.callbacks`, wraps the route itself: LiteLLM's own handler still does auth, routing, retries,
load balancing, logging and spend tracking; the wrapper only writes its result in the requested format:

  * text, srt, vtt: the transcript body as `text/plain`, byte for byte what the backend returned;
  * json, verbose_json: the JSON body without the fields LiteLLM adds as null (`words: null`, `usage: null`).

Before LiteLLM's handler runs (after its key check and form parsing), the wrapper also checks the form's `model`
(models.py): an alias of another mode (`completions`, `embedding`), which would reach a backend that cannot
transcribe, is a 400 naming `model`; a model nobody serves is OpenAI's 404 `model_not_found`. The guard
(guard.py) does the same for the JSON routes; it does not parse forms.

Config (roles/litellm/templates/litellm.yaml.j2):

    litellm_settings:
      callbacks: [litellm_local_gateway.asr.transcription_formats]
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from litellm.integrations.custom_logger import CustomLogger

from .errors import Refusal, refusal_body
from .models import TRANSCRIPTION, check_model, live_catalog
from .settings import GatewaySettings

log = logging.getLogger(__name__)

PATHS = ("/v1/audio/transcriptions", "/audio/transcriptions")
PLAIN_FORMATS = ("text", "srt", "vtt")
# Headers of LiteLLM's response object that must not be copied onto a rewritten body.
_BODY_HEADERS = {"content-length", "content-type"}


def openai_body(result: Any, response_format: str) -> tuple[str, Any]:
    """("text", str) or ("json", dict): what OpenAI returns for `response_format`, from LiteLLM's result."""
    if response_format in PLAIN_FORMATS:
        text = result.get("text") if isinstance(result, dict) else getattr(result, "text", None)
        return "text", text or ""
    if hasattr(result, "model_dump"):
        data = result.model_dump()
    elif isinstance(result, dict):
        data = dict(result)
    else:
        return "json", result
    return "json", {k: v for k, v in data.items() if v is not None and not str(k).startswith("_")}


def max_upload_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The ASR servers' upload limit (GatewaySettings.max_upload_bytes, LITELLM_LOCAL_MAX_UPLOAD_BYTES), read from
    `environ` (default: the process environment) at each request."""
    return GatewaySettings.from_env(environ).max_upload_bytes


def _too_large(upload: Any) -> Refusal | None:
    """A 413 for an audio file over the ASR servers' limit, before it is sent on: a backend that refuses an upload
    while it is still being sent closes the connection, which LiteLLM reports as a 500 "Connection error"."""
    size = getattr(upload, "size", None)
    limit = max_upload_bytes()
    if size is None or size <= limit:
        return None
    return Refusal(
        f"The audio file is {size / 1e6:.1f} MB, over the limit of {limit / 1e6:g} MB: split it or compress it.",
        param="file",
        status=413,
        code="file_too_large",
    )


def _wrap(route: APIRoute) -> APIRoute:
    original = route.endpoint

    async def endpoint(**kwargs: Any) -> Any:
        request = kwargs["request"]
        form = await request.form()  # cached by Starlette: FastAPI has parsed it already for `file`
        refusal = check_model(TRANSCRIPTION, form.get("model"), live_catalog()) or _too_large(form.get("file"))
        if refusal is not None:
            return Response(refusal_body(refusal), status_code=refusal.status, media_type="application/json")
        result = await original(**kwargs)
        if isinstance(result, Response):
            return result
        kind, body = openai_body(result, str(form.get("response_format") or "json"))
        headers = {k: v for k, v in kwargs["fastapi_response"].headers.items() if k.lower() not in _BODY_HEADERS}
        if kind == "text":
            return PlainTextResponse(body, headers=headers)
        return JSONResponse(body, headers=headers)

    endpoint.__signature__ = inspect.signature(original, eval_str=True)  # FastAPI injects the same parameters
    endpoint.__name__ = getattr(original, "__name__", "audio_transcriptions")
    endpoint.__doc__ = original.__doc__
    return APIRoute(
        route.path,
        endpoint,
        methods=list(route.methods or ["POST"]),
        dependencies=list(route.dependencies),
        tags=list(route.tags),
        include_in_schema=route.include_in_schema,
        name=route.name,
        dependency_overrides_provider=route.dependency_overrides_provider,
    )


def install(app: Any) -> int:
    """Wrap LiteLLM's transcription routes in `app` (idempotent); returns how many routes were wrapped.

    FastAPI keeps an included router's routes on the router itself (the app holds a view of it that is rebuilt when
    the router's route version changes), so the route is replaced where it lives and that router marked as changed.
    """
    return _install_in(app.router, set())


def _install_in(router: Any, seen: set[int]) -> int:
    if id(router) in seen:
        return 0
    seen.add(id(router))
    wrapped = 0
    routes = router.routes
    for i, route in enumerate(routes):
        inner = getattr(route, "original_router", None)
        if inner is not None:
            wrapped += _install_in(inner, seen)
        elif (
            isinstance(route, APIRoute)
            and route.path in PATHS
            and "POST" in (route.methods or set())
            and not getattr(route.endpoint, "_litellm_local_asr", False)
        ):
            new = _wrap(route)
            new.endpoint._litellm_local_asr = True  # type: ignore[attr-defined]
            routes[i] = new
            wrapped += 1
    if wrapped:
        mark_changed = getattr(router, "_mark_routes_changed", None)
        if callable(mark_changed):
            mark_changed()
    return wrapped


class TranscriptionFormats(CustomLogger):
    """Loaded by LiteLLM from `litellm_settings.callbacks`; wraps the transcription routes once, when created."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from litellm.proxy.proxy_server import app
        except ImportError:  # litellm used as a library, without its proxy
            return
        count = install(app)
        log.info("litellm_local_gateway.asr: wrapped %d transcription route(s) for OpenAI response formats", count)


transcription_formats = TranscriptionFormats()
