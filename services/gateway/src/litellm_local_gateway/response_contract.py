"""Answers in exactly OpenAI's response contract, whatever LiteLLM's serialisation makes of them.

OpenAI publishes its response schemas (openai/openai-openapi: CreateChatCompletionResponse,
CreateChatCompletionStreamResponse, CreateEmbeddingResponse, CreateTranscriptionResponseJson/VerboseJson,
ListModelsResponse, Model, ErrorResponse). LiteLLM 1.108.7 departs from them (docs/openai-contract.md lists each,
with the lab capture in services/gateway/tests/fixtures/contract): `provider_specific_fields` in a choice and its
message, stream choices without their required `finish_reason`, the usage on a chunk that still holds a choice
instead of OpenAI's last `choices: []` chunk and no `usage: null` on the others, `completion_tokens` and null
details in an embedding's usage, LiteLLM's model info (`max_input_tokens`, `mode`) in the model list, FastAPI's
`{"detail": ...}` for a model it does not know, `system_fingerprint: null` where a backend names none. This module
writes every answer as the schema says: the fields the schema defines, in its types (a required nullable field as
null when absent), no field it does not define (but verbose_json's `task`, which OpenAI sends), and the values
LiteLLM and the backends computed left as they are.

The rules are written out below, per schema: the gateway host does not have the spec. The gateway's tests
(services/gateway/tests/test_response_contract.py) apply them to captured lab answers and to LiteLLM's own proxy
application in front of replayed backend answers, and validate the results against the spec.

Where it acts (`ResponseContract`, loaded through `litellm_settings.callbacks`):

  * `async_post_call_success_hook`: chat completions and embeddings (LiteLLM sends the dict the hook returns; it
    still reads its response headers from the dict's `_hidden_params` and removes them);
  * `async_post_call_streaming_iterator_hook`: chat streams, each chunk written as an SSE frame here (LiteLLM
    passes `bytes` that start with `data:` through untouched; a dict it would write as Python's repr, and a pydantic
    chunk it dumps without its nulls, so a required `finish_reason: null` could not survive). The per-chunk
    `async_post_call_streaming_hook` only sees the text so far, not the chunk: it cannot reshape one;
  * an ASGI wrapper of the proxy's application (as guard.py installs its own), for the answers no hook reaches:
    the model list and model routes, the transcription route's JSON (asr.py's wrapper answers it), and every JSON
    error body on the OpenAI routes (the model routes call no hook at all, and `async_post_call_failure_hook`
    runs for failed model calls only, where it can swap the exception LiteLLM formats, not write the body).

Config (roles/litellm/templates/litellm.yaml.j2), last in the list:

    litellm_settings:
      callbacks: [..., litellm_local_gateway.response_contract.response_contract]
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

from litellm_local_common.errors import ErrorBody, error_body

log = logging.getLogger(__name__)

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")
DELTA_ROLES = ("developer", "system", "user", "assistant", "tool")
COMPLETION_DETAILS = (
    "accepted_prediction_tokens",
    "audio_tokens",
    "reasoning_tokens",
    "text_tokens",
    "rejected_prediction_tokens",
)
PROMPT_DETAILS = ("audio_tokens", "cached_tokens", "text_tokens", "image_tokens", "cache_write_tokens")
SEGMENT_INTS = ("id", "seek")
SEGMENT_NUMBERS = ("start", "end", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob")


# --- values -------------------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int(value: Any, default: int | None = None) -> int | None:
    """An integer for an integer, an integral float or a numeric string; `default` otherwise."""
    if _is_int(value):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def _number(value: Any, default: float | None = None) -> float | int | None:
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return default
        return number if math.isfinite(number) else default
    return default


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _created(value: Any) -> int:
    created = _int(value)
    return created if created is not None else int(time.time())


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


# --- usage ----------------------------------------------------------------------------------------------------


def _details(value: Any, keys: tuple[str, ...]) -> dict[str, int] | None:
    if not isinstance(value, Mapping):
        return None
    out = {k: value[k] for k in keys if _is_int(value.get(k))}
    return out or None


def completion_usage(value: Any) -> dict[str, Any] | None:
    """CompletionUsage: the three counts as integers, the details objects with their integer counts only."""
    if not isinstance(value, Mapping):
        return None
    prompt = _int(value.get("prompt_tokens"), 0) or 0
    completion = _int(value.get("completion_tokens"), 0) or 0
    total = _int(value.get("total_tokens"))
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }
    _put(out, "completion_tokens_details", _details(value.get("completion_tokens_details"), COMPLETION_DETAILS))
    _put(out, "prompt_tokens_details", _details(value.get("prompt_tokens_details"), PROMPT_DETAILS))
    return out


# --- chat -----------------------------------------------------------------------------------------------------


def _function(value: Any, required: bool) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    out: dict[str, Any] = {}
    for key in ("name", "arguments"):
        if isinstance(value.get(key), str):
            out[key] = value[key]
        elif required:
            out[key] = "" if key == "arguments" else None
    if required and not isinstance(out.get("name"), str):
        return None
    return out


def _tool_calls(value: Any) -> list[dict[str, Any]] | None:
    """ChatCompletionMessageToolCalls: function tool calls (and custom ones, as given)."""
    if not isinstance(value, list) or not value:
        return None
    out = []
    for call in value:
        if not isinstance(call, Mapping):
            continue
        if call.get("type") == "custom" and isinstance(call.get("custom"), Mapping):
            custom = call["custom"]
            out.append(
                {
                    "id": str(call.get("id") or ""),
                    "type": "custom",
                    "custom": {k: custom[k] for k in ("name", "input") if isinstance(custom.get(k), str)},
                }
            )
            continue
        function = _function(call.get("function"), required=True)
        if function is None:
            continue
        out.append({"id": str(call.get("id") or ""), "type": "function", "function": function})
    return out or None


def _tool_call_chunks(value: Any) -> list[dict[str, Any]] | None:
    """ChatCompletionMessageToolCallChunk: `index` required, the rest as far as this chunk carries it."""
    if not isinstance(value, list) or not value:
        return None
    out = []
    for position, call in enumerate(value):
        if not isinstance(call, Mapping):
            continue
        item: dict[str, Any] = {"index": _int(call.get("index"), position)}
        _put(item, "id", _str_or_none(call.get("id")))
        if call.get("type") == "function":
            item["type"] = "function"
        _put(item, "function", _function(call.get("function"), required=False))
        out.append(item)
    return out or None


def _token_logprobs(value: Any) -> list[dict[str, Any]] | None:
    """ChatCompletionTokenLogprob items: token, logprob, bytes (or null) and top_logprobs."""
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("token"), str):
            continue
        entry = _top_logprob(item)
        top = item.get("top_logprobs")
        entry["top_logprobs"] = (
            [_top_logprob(t) for t in top if isinstance(t, Mapping)] if isinstance(top, list) else []
        )
        out.append(entry)
    return out


def _top_logprob(item: Mapping[str, Any]) -> dict[str, Any]:
    raw = item.get("bytes")
    return {
        "token": str(item.get("token", "")),
        "logprob": _number(item.get("logprob"), -9999.0),
        "bytes": [b for b in raw if _is_int(b)] if isinstance(raw, list) else None,
    }


def _logprobs(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    return {"content": _token_logprobs(value.get("content")), "refusal": _token_logprobs(value.get("refusal"))}


def _message(value: Any) -> dict[str, Any]:
    """ChatCompletionResponseMessage: role, content and refusal always; the optional fields only with a value."""
    message = value if isinstance(value, Mapping) else {}
    out: dict[str, Any] = {
        "role": "assistant",
        "content": _str_or_none(message.get("content")),
        "refusal": _str_or_none(message.get("refusal")),
    }
    _put(out, "tool_calls", _tool_calls(message.get("tool_calls")))
    if isinstance(message.get("annotations"), list) and message["annotations"]:
        out["annotations"] = [a for a in message["annotations"] if isinstance(a, Mapping)]
    _put(out, "function_call", _function(message.get("function_call"), required=True))
    audio = message.get("audio")
    if isinstance(audio, Mapping) and all(k in audio for k in ("id", "expires_at", "data", "transcript")):
        out["audio"] = {k: audio[k] for k in ("id", "expires_at", "data", "transcript")}
    return out


def _finish_reason(value: Any) -> str | None:
    return value if value in FINISH_REASONS else None


def _top_level(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(body.get("id") or ""),
        "object": kind,
        "created": _created(body.get("created")),
        "model": str(body.get("model") or ""),
    }
    if isinstance(body.get("system_fingerprint"), str):
        out["system_fingerprint"] = body["system_fingerprint"]
    if body.get("service_tier") in SERVICE_TIERS:
        out["service_tier"] = body["service_tier"]
    return out


def chat_completion(body: Mapping[str, Any]) -> dict[str, Any]:
    """CreateChatCompletionResponse."""
    out = _top_level(body, "chat.completion")
    choices = []
    for position, choice in enumerate(body.get("choices") or ()):
        if not isinstance(choice, Mapping):
            continue
        choices.append(
            {
                "index": _int(choice.get("index"), position),
                "message": _message(choice.get("message")),
                # required and not nullable here: a completion that LiteLLM reports without a reason ended normally
                "finish_reason": _finish_reason(choice.get("finish_reason")) or "stop",
                "logprobs": _logprobs(choice.get("logprobs")),
            }
        )
    out["choices"] = choices
    _put(out, "usage", completion_usage(body.get("usage")))
    return out


def _delta(value: Any) -> dict[str, Any]:
    """ChatCompletionStreamResponseDelta: only what the chunk carries."""
    delta = value if isinstance(value, Mapping) else {}
    out: dict[str, Any] = {}
    if delta.get("role") in DELTA_ROLES:
        out["role"] = delta["role"]
    for key in ("content", "refusal"):  # null and absent read the same; OpenAI leaves them out
        if isinstance(delta.get(key), str):
            out[key] = delta[key]
    _put(out, "tool_calls", _tool_call_chunks(delta.get("tool_calls")))
    _put(out, "function_call", _function(delta.get("function_call"), required=False))
    return out


def _stream_choice(choice: Mapping[str, Any], position: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": _int(choice.get("index"), position),
        "delta": _delta(choice.get("delta")),
        "finish_reason": _finish_reason(choice.get("finish_reason")),
    }
    if "logprobs" in choice:
        out["logprobs"] = _logprobs(choice.get("logprobs"))
    return out


def _carries_nothing(choice: Mapping[str, Any]) -> bool:
    return choice["finish_reason"] is None and choice.get("logprobs") is None and not choice["delta"]


def chat_chunk(body: Mapping[str, Any]) -> dict[str, Any]:
    """CreateChatCompletionStreamResponse, one chunk on its own: its choices (without those that carry nothing)
    and its usage as given. `ChunkStream` decides where usage goes."""
    out = _top_level(body, "chat.completion.chunk")
    choices = [
        _stream_choice(choice, i) for i, choice in enumerate(body.get("choices") or ()) if isinstance(choice, Mapping)
    ]
    out["choices"] = [c for c in choices if not _carries_nothing(c)]
    out["usage"] = completion_usage(body.get("usage"))
    return out


class ChunkStream:
    """The chunks of one chat stream as OpenAI streams them: every chunk with the id, `created` and model of the
    first; no chunk without a choice; with `include_usage`, `usage: null` on each chunk and one last chunk with
    the usage and `choices: []`; without it, no usage at all."""

    def __init__(self, include_usage: bool, model: str | None = None) -> None:
        self.include_usage = include_usage
        self.model = model
        self.head: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None

    def feed(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        chunk = chat_chunk(body)
        usage = chunk.pop("usage")
        if usage is not None:
            self.usage = usage
        if self.head is None:
            self.head = {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}
            if self.model:
                self.head["model"] = self.model
        if not chunk["choices"]:
            return []
        chunk.update(self.head)
        if self.include_usage:
            chunk["usage"] = None
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        if not self.include_usage or self.usage is None or self.head is None:
            return []
        return [{**self.head, "choices": [], "usage": self.usage}]


# --- embeddings -----------------------------------------------------------------------------------------------


def embedding_list(body: Mapping[str, Any]) -> dict[str, Any]:
    """CreateEmbeddingResponse (a base64 `embedding` string stays a string: the spec has no schema for it)."""
    data = []
    for position, item in enumerate(body.get("data") or ()):
        if not isinstance(item, Mapping):
            continue
        vector = item.get("embedding")
        if isinstance(vector, list) and not set(map(type, vector)) <= {float}:  # the set: at C speed
            vector = [float(v) for v in vector if _is_number(v)]
        data.append({"object": "embedding", "index": _int(item.get("index"), position), "embedding": vector})
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    prompt = _int(usage.get("prompt_tokens"), 0) or 0
    total = _int(usage.get("total_tokens"))
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or ""),
        "usage": {"prompt_tokens": prompt, "total_tokens": total if total is not None else prompt},
    }


# --- transcriptions -------------------------------------------------------------------------------------------


def _transcript_usage(value: Any) -> dict[str, Any] | None:
    """TranscriptTextUsageDuration or TranscriptTextUsageTokens."""
    if not isinstance(value, Mapping):
        return None
    if value.get("type") == "duration" and _is_number(value.get("seconds")):
        return {"type": "duration", "seconds": value["seconds"]}
    if value.get("type") == "tokens":
        out: dict[str, Any] = {"type": "tokens"}
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            out[key] = _int(value.get(key), 0)
        details = value.get("input_token_details")
        if isinstance(details, Mapping):
            out["input_token_details"] = {
                k: details[k] for k in ("text_tokens", "audio_tokens") if _is_int(details.get(k))
            }
        return out
    return None


def transcription(body: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTranscriptionResponseJson."""
    out: dict[str, Any] = {"text": str(body.get("text") or "")}
    _put(out, "usage", _transcript_usage(body.get("usage")))
    if isinstance(body.get("logprobs"), list):
        out["logprobs"] = body["logprobs"]
    return out


def transcription_verbose(body: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTranscriptionResponseVerboseJson, with OpenAI's `task` (its own answers carry it)."""
    out: dict[str, Any] = {}
    if isinstance(body.get("task"), str):
        out["task"] = body["task"]
    out["language"] = str(body.get("language") or "")
    out["duration"] = _number(body.get("duration"), 0.0)
    out["text"] = str(body.get("text") or "")
    words = body.get("words")
    if isinstance(words, list):
        out["words"] = [
            {"word": str(w.get("word", "")), "start": _number(w.get("start"), 0.0), "end": _number(w.get("end"), 0.0)}
            for w in words
            if isinstance(w, Mapping)
        ]
    segments = body.get("segments")
    if isinstance(segments, list):
        out["segments"] = [_segment(s) for s in segments if isinstance(s, Mapping)]
    usage = _transcript_usage(body.get("usage"))
    if usage is not None and usage["type"] == "duration":
        out["usage"] = usage
    return out


def _segment(segment: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: _int(segment.get(k), 0) for k in SEGMENT_INTS}
    for key in SEGMENT_NUMBERS:
        out[key] = _number(segment.get(key), 0.0)
    out["text"] = str(segment.get("text") or "")
    tokens = segment.get("tokens")
    out["tokens"] = [t for t in tokens if _is_int(t)] if isinstance(tokens, list) else []
    return out


# --- models and errors ----------------------------------------------------------------------------------------


def model(body: Mapping[str, Any]) -> dict[str, Any]:
    """Model."""
    return {
        "id": str(body.get("id") or ""),
        "object": "model",
        "created": _created(body.get("created")),
        "owned_by": str(body.get("owned_by") or "litellm-local"),
    }


def model_list(body: Mapping[str, Any]) -> dict[str, Any]:
    """ListModelsResponse."""
    return {"object": "list", "data": [model(m) for m in body.get("data") or () if isinstance(m, Mapping)]}


def error(body: Any, status: int, *, param: str | None = None, code: str | None = None) -> ErrorBody:
    """ErrorResponse, from OpenAI's shape with stray types, FastAPI's `{"detail": ...}` or any other JSON. The body
    of litellm_local_common.errors: what `body` names is kept, the rest comes from the status (the type, and the code
    when neither `body` nor `code` gives one); `param` is written when `body` names none."""
    inner = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(inner, Mapping):
        message = inner.get("message")
        kind, given_param, given_code = inner.get("type"), inner.get("param"), inner.get("code")
    else:
        message = body.get("detail", body.get("message")) if isinstance(body, Mapping) else body
        if isinstance(message, Mapping) and isinstance(message.get("error"), Mapping):  # a detail holding an error
            return error(message, status, param=param, code=code)
        kind, given_param, given_code = None, None, None
    if not isinstance(message, str):
        message = json.dumps(message) if message is not None else f"HTTP {status}"
    if not isinstance(kind, str) or kind == "None":
        kind = None
    if given_code is not None and not isinstance(given_code, str):
        given_code = str(given_code) if _is_int(given_code) or isinstance(given_code, float) else json.dumps(given_code)
    return error_body(
        message,
        status,
        param=given_param if isinstance(given_param, str) and given_param else param,
        code=given_code or code,
        type_=kind,
    )


# --- where LiteLLM lets the answers be changed ------------------------------------------------------------------


def _dump(response: Any) -> dict[str, Any] | None:
    """What LiteLLM's chat route would send for a pydantic response (its own serialisation), as Python values."""
    if isinstance(response, Mapping):
        return dict(response)
    if not hasattr(response, "model_dump"):
        return None
    try:
        from litellm.proxy.utils import model_dump_with_preserved_fields

        return model_dump_with_preserved_fields(response, exclude_unset=True)
    except ImportError:  # pragma: no cover - another LiteLLM
        return response.model_dump(exclude_none=True, exclude_unset=True)


def _plain(value: Any) -> Any:
    """A pydantic object or a mapping as a dict; anything else as it is."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return dict(value) if isinstance(value, Mapping) else value


def _embedding_fields(response: Any) -> dict[str, Any]:
    """An EmbeddingResponse's fields without dumping its vectors through pydantic (thousands of floats each)."""
    return {
        "data": [_plain(item) for item in getattr(response, "data", None) or ()],
        "model": getattr(response, "model", None),
        "usage": _plain(getattr(response, "usage", None)),
    }


def _hidden_params(response: Any) -> Any:
    hidden = (
        response.get("_hidden_params") if isinstance(response, Mapping) else getattr(response, "_hidden_params", None)
    )
    return hidden if isinstance(hidden, Mapping) else None


def rewrite_success(response: Any) -> dict[str, Any] | None:
    """The body for a chat completion or an embedding list (None: leave `response` as it is). LiteLLM's response
    headers come from `_hidden_params`, which it reads from a dict body too and removes before sending."""
    from litellm.types.utils import EmbeddingResponse, ModelResponse

    if isinstance(response, ModelResponse):
        body = _dump(response)
        if body is None:
            return None
        out = chat_completion(body)
    elif isinstance(response, EmbeddingResponse):
        out = embedding_list(_embedding_fields(response))
    else:
        return None
    hidden = _hidden_params(response)
    if hidden is not None:
        out["_hidden_params"] = hidden
    return out


def client_wants_usage(request_data: Mapping[str, Any]) -> bool:
    """Whether the client asked for `stream_options.include_usage` (LiteLLM asks the backend for usage itself, for
    its spend tracking, and marks the request `_litellm_strip_stream_usage` then)."""
    if request_data.get("_litellm_strip_stream_usage") is True:
        return False
    options = request_data.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def client_model(request_data: Mapping[str, Any]) -> str | None:
    """The model name the client sent (LiteLLM's proxy restamps chunks with it)."""
    for key in ("_litellm_client_requested_model", "model"):
        if isinstance(request_data.get(key), str) and request_data[key]:
            return request_data[key]
    return None


def sse(body: Mapping[str, Any]) -> bytes:
    """One SSE frame. LiteLLM's proxy passes `bytes` that start with `data:` to the client as they are."""
    return b"data: " + json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode() + b"\n\n"


async def rewrite_stream(response: AsyncIterator[Any], request_data: Mapping[str, Any]) -> AsyncGenerator[Any, None]:
    """A chat stream's chunks as OpenAI streams them (`ChunkStream`), each an SSE frame; anything that is no chat
    chunk passes unchanged."""
    from litellm.types.utils import ModelResponseStream

    stream = ChunkStream(client_wants_usage(request_data), client_model(request_data))
    async for chunk in response:
        if not isinstance(chunk, ModelResponseStream):
            yield chunk
            continue
        try:
            frames = [sse(c) for c in stream.feed(_dump(chunk) or {})]
        except Exception:  # never lose a chunk to a rule: send it as LiteLLM would
            log.exception("litellm_local_gateway.response_contract: chunk left as LiteLLM wrote it")
            yield chunk
            continue
        for frame in frames:
            yield frame
    for last in stream.finish():
        yield sse(last)


# --- the answers no hook reaches: an ASGI wrapper -----------------------------------------------------------------

MODEL_LIST_PATHS = ("/v1/models", "/models")
MODEL_PATH_PREFIXES = ("/v1/models/", "/models/")
TRANSCRIPTION_PATHS = ("/v1/audio/transcriptions", "/audio/transcriptions")
MAX_REWRITTEN_BYTES = 16 * 1024 * 1024  # a larger JSON body passes as it is


# The OpenAI routes (LiteLLM serves each with and without /v1, and Azure's and the old engines' forms).
API_PREFIXES = ("/v1/", "/openai/deployments/", "/engines/", "/models/")
API_PATHS = ("/chat/completions", "/embeddings", "/audio/transcriptions", "/models")


def body_rule(method: str, path: str, status: int) -> Callable[[Any], Any] | None:
    """How the ASGI wrapper rewrites a JSON answer to `method path` with `status` (None: it does not). Only the
    OpenAI routes: LiteLLM's own (health, admin) keep their answers."""
    path = path.rstrip("/") or "/"
    if not path.startswith(API_PREFIXES) and path not in API_PATHS:
        return None
    if status == 404 and method == "GET" and path.startswith(MODEL_PATH_PREFIXES):
        return model_not_found
    if status >= 400:
        return lambda body: error(body, status)
    if status != 200:
        return None
    if method == "GET" and path in MODEL_LIST_PATHS:
        return model_list
    if method == "GET" and path.startswith(MODEL_PATH_PREFIXES):
        return lambda body: model(body) if isinstance(body, Mapping) and "id" in body else body
    if method == "POST" and path in TRANSCRIPTION_PATHS:
        return transcription_any
    return None


def model_not_found(body: Any) -> ErrorBody:
    """OpenAI's answer to a model it does not serve: `param` model, `code` model_not_found."""
    return error(body, 404, param="model", code="model_not_found")


def transcription_any(body: Any) -> Any:
    """A JSON transcription: verbose_json where it has verbose_json's fields, else json."""
    if not isinstance(body, Mapping) or not isinstance(body.get("text"), str):
        return body
    if any(k in body for k in ("language", "duration", "segments", "words", "task")):
        return transcription_verbose(body)
    return transcription(body)


class ResponseRewriter:
    """ASGI middleware: JSON answers of the routes in `body_rule` rewritten, with their Content-Length."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        method, path = str(scope.get("method", "GET")), str(scope.get("path", ""))
        held: dict[str, Any] = {}
        parts: list[bytes] = []

        async def send_rewritten(message: dict[str, Any]) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                rule = body_rule(method, path, int(message.get("status", 200)))
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if rule is not None and headers.get(b"content-type", b"").startswith(b"application/json"):
                    held.update(start=message, rule=rule, size=0)
                    return
                await send(message)
            elif kind == "http.response.body" and held:
                parts.append(message.get("body", b""))
                held["size"] += len(parts[-1])
                if message.get("more_body") and held["size"] <= MAX_REWRITTEN_BYTES:
                    return
                if message.get("more_body"):  # too large to rewrite: what is held goes out, the rest follows
                    start, body = held.pop("start"), b"".join(parts)
                    held.clear()
                    await send(start)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    return
                await self._send_rewritten(held["start"], held["rule"], b"".join(parts), send)
                held.clear()
            else:
                await send(message)

        await self.app(scope, receive, send_rewritten)

    @staticmethod
    async def _send_rewritten(start: dict[str, Any], rule: Callable[[Any], Any], raw: bytes, send: Any) -> None:
        try:
            body = json.dumps(rule(json.loads(raw)), ensure_ascii=False, separators=(",", ":")).encode()
        except Exception:  # not JSON after all, or a rule failed: the answer as it was
            log.exception("litellm_local_gateway.response_contract: a body left as it was")
            body = raw
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def install(app: Any) -> bool:
    """Wrap `app`'s ASGI stack in ResponseRewriter (now, if it is built, and whenever Starlette rebuilds it);
    idempotent."""
    if getattr(app, "_litellm_local_response_contract", None) is not None:
        return False
    build = app.build_middleware_stack

    def build_wrapped() -> Any:
        return ResponseRewriter(build())

    app.build_middleware_stack = build_wrapped
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = ResponseRewriter(app.middleware_stack)
    app._litellm_local_response_contract = build
    return True


def uninstall(app: Any) -> None:
    """Undo `install` (for tests): Starlette rebuilds the stack without the wrapper at the next request."""
    build = getattr(app, "_litellm_local_response_contract", None)
    if build is None:
        return
    app.build_middleware_stack = build
    app.middleware_stack = None
    app._litellm_local_response_contract = None


def _custom_logger() -> type:
    from litellm.integrations.custom_logger import CustomLogger

    return CustomLogger


class ResponseContract(_custom_logger()):  # type: ignore[misc]
    """Loaded by LiteLLM from `litellm_settings.callbacks`; wraps the proxy's application once, when created."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from litellm.proxy.proxy_server import app
        except ImportError:  # litellm used as a library, without its proxy
            return
        if install(app):
            log.info("litellm_local_gateway.response_contract: answers rewritten to OpenAI's response schemas")

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict: Any, response: Any) -> Any:
        try:
            return rewrite_success(response)
        except Exception:  # an answer as LiteLLM wrote it beats no answer
            log.exception("litellm_local_gateway.response_contract: response left as LiteLLM wrote it")
            return None

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict
    ) -> AsyncGenerator[Any, None]:
        async for item in rewrite_stream(response, request_data):
            yield item


_instance: ResponseContract | None = None


def __getattr__(name: str) -> Any:
    """`response_contract`, the name litellm.yaml.j2 lists: created (and the wrapper installed) on first use, so
    importing this module changes nothing."""
    global _instance
    if name == "response_contract":
        if _instance is None:
            _instance = ResponseContract()
        return _instance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
