"""Exactly OpenAI's contract: every kind of answer the stack gives, validated against OpenAI's published schemas.

The schemas are the spec's own (../shared/openai-spec/, tests/api/openai_schema.py builds the validators), the
answers are the raw bytes from the wire (urllib, SSE parsed here), so no lenient client smooths anything over.
Through the gateway (the TLS edge, LiteLLM and our callbacks) and straight from our own servers (the ASR server,
the embedding server; vLLM's direct answers are vLLM's, not ours, and are checked only through the gateway):

  * models: the list (ListModelsResponse) and each model (Model);
  * chat: plain, with an image, OCR (CreateChatCompletionResponse); every chunk of a stream, with and without
    `stream_options.include_usage` (CreateChatCompletionStreamResponse), and the stream's framing and usage rules;
  * embeddings: float (CreateEmbeddingResponse) and base64 (no schema: decoded, it must be the float answer);
  * transcriptions: json and verbose_json with word and segment timestamps;
  * errors (ErrorResponse): a missing key, an unknown route, the guard's 400, a backend's 400, an unknown model.

Besides the schema, each answer may hold only the fields the schema defines, or the few extras docs/openai-contract.md
lists with the reason they stay (ALLOWED_EXTRAS). Set LITELLM_LOCAL_CONTRACT_CAPTURE=<dir> to save every raw answer
there (services/gateway/tests/fixtures/contract/ holds such captures).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import re
import ssl
import struct
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.api import openai_schema
from tests.api.conftest import png_data_url
from tests.conftest import gateway_base, gateway_env, host_unit, hosts_running, lab_ca, require_lab

pytestmark = pytest.mark.lab

if not openai_schema.spec_available():
    if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
        raise FileNotFoundError(f"OpenAI's spec is missing: {openai_schema.SPEC_FILE}")
    pytest.skip(f"OpenAI's spec is not beside the checkout ({openai_schema.SPEC_FILE})", allow_module_level=True)

# Fields outside the schema that an answer may carry, with the reason (docs/openai-contract.md says more). Keys are
# (source, schema); values are {dotted field path: reason}. Anything else outside the schema fails the test.
ALLOWED_EXTRAS: dict[tuple[str, str], dict[str, str]] = {
    ("*", "CreateTranscriptionResponseVerboseJson"): {
        "task": "OpenAI's own verbose_json carries `task: transcribe`; its SDKs read it",
    },
}

TIMEOUT = 180
CHAT_MODEL = "completions"


# --- raw HTTP -----------------------------------------------------------------------------------------------------


@dataclass
class Raw:
    """An answer as it came off the wire."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str = ""
    events: list[str] = field(default_factory=list)  # SSE: each `data:` payload, in order (with [DONE])
    other_lines: list[str] = field(default_factory=list)  # SSE: lines that are neither data nor blank

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise AssertionError(f"{self.url}: not JSON ({exc}): {self.body[:500]!r}") from None

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=lab_ca())


def call(
    url: str,
    body: Any = None,
    *,
    method: str | None = None,
    key: str | None = None,
    raw_body: bytes | None = None,
    content_type: str = "application/json",
    sse: bool = False,
) -> Raw:
    """One request; never raises for an HTTP status. `sse`: read the body as server-sent events."""
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type} if data is not None else {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if data else "GET"))
    context = _tls() if url.startswith("https:") else None
    try:
        response = urllib.request.urlopen(req, timeout=TIMEOUT, context=context)
    except urllib.error.HTTPError as exc:
        response = exc
    with response:
        raw = Raw(response.status, dict(response.headers), b"", url)
        if sse and raw.status == 200:
            lines = []
            for line in response:
                lines.append(line)
                text = line.decode().rstrip("\r\n")
                if text.startswith("data:"):
                    raw.events.append(text[5:].removeprefix(" "))
                elif text and not text.startswith(":"):
                    raw.other_lines.append(text)
            raw.body = b"".join(lines)
        else:
            raw.body = response.read()
    capture(raw)
    return raw


def multipart(fields: list[tuple[str, str]], file: tuple[str, bytes, str]) -> tuple[bytes, str]:
    boundary = f"contract-{uuid.uuid4().hex}"
    out = b""
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    filename, data, mime = file
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    out += data + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


_captured: dict[str, int] = {}


def capture(raw: Raw) -> None:
    """Save `raw` under $LITELLM_LOCAL_CONTRACT_CAPTURE (a test's name, a counter), when that is set."""
    where = os.environ.get("LITELLM_LOCAL_CONTRACT_CAPTURE")
    if not where:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0].split("::")[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test).strip("_")
    _captured[name] = _captured.get(name, 0) + 1
    path = Path(where) / f"{name}.{_captured[name]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        body: Any = json.loads(raw.body) if not raw.events else None
    except ValueError:
        body = None
    record = {
        "url": raw.url,
        "status": raw.status,
        "content_type": raw.content_type,
        "body": body,
        "text": raw.body.decode(errors="replace") if body is None and not raw.events else None,
        "events": raw.events or None,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")


# --- where the answers come from ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str  # "gateway", "asr", "embedding"
    base: str  # http(s)://host:port (no /v1)
    key: str | None

    def get(self, path: str) -> Raw:
        return call(self.base + path, key=self.key)

    def post(self, path: str, body: Any, **kwargs: Any) -> Raw:
        return call(self.base + path, body, key=self.key, **kwargs)


@functools.cache
def gateway() -> Source:
    return Source("gateway", gateway_base(), gateway_env()["OPENAI_API_KEY"])


@functools.cache
def asr_server() -> Source:
    require_lab()
    hosts = hosts_running("asr")
    assert hosts, "no lab host runs the asr service of the catalogue"
    return Source("asr", host_unit(hosts[0], "asr")["url"], None)


@functools.cache
def embedding_server() -> Source:
    from tests.api.embed_lab import pascal_base_url

    return Source("embedding", pascal_base_url(), None)


SOURCES = {"gateway": gateway, "asr": asr_server, "embedding": embedding_server}


def source(name: str) -> Source:
    return SOURCES[name]()


# --- checks ---------------------------------------------------------------------------------------------------


def departures(schema: str, body: Any, src: str, what: str = "") -> list[str]:
    """How `body` departs from `schema`: the schema's own verdict, and the fields outside it but the allowed extras."""
    where = f"{what}: " if what else ""
    found = [where + p for p in openai_schema.problems(schema, body)]
    allowed = {**ALLOWED_EXTRAS.get(("*", schema), {}), **ALLOWED_EXTRAS.get((src, schema), {})}
    extras = openai_schema.extra_fields(schema, body) - set(allowed)
    found += [f"{where}{e}: a field {schema} does not define" for e in sorted(extras)]
    return found


def check(schema: str, body: Any, src: str, what: str = "") -> None:
    """`body` conforms to `schema` exactly, and holds no field outside it but the allowed extras."""
    found = departures(schema, body, src, what)
    assert not found, f"{src}: {schema}:\n  " + "\n  ".join(found) + f"\nbody: {json.dumps(body)[:1500]}"


def ok_json(raw: Raw) -> Any:
    assert raw.status == 200, f"{raw.url}: {raw.status} {raw.body[:800]!r}"
    assert raw.content_type.startswith("application/json"), (raw.url, raw.content_type)
    return raw.json()


def error_json(raw: Raw, status: int | tuple[int, ...]) -> Any:
    statuses = (status,) if isinstance(status, int) else status
    assert raw.status in statuses, f"{raw.url}: {raw.status}, not {statuses}: {raw.body[:800]!r}"
    assert raw.content_type.startswith("application/json"), (raw.url, raw.status, raw.content_type, raw.body[:300])
    return raw.json()


def user(*parts: dict[str, Any] | str) -> list[dict[str, Any]]:
    """One user message: a string, or content parts (a string among them is a text part)."""
    if len(parts) == 1 and isinstance(parts[0], str):
        return [{"role": "user", "content": parts[0]}]
    return [{"role": "user", "content": [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]}]


def image_part(width: int = 96, height: int = 64) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": png_data_url(width, height)}}


# --- models ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("src", ["gateway", "asr", "embedding"])
def test_models_list(src: str) -> None:
    body = ok_json(source(src).get("/v1/models"))
    check("ListModelsResponse", body, src)
    assert body["object"] == "list" and body["data"], body
    for model in body["data"]:
        check("Model", model, src, f"{src}: a model of the list")
    if src == "gateway":
        assert {"completions", "ocr", "embedding", "asr"} <= {m["id"] for m in body["data"]}


@pytest.mark.parametrize("src", ["gateway", "asr", "embedding"])
def test_model_retrieve(src: str) -> None:
    listed = ok_json(source(src).get("/v1/models"))["data"]
    for model in listed[:4]:
        body = ok_json(source(src).get(f"/v1/models/{model['id']}"))
        check("Model", body, src)
        assert body["id"] == model["id"], body


# --- chat -----------------------------------------------------------------------------------------------------


def chat(src: Source, model: str, messages: list[dict[str, Any]], **params: Any) -> Raw:
    return src.post("/v1/chat/completions", {"model": model, "messages": messages, **params})


def check_completion(body: Any, model: str) -> None:
    check("CreateChatCompletionResponse", body, "gateway")
    assert body["object"] == "chat.completion" and body["model"] == model, body
    assert body["choices"] and body["choices"][0]["message"]["role"] == "assistant", body
    assert isinstance(body.get("usage"), dict), "OpenAI always reports usage on a chat completion"


def test_chat_plain() -> None:
    raw = chat(gateway(), CHAT_MODEL, user("Say hello."), max_tokens=8, temperature=0)
    check_completion(ok_json(raw), CHAT_MODEL)


def test_chat_with_an_image() -> None:
    raw = chat(gateway(), CHAT_MODEL, user(image_part(), "Describe."), max_tokens=6, temperature=0)
    check_completion(ok_json(raw), CHAT_MODEL)


def test_chat_ocr() -> None:
    raw = chat(gateway(), "ocr", user(image_part(224, 64), "Text Recognition:"), max_tokens=8, temperature=0)
    check_completion(ok_json(raw), "ocr")


def stream_chunks(raw: Raw) -> list[Any]:
    """The chunks of an OpenAI stream: `data: <json>` events ending with `data: [DONE]`, nothing else."""
    assert raw.status == 200, f"{raw.url}: {raw.status} {raw.body[:800]!r}"
    assert raw.content_type.startswith("text/event-stream"), raw.content_type
    assert not raw.other_lines, f"lines that are no data event: {raw.other_lines[:5]}"
    assert raw.events and raw.events[-1] == "[DONE]", raw.events[-3:]
    assert raw.events.count("[DONE]") == 1, raw.events
    return [json.loads(e) for e in raw.events[:-1]]


@pytest.mark.parametrize("include_usage", [False, True], ids=["plain", "include_usage"])
@pytest.mark.parametrize("model", [CHAT_MODEL, "ocr"])
def test_chat_stream_chunks(model: str, include_usage: bool) -> None:
    params: dict[str, Any] = {"max_tokens": 6, "temperature": 0, "stream": True}
    if include_usage:
        params["stream_options"] = {"include_usage": True}
    messages = user(image_part(224, 64), "Text Recognition:") if model == "ocr" else user("Count to five.")
    src = gateway()
    raw = call(
        src.base + "/v1/chat/completions", {"model": model, "messages": messages, **params}, key=src.key, sse=True
    )
    chunks = stream_chunks(raw)
    assert len(chunks) >= 2, chunks
    found = []
    for i, chunk in enumerate(chunks):
        found += departures("CreateChatCompletionStreamResponse", chunk, "gateway", f"chunk {i}")
        if chunk.get("object") != "chat.completion.chunk" or chunk.get("model") != model:
            found.append(f"chunk {i}: object {chunk.get('object')!r}, model {chunk.get('model')!r}")
    if len({c["id"] for c in chunks}) != 1 or len({c["created"] for c in chunks}) != 1:
        found.append("the chunks of one stream differ in `id` or `created`")
    with_choices = [c for c in chunks if c["choices"]]
    if with_choices[0]["choices"][0]["delta"].get("role") != "assistant":
        found.append("the first chunk's delta has no role `assistant`")
    if with_choices[-1]["choices"][0].get("finish_reason") not in ("stop", "length"):
        found.append("the last chunk with a choice has no finish_reason")
    if include_usage:
        # OpenAI: one more chunk before [DONE], with the usage and no choices; every other chunk has `usage: null`.
        *body, last = chunks
        if last["choices"] != [] or not isinstance(last.get("usage"), dict):
            found.append(f"the last chunk is not OpenAI's usage chunk (`choices: []` and the usage): {last}")
        found += [f"chunk {i}: no `usage: null`" for i, c in enumerate(body) if "usage" not in c]
        found += [f"chunk {i}: usage before the last chunk" for i, c in enumerate(body) if c.get("usage")]
    else:
        # OpenAI: no usage at all, and every chunk carries a choice.
        found += [f"chunk {i}: no choice" for i, c in enumerate(chunks) if not c["choices"]]
        found += [f"chunk {i}: usage not asked for" for i, c in enumerate(chunks) if c.get("usage")]
    assert not found, "\n".join(found) + "\n" + "\n".join(raw.events)


# --- embeddings -----------------------------------------------------------------------------------------------


def embed(src: Source, encoding_format: str, text: str = "the same words") -> Raw:
    model = "embedding" if src.name == "gateway" else served_embedding_model()
    return src.post(
        "/v1/embeddings", {"model": model, "input": [text, "other words"], "encoding_format": encoding_format}
    )


@functools.cache
def served_embedding_model() -> str:
    return ok_json(embedding_server().get("/v1/models"))["data"][0]["id"]


def decode_base64(body: Any) -> Any:
    """The base64 answer with each `embedding` decoded to its floats (little-endian float32, as OpenAI's)."""
    data = []
    for item in body["data"]:
        packed = item["embedding"]
        assert isinstance(packed, str), f"a base64 embedding is a string, not {type(packed).__name__}"
        raw = base64.b64decode(packed, validate=True)
        assert len(raw) % 4 == 0 and raw, len(raw)
        data.append({**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))})
    return {**body, "data": data}


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.mark.parametrize("src", ["gateway", "embedding"])
def test_embeddings_float_and_base64(src: str) -> None:
    floats = ok_json(embed(source(src), "float"))
    packed = ok_json(embed(source(src), "base64"))
    decoded = decode_base64(packed)
    found = departures("CreateEmbeddingResponse", floats, src, "float")
    found += departures("CreateEmbeddingResponse", decoded, src, "base64, decoded")
    assert not found, "\n".join(found)
    assert floats["object"] == "list" and [d["index"] for d in floats["data"]] == [0, 1], floats
    if src == "gateway":
        assert floats["model"] == "embedding", floats["model"]
    assert {k: v for k, v in packed.items() if k not in ("data", "id", "created")} == {
        k: v for k, v in floats.items() if k not in ("data", "id", "created")
    }, "a base64 answer differs from the float one only in its vectors"
    for mine, theirs in zip(decoded["data"], floats["data"], strict=True):
        assert len(mine["embedding"]) == len(theirs["embedding"])
        if src == "gateway":  # the alias has two replicas: the two answers may come from different ones
            assert cosine(mine["embedding"], theirs["embedding"]) > 0.999
        else:
            assert max(abs(a - b) for a, b in zip(mine["embedding"], theirs["embedding"], strict=True)) <= 1e-6


# --- transcriptions -------------------------------------------------------------------------------------------


def transcribe(src: Source, audio: bytes, response_format: str, *extra: tuple[str, str]) -> Raw:
    fields = [("model", "asr"), ("response_format", response_format), *extra]
    data, content_type = multipart(fields, ("speech.wav", audio, "audio/wav"))
    return src.post("/v1/audio/transcriptions", None, raw_body=data, content_type=content_type)


@pytest.mark.parametrize("src", ["gateway", "asr"])
def test_transcription_json(src: str, speech: bytes) -> None:
    body = ok_json(transcribe(source(src), speech, "json"))
    check("CreateTranscriptionResponseJson", body, src)


@pytest.mark.parametrize("src", ["gateway", "asr"])
def test_transcription_verbose_json_words_and_segments(src: str, speech: bytes) -> None:
    granularities = [("timestamp_granularities[]", "word"), ("timestamp_granularities[]", "segment")]
    body = ok_json(transcribe(source(src), speech, "verbose_json", *granularities))
    check("CreateTranscriptionResponseVerboseJson", body, src)
    assert body["words"] and body["segments"], "both granularities were asked for"


# --- errors ---------------------------------------------------------------------------------------------------


def check_error(raw: Raw, status: int | tuple[int, ...], src: str) -> Any:
    body = error_json(raw, status)
    check("ErrorResponse", body, src, f"{src}: the {raw.status} of {raw.url}")
    assert body["error"]["message"], body
    return body["error"]


def test_error_401_without_the_key() -> None:
    check_error(call(gateway().base + "/v1/models", key="sk-not-the-key-0123456789"), 401, "gateway")


def test_error_404_unknown_route() -> None:
    check_error(gateway().get("/v1/no-such-route"), 404, "gateway")


def test_error_404_unknown_model() -> None:
    error = check_error(chat(gateway(), "no-such-model", user("hi"), max_tokens=1), 404, "gateway")
    assert error["code"] == "model_not_found", error


def test_error_400_from_the_guard() -> None:
    check_error(gateway().post("/v1/chat/completions", {"model": CHAT_MODEL, "messages": "hello"}), 400, "gateway")


def test_error_400_from_a_backend_chat() -> None:
    """vLLM refuses a max_tokens that leaves no room in the model's context for the prompt (below the guard's own
    cap on max_tokens, so the backend answers); the gateway passes the 400 on."""
    # The lab vLLM context: 4096 tokens (vllm_blackwell_lab_max_model_len); the guard caps at 8192 (litellm_max_tokens).
    error = check_error(chat(gateway(), CHAT_MODEL, user("hi"), max_tokens=8000), 400, "gateway")
    assert "LITELLM_LOCAL_MAX_TOKENS" not in error["message"], "the guard answered, not the backend"


def test_error_404_unknown_model_retrieve() -> None:
    error = check_error(gateway().get("/v1/models/no-such-model"), 404, "gateway")
    assert error["code"] == "model_not_found", error


def test_error_400_from_a_backend_embedding() -> None:
    """Our embedding server refuses more dimensions than the model has; the gateway passes the 400 on."""
    raw = gateway().post("/v1/embeddings", {"model": "embedding", "input": "x", "dimensions": 100_000})
    check_error(raw, 400, "gateway")


def test_error_400_from_a_backend_transcription() -> None:
    raw = transcribe(gateway(), b"this is not audio" * 50, "json")
    check_error(raw, 400, "gateway")


@pytest.mark.parametrize("src", ["asr", "embedding"])
def test_error_404_unknown_route_direct(src: str) -> None:
    check_error(source(src).get("/v1/no-such-route"), 404, src)


def test_error_400_direct_asr() -> None:
    check_error(transcribe(asr_server(), b"this is not audio" * 50, "json"), 400, "asr")


def test_error_400_direct_embedding() -> None:
    raw = embedding_server().post("/v1/embeddings", {"model": served_embedding_model(), "input": [{"colour": "red"}]})
    check_error(raw, 400, "embedding")


def test_error_404_unknown_model_direct_embedding() -> None:
    raw = embedding_server().post("/v1/embeddings", {"model": "no-such-model", "input": "x"})
    check_error(raw, 404, "embedding")
