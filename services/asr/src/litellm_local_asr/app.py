"""The Flask app factory: /health, /v1/models, /v1/audio/transcriptions, /metrics.

The engine loads once, here, in the process that serves (Gunicorn's single worker); request threads only decode
audio, hand a job to the runner (the batching thread for the transformers engine; a thread of their own for the
vllm engine, whose servers batch) and format its result.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from litellm_local_asr import audio, errors, formats, languages
from litellm_local_asr.batching import Batcher, Concurrent
from litellm_local_asr.engine import Engine, Job
from litellm_local_asr.errors import APIError
from litellm_local_asr.settings import Settings, get_settings

log = logging.getLogger(__name__)
TEXT_PLAIN = "text/plain; charset=utf-8"


class Metrics:
    def __init__(self, batcher_depth) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "asr_requests", "Transcription requests", ["response_format", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "asr_request_seconds",
            "Time to answer a transcription request",
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
        )
        self.audio_seconds = Counter("asr_audio_seconds", "Seconds of audio transcribed", registry=self.registry)
        self.batch_size = Histogram(
            "asr_batch_size", "Jobs per inference batch", registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64)
        )
        self.batch_seconds = Histogram(
            "asr_batch_seconds",
            "Inference time per batch",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
        )
        depth = Gauge("asr_queue_depth", "Jobs waiting for the model", registry=self.registry)
        depth.set_function(batcher_depth)

    def on_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)


def _parse_float(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise APIError(f"'{name}' must be a number, got '{raw}'.", param=name) from None
    if not low <= value <= high:
        raise APIError(f"'{name}' must be between {low:g} and {high:g}, got {raw}.", param=name)
    return value


def _granularities() -> list[str]:
    values = request.form.getlist("timestamp_granularities[]") + request.form.getlist("timestamp_granularities")
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if part not in formats.GRANULARITIES:
                raise APIError(
                    f"Invalid timestamp granularity '{part}': use 'word' and/or 'segment'.",
                    param="timestamp_granularities",
                )
            if part not in out:
                out.append(part)
    return out


FORM_OVERHEAD_BYTES = 4_000_000


def load_engine(settings: Settings) -> Engine:
    """The engine `settings.engine` names: Qwen3-ASR (and the aligner) in this process, or behind vLLM servers."""
    if settings.engine == "vllm":
        from litellm_local_asr.vllm_engine import VLLMEngine

        return VLLMEngine(settings)
    from litellm_local_asr.engine import QwenEngine

    return QwenEngine(settings)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the app. Without `engine`, load the one `settings` name."""
    settings = settings or get_settings()
    if engine is None:
        engine = load_engine(settings)
    app = Flask(__name__)
    # The whole request may carry the form's other fields and multipart framing beyond the file's own limit (checked
    # once the form is read): a proxy that forwards a file just over the limit then gets a clean 413, not a
    # connection closed under it.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + FORM_OVERHEAD_BYTES
    errors.register(app, settings.retry_after_s)
    started = int(time.time())
    batcher: Batcher | Concurrent | None = None
    metrics = Metrics(lambda: batcher.depth if batcher else 0)
    if getattr(engine, "concurrent", False):
        # Each request thread's job runs at once; Gunicorn's threads bound how many there are.
        batcher = Concurrent(engine, settings.threads, settings.max_queue, metrics.on_batch)
    else:
        batcher = Batcher(
            engine, settings.max_batch_size, settings.batch_wait_ms / 1000.0, settings.max_queue, metrics.on_batch
        )
    app.extensions["asr"] = {"settings": settings, "engine": engine, "batcher": batcher, "metrics": metrics}

    @app.get("/health")
    def health():
        # Ready means able to answer: on the vllm engine, both of its servers answer their /health.
        problems = engine.problems() if hasattr(engine, "problems") else []
        if problems:
            body = {"status": "unavailable", "model": settings.served_model_name, "engine": settings.engine}
            response = jsonify({**body, "problems": problems})
            response.status_code = 503
            response.headers["Retry-After"] = str(settings.vllm_retry_after_s)
            return response
        return jsonify({"status": "ok", "model": settings.served_model_name, "engine": settings.engine})

    card = {"id": settings.served_model_name, "object": "model", "created": started, "owned_by": "litellm-local"}

    @app.get("/v1/models")
    def models():
        return jsonify({"object": "list", "data": [card]})

    @app.get("/v1/models/<path:model>")
    def model(model: str):
        if model != settings.served_model_name:
            raise APIError(
                f"The model '{model}' does not exist; this server serves '{settings.served_model_name}'.",
                status=404,
                param="model",
                code="model_not_found",
            )
        return jsonify(card)

    @app.get("/metrics")
    def prometheus():
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.post("/v1/audio/transcriptions")
    def transcriptions():
        t0 = time.monotonic()
        fmt = "json"
        status = 500
        try:
            # Reading the form is where an upload over MAX_CONTENT_LENGTH stops (with or without Content-Length):
            # Werkzeug raises RequestEntityTooLarge, which errors.py answers as a 413 in OpenAI's error shape.
            fmt = request.form.get("response_format") or "json"
            response = _transcribe(fmt)
            status = response.status_code
            return response
        except APIError as exc:
            status = exc.status
            raise
        except HTTPException as exc:
            status = exc.code or 500
            raise
        finally:
            label = fmt if fmt in formats.RESPONSE_FORMATS else "invalid"
            metrics.requests.labels(label, str(status)).inc()
            metrics.latency.observe(time.monotonic() - t0)

    def _transcribe(fmt: str) -> Response:
        if fmt not in formats.RESPONSE_FORMATS:
            raise APIError(
                f"Invalid response_format '{fmt}': use one of {', '.join(formats.RESPONSE_FORMATS)}.",
                param="response_format",
            )
        upload = request.files.get("file")
        if upload is None:
            raise APIError("A 'file' field with the audio is required (multipart/form-data).", param="file")
        if not (request.form.get("model") or "").strip():
            raise APIError("The 'model' field is required.", param="model")
        if (request.form.get("stream") or "").lower() == "true":
            raise APIError("Streaming transcriptions are not supported; omit 'stream'.", param="stream")
        language = languages.to_model_language(request.form.get("language"))
        temperature = _parse_float("temperature", request.form.get("temperature"), 0.0, 0.0, 1.0)
        granularities = _granularities() if fmt == "verbose_json" else []
        if fmt == "verbose_json" and not granularities:
            granularities = ["segment"]
        data = upload.read()
        if len(data) > settings.max_upload_bytes:
            raise APIError(
                f"The audio file is {len(data) / 1e6:.1f} MB, over this server's limit of "
                f"{settings.max_upload_bytes / 1e6:g} MB; split it or compress it.",
                status=413,
                param="file",
                code="file_too_large",
            )
        samples = audio.decode(data, settings.max_audio_seconds, upload.filename or "audio", settings.decode_timeout_s)
        duration = len(samples) / audio.SAMPLE_RATE
        job = Job(
            audio=samples,
            language=language,
            context=request.form.get("prompt") or "",
            timestamps=fmt in ("verbose_json", "srt", "vtt"),
        )
        result = batcher.submit(job, settings.request_timeout_s)
        metrics.audio_seconds.inc(duration)
        text = result.text
        if fmt == "json":
            return jsonify({"text": text, "usage": formats.usage(duration)})
        if fmt == "text":
            return Response(text + "\n", content_type=TEXT_PLAIN)
        words = formats.words_from_alignment(text, result.aligned or [], duration)
        segments = formats.segments_from_words(
            text, words, duration, temperature, engine.tokenize, settings.max_cue_chars
        )
        if fmt == "srt":
            return Response(formats.to_srt(segments), content_type=TEXT_PLAIN)
        if fmt == "vtt":
            return Response(formats.to_vtt(segments), content_type=TEXT_PLAIN)
        body = formats.verbose_json(
            text,
            languages.openai_language_name(result.language, language),
            duration,
            words if "word" in granularities else None,
            segments if "segment" in granularities else None,
        )
        return jsonify(body)

    return app
