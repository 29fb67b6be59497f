"""The response contract (services/gateway/.../response_contract.py): LiteLLM's answers rewritten to OpenAI's
published response schemas.

  * captured lab answers (fixtures/contract/gateway: what the lab's gateway sent before the rewriter) rewritten by
    the rules conform to the spec, keep every value the client reads, and the rules are idempotent; the captures
    themselves show today's departures, listed here one by one;
  * the stream rules: usage where OpenAI puts it, no empty chunks, one id and `created` per stream;
  * LiteLLM's own proxy application with the callback loaded, in front of a fake backend that replays captured
    vLLM, ASR-server and embedding-server answers (fixtures/contract/backend): every answer conforms, headers kept.

The spec is read from ../shared/openai-spec/ beside the checkout (tests/api/openai_schema.py); without it the
schema checks skip. Runs in .venv-gateway (see test_embeddings.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch when litellm is imported
import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
GATEWAY_SRC = HERE.parent / "src"
for path in (GATEWAY_SRC, ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from litellm_local_gateway import response_contract as rc  # noqa: E402

from tests.api import openai_schema  # noqa: E402

FIXTURES = HERE / "fixtures" / "contract"
needs_spec = pytest.mark.skipif(not openai_schema.spec_available(), reason="OpenAI's spec is not beside the checkout")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def conforms(schema: str, body: Any, what: str = "") -> None:
    openai_schema.assert_conforms(schema, body, what)
    extras = openai_schema.extra_fields(schema, body) - ALLOWED_EXTRAS.get(schema, set())
    assert not extras, f"{what or schema}: fields the schema does not define: {sorted(extras)}"


# The fields outside the schemas that the rewriter keeps (docs/openai-contract.md says why).
ALLOWED_EXTRAS = {"CreateTranscriptionResponseVerboseJson": {"task"}}


def departures(schema: str, body: Any) -> list[str]:
    if schema == "CreateEmbeddingResponse" and isinstance(body["data"][0]["embedding"], str):
        body = decoded(body)
    bodies = body if isinstance(body, list) else [body]
    found = []
    for i, one in enumerate(bodies):
        where = f"[{i}]" if isinstance(body, list) else ""
        found += [f"{where}{p}" for p in openai_schema.problems(schema, one)]
        extras = openai_schema.extra_fields(schema, one) - ALLOWED_EXTRAS.get(schema, set())
        found += [f"{where}{e}: not in the schema" for e in sorted(extras)]
    return found


def chunks_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    assert record["events"][-1] == "[DONE]"
    return [json.loads(e) for e in record["events"][:-1]]


def stream(chunks: list[dict[str, Any]], include_usage: bool, model: str | None = None) -> list[dict[str, Any]]:
    shaper = rc.ChunkStream(include_usage, model)
    out = [c for chunk in chunks for c in shaper.feed(chunk)]
    return out + shaper.finish()


def decoded(body: dict[str, Any]) -> dict[str, Any]:
    data = []
    for item in body["data"]:
        raw = base64.b64decode(item["embedding"])
        data.append({**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))})
    return {**body, "data": data}


# --- captured lab answers -----------------------------------------------------------------------------------

# Each capture of fixtures/contract/gateway (the lab's gateway before the rewriter): the schema it answers to.
SCHEMAS = {
    "chat-plain": "CreateChatCompletionResponse",
    "chat-image": "CreateChatCompletionResponse",
    "chat-ocr": "CreateChatCompletionResponse",
    "stream-completions": "CreateChatCompletionStreamResponse",
    "stream-completions-usage": "CreateChatCompletionStreamResponse",
    "stream-ocr": "CreateChatCompletionStreamResponse",
    "stream-ocr-usage": "CreateChatCompletionStreamResponse",
    "embeddings-float": "CreateEmbeddingResponse",
    "embeddings-base64": "CreateEmbeddingResponse",
    "models": "ListModelsResponse",
    "model": "Model",
    "model-404": "ErrorResponse",
    "transcription-json": "CreateTranscriptionResponseJson",
    "transcription-verbose": "CreateTranscriptionResponseVerboseJson",
    "error-401": "ErrorResponse",
    "error-404-route": "ErrorResponse",
    "error-404-model": "ErrorResponse",
    "error-400-guard": "ErrorResponse",
    "error-400-backend-chat": "ErrorResponse",
    "error-400-backend-embedding": "ErrorResponse",
    "error-400-backend-transcription": "ErrorResponse",
}
# What each capture breaks today (docs/openai-contract.md): the first words of each departure.
DEPARTURES_TODAY = {
    "chat-plain": [
        "choices[].message.provider_specific_fields: not in the schema",
        "choices[].provider_specific_fields: not in the schema",
    ],
    "stream-completions": ["'finish_reason' is a required property"],
    "stream-completions-usage": [
        "'finish_reason' is a required property",
        "usage on a chunk with a choice",
        "no `usage: null`",
    ],
    "embeddings-float": [
        "usage.completion_tokens: not in the schema",
        "usage.completion_tokens_details: not in the schema",
        "usage.prompt_tokens_details: not in the schema",
    ],
    "models": [
        "data[].max_input_tokens: not in the schema",
        "data[].max_output_tokens: not in the schema",
        "data[].mode: not in the schema",
    ],
    "model": ["max_input_tokens: not in the schema", "max_output_tokens: not in the schema"],
    "model-404": ["(the body): 'error' is a required property", "detail: not in the schema"],
}
DEPARTURES_TODAY["chat-image"] = DEPARTURES_TODAY["chat-ocr"] = DEPARTURES_TODAY["chat-plain"]
DEPARTURES_TODAY["stream-ocr"] = DEPARTURES_TODAY["stream-completions"]
DEPARTURES_TODAY["stream-ocr-usage"] = DEPARTURES_TODAY["stream-completions-usage"]
DEPARTURES_TODAY["embeddings-base64"] = DEPARTURES_TODAY["embeddings-float"]
PATHS = {"models": "/v1/models", "model": "/v1/models/completions", "model-404": "/v1/models/no-such-model"}


def body_of(name: str) -> Any:
    """The capture's body: JSON, or a stream's chunks."""
    record = fixture(f"gateway/{name}")
    return chunks_of(record) if record.get("events") else record["body"]


def rewritten(name: str) -> Any:
    """What the rewriter makes of capture `name`, through the rule the gateway applies to it."""
    record = fixture(f"gateway/{name}")
    body = body_of(name)
    if name.startswith("chat-"):
        return rc.chat_completion(body)
    if name.startswith("stream-"):
        return stream(body, include_usage=name.endswith("-usage"))
    if name.startswith("embeddings-"):
        return rc.embedding_list(body)
    method = "POST" if name.startswith(("transcription", "error-400")) else "GET"
    path = PATHS.get(name, "/v1/audio/transcriptions" if "transcription" in name else "/v1/chat/completions")
    rule = rc.body_rule(method, path, record["status"])
    assert rule is not None, name
    return rule(body)


def stream_departures(chunks: list[dict[str, Any]], include_usage: bool) -> list[str]:
    """OpenAI's stream rules that no schema states (see tests/api/test_contract.py)."""
    found = []
    if include_usage:
        *body, last = chunks
        if last["choices"] or not last.get("usage"):
            found.append("usage on a chunk with a choice")
        if any("usage" not in c for c in body):
            found.append("no `usage: null`")
    elif any(not c["choices"] or c.get("usage") for c in chunks):
        found.append("usage not asked for")
    return found


def all_departures(name: str, body: Any) -> list[str]:
    found = departures(SCHEMAS[name], body)
    if name.startswith("stream-"):
        found += stream_departures(body, name.endswith("-usage"))
    return found


@needs_spec
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_captured_answer_departs_as_recorded(name: str) -> None:
    found = all_departures(name, body_of(name))
    expected = DEPARTURES_TODAY.get(name, [])
    assert all(any(e in f for f in found) for e in expected), (expected, found)
    assert all(any(e in f for e in expected) for f in found), (expected, found)


@needs_spec
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_captured_answer_rewritten_conforms(name: str) -> None:
    out = rewritten(name)
    assert not all_departures(name, out), all_departures(name, out)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_rewrite_keeps_what_clients_read(name: str) -> None:
    before, after = body_of(name), rewritten(name)
    if name.startswith("chat-"):
        for old, new in zip(before["choices"], after["choices"], strict=True):
            assert new["message"]["content"] == old["message"]["content"]
            assert new["finish_reason"] == old["finish_reason"]
        assert {k: after[k] for k in ("id", "created", "model", "system_fingerprint")} == {
            k: before[k] for k in ("id", "created", "model", "system_fingerprint")
        }
        assert after["usage"] == {k: before["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    elif name.startswith("stream-"):
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in before if c["choices"])
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in after if c["choices"]) == text
        finish = [c["choices"][0].get("finish_reason") for c in before if c["choices"]]
        assert [c["choices"][0]["finish_reason"] for c in after if c["choices"]][-1] == next(f for f in finish if f)
        usage = [c["usage"] for c in before if c.get("usage")]
        assert [c["usage"] for c in after if c.get("usage")] == usage
    elif name.startswith("embeddings-"):
        assert [d["embedding"] for d in after["data"]] == [d["embedding"] for d in before["data"]]
        assert after["usage"] == {k: before["usage"][k] for k in ("prompt_tokens", "total_tokens")}
    elif name.startswith("transcription"):
        assert {k: v for k, v in after.items()} == {k: v for k, v in before.items() if k in after}
    elif name == "models":
        assert after["data"] == [{k: m[k] for k in ("id", "object", "created", "owned_by")} for m in before["data"]]
    elif "error" in after:
        old = before.get("error") or {"message": before.get("detail")}
        assert after["error"]["message"] == old["message"]
    else:
        assert after == {k: v for k, v in before.items() if k in after}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_rules_are_idempotent(name: str) -> None:
    out = rewritten(name)
    if name.startswith("chat-"):
        assert rc.chat_completion(out) == out
    elif name.startswith("stream-"):
        assert stream(out, include_usage=name.endswith("-usage")) == out
    elif name.startswith("embeddings-"):
        assert rc.embedding_list(out) == out
    elif name == "models":
        assert rc.model_list(out) == out
    elif name == "model":
        assert rc.model(out) == out
    elif name.startswith("transcription"):
        assert rc.transcription_any(out) == out
    else:
        assert rc.error(out, fixture(f"gateway/{name}")["status"]) == out


# --- the stream rules, on LiteLLM's chunk shapes ------------------------------------------------------------------

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764600000, "model": "completions"}


def litellm_chunks(usage: bool) -> list[dict[str, Any]]:
    """The chunks LiteLLM 1.108.7 dumps for a vLLM stream (model_dump_with_preserved_fields of each chunk): no
    finish_reason until the last choice, usage on a chunk with an empty choice (also when the client did not ask
    for it: LiteLLM asks the backend itself, for its spend tracking)."""
    out = [
        {**HEAD, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {**HEAD, "choices": [{"index": 0, "delta": {"content": "hel"}}]},
        {**HEAD, "choices": [{"index": 0, "delta": {"content": "lo", "provider_specific_fields": {"x": 1}}}]},
        {**HEAD, "choices": [{"index": 0, "delta": {"content": None}, "finish_reason": "length"}]},
    ]
    last = {**HEAD, "choices": [{"index": 0, "delta": {"content": None}}], "system_fingerprint": None}
    if usage:
        last["usage"] = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    return [*out, last]


@needs_spec
@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_chunks_conform_and_carry_usage_as_openai_does(include_usage: bool) -> None:
    out = stream(litellm_chunks(usage=True), include_usage)
    for chunk in out:
        conforms("CreateChatCompletionStreamResponse", chunk)
    assert [c["choices"][0]["delta"].get("content") for c in out if c["choices"]] == ["", "hel", "lo", None]
    assert [c["choices"][0]["finish_reason"] for c in out if c["choices"]] == [None, None, None, "length"]
    if include_usage:
        assert out[-1]["choices"] == [] and out[-1]["usage"]["total_tokens"] == 13
        assert all(c["usage"] is None for c in out[:-1])
    else:
        assert all(c["choices"] for c in out) and not any("usage" in c for c in out)


def test_a_stream_has_one_id_created_and_model() -> None:
    chunks = litellm_chunks(usage=True)
    chunks[2] = {**chunks[2], "id": "other", "created": 1, "model": "hosted_vllm/completions"}
    out = stream(chunks, include_usage=True, model="completions")
    assert {(c["id"], c["created"], c["model"]) for c in out} == {("chatcmpl-1", 1764600000, "completions")}


def test_usage_on_a_chunk_with_a_choice_moves_to_the_last_chunk() -> None:
    chunks = litellm_chunks(usage=False)[:4]
    chunks[3] = {**chunks[3], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    out = stream(chunks, include_usage=True)
    assert out[-2]["choices"][0]["finish_reason"] == "length" and out[-2]["usage"] is None
    assert out[-1] == {**HEAD, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}


def test_no_usage_seen_no_usage_chunk_invented() -> None:
    out = stream(litellm_chunks(usage=False), include_usage=True)
    assert all(c["choices"] for c in out)


def test_tool_call_chunks_keep_their_pieces() -> None:
    chunk = {
        **HEAD,
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
                    ],
                },
            }
        ],
    }
    follow = {
        **HEAD,
        "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}],
    }
    out = stream([chunk, follow], include_usage=False)
    assert out[0]["choices"][0]["delta"]["tool_calls"] == chunk["choices"][0]["delta"]["tool_calls"]
    assert out[1]["choices"][0]["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}


def test_client_wants_usage_only_when_it_asked() -> None:
    assert rc.client_wants_usage({"stream_options": {"include_usage": True}})
    assert not rc.client_wants_usage({"stream_options": {"include_usage": True}, "_litellm_strip_stream_usage": True})
    assert not rc.client_wants_usage({"stream": True})


# --- errors -----------------------------------------------------------------------------------------------------


@needs_spec
@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"detail": "The model `x` does not exist"},
            404,
            ("The model `x` does not exist", "invalid_request_error", "404"),
        ),
        (
            {"detail": [{"loc": ["body"], "msg": "bad"}]},
            422,
            ('[{"loc": ["body"], "msg": "bad"}]', "invalid_request_error", "422"),
        ),
        ({"error": {"message": "m", "type": "t", "param": "p", "code": 400}}, 400, ("m", "t", "400")),
        ({"error": {"message": "m", "type": "None", "code": None}}, 400, ("m", "invalid_request_error", "400")),
        ({"error": {"message": {"a": 1}, "type": "server_error"}}, 500, ('{"a": 1}', "server_error", "500")),
        ({"error": {"message": "slow down"}}, 429, ("slow down", "rate_limit_exceeded", "429")),
        (
            {"object": "error", "message": "vLLM's", "type": "BadRequestError", "code": 400},
            400,
            ("vLLM's", "invalid_request_error", "400"),
        ),
        ("Internal Server Error", 500, ("Internal Server Error", "server_error", "500")),
    ],
)
def test_errors_in_openai_shape(body: Any, status: int, expected: tuple[str, str, str]) -> None:
    out = rc.error(body, status)
    conforms("ErrorResponse", out)
    assert (out["error"]["message"], out["error"]["type"], out["error"]["code"]) == expected
    assert rc.error(out, status) == out


def test_an_unknown_model_is_model_not_found_unless_the_body_says_otherwise() -> None:
    assert rc.model_not_found({"detail": "The model `x` does not exist"})["error"] == {
        "message": "The model `x` does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    kept = rc.model_not_found({"error": {"message": "m", "param": "path", "code": "no_such_route"}})["error"]
    assert (kept["param"], kept["code"]) == ("path", "no_such_route")


# --- LiteLLM's proxy with the callback, in front of a fake backend replaying captured answers -------------------


class Backend(ThreadingHTTPServer):
    """The lab's backends, replayed: vLLM's chat completions (plain, streamed, its 400), the embedding server's
    answers and the ASR server's, each as captured (fixtures/contract/backend)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Replay)
        self.seen: list[tuple[str, bytes]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answer(self, path: str, body: bytes) -> dict[str, Any]:
        self.seen.append((path, body))
        if path.endswith("/chat/completions"):
            request = json.loads(body)
            if (request.get("max_tokens") or 0) > 1_000_000:
                return fixture("backend/vllm-chat-400")
            if request.get("stream"):
                usage = (request.get("stream_options") or {}).get("include_usage")
                return fixture("backend/vllm-chat-stream-usage" if usage else "backend/vllm-chat-stream")
            return fixture("backend/vllm-chat")
        if path.endswith("/embeddings"):
            request = json.loads(body)
            record = fixture(
                "backend/embed-base64" if request.get("encoding_format") == "base64" else "backend/embed-float"
            )
            return {**record, "body": {**record["body"], "data": record["body"]["data"][:1]}}  # one input a request
        if path.endswith("/audio/transcriptions"):
            verbose = b'name="response_format"\r\n\r\nverbose_json' in body
            return fixture("backend/asr-verbose" if verbose else "backend/asr-json")
        return {"status": 404, "content_type": "application/json", "body": {"detail": "Not Found"}}


class _Replay(BaseHTTPRequestHandler):
    server: Backend

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        record = self.server.answer(self.path, body)
        if record.get("events") is not None:
            data = b"".join(f"data: {e}\n\n".encode() for e in record["events"])
            content_type = "text/event-stream"
        else:
            data = json.dumps(record["body"]).encode()
            content_type = "application/json"
        self.send_response(record["status"])
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.shutdown()


@pytest.fixture
def gateway(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """LiteLLM's proxy app as the lab's config sets it up (litellm.yaml.j2), with or without the callback."""
    import litellm
    import litellm.proxy.proxy_server as proxy_server
    from litellm import Router
    from litellm.utils import custom_llm_setup
    from litellm_local_gateway import asr, embeddings

    monkeypatch.setattr(
        litellm, "custom_provider_map", [{"provider": embeddings.PROVIDER, "custom_handler": embeddings.handler}]
    )
    custom_llm_setup()
    model_list = [
        {
            "model_name": "completions",
            "litellm_params": {"model": "hosted_vllm/completions", "api_base": backend.url, "num_retries": 0},
            "model_info": {"id": "completions@lab-a"},
        },
        {
            "model_name": "embedding",
            "litellm_params": {
                "model": "litellm-local-embed/embedding",
                "api_base": backend.url,
                "allowed_openai_params": ["dimensions", "encoding_format", "user", "instruction"],
            },
            "model_info": {"id": "embedding-pascal@lab-b", "mode": "embedding"},
        },
        {
            "model_name": "asr",
            "litellm_params": {"model": "hosted_vllm/asr", "api_base": backend.url, "api_key": "unused"},
            "model_info": {"id": "asr@lab-a", "mode": "audio_transcription"},
        },
    ]
    monkeypatch.setattr(proxy_server, "llm_router", Router(model_list=model_list, num_retries=0))
    monkeypatch.setattr(proxy_server, "master_key", None)
    asr.install(proxy_server.app)
    rc.uninstall(proxy_server.app)
    yield proxy_server.app


@pytest.fixture
def contract(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The gateway with the callback loaded (as LiteLLM loads `litellm_settings.callbacks`), removed afterwards."""
    import litellm

    callback = rc.ResponseContract()
    monkeypatch.setattr(litellm, "callbacks", [*litellm.callbacks, callback])
    yield gateway
    rc.uninstall(gateway)


def request(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def sse_chunks(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]", events
    return [json.loads(e) for e in events[:-1]]


CHAT = {"model": "completions", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}


def transcribe(app: Any, response_format: str, *granularities: str) -> httpx.Response:
    data: dict[str, Any] = {"model": "asr", "response_format": response_format}
    if granularities:
        data["timestamp_granularities[]"] = list(granularities)
    return request(app, "POST", "/v1/audio/transcriptions", data=data, files={"file": ("a.wav", b"RIFF", "audio/wav")})


def answers(app: Any) -> dict[str, tuple[str, Any]]:
    """Every kind of answer the gateway gives, from `app`: {name: (schema, parsed body or chunks)}."""
    out: dict[str, tuple[str, Any]] = {}
    response = request(app, "POST", "/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    out["chat"] = ("CreateChatCompletionResponse", response.json())
    for name, extra in (("stream", {}), ("stream-usage", {"stream_options": {"include_usage": True}})):
        response = request(app, "POST", "/v1/chat/completions", json={**CHAT, "stream": True, **extra})
        out[name] = ("CreateChatCompletionStreamResponse", sse_chunks(response))
    response = request(app, "POST", "/v1/chat/completions", json={**CHAT, "max_tokens": 10_000_000})
    assert response.status_code == 400, response.text
    out["chat-400"] = ("ErrorResponse", response.json())
    for fmt in ("float", "base64"):
        body = {"model": "embedding", "input": ["a", "b"], "encoding_format": fmt}
        response = request(app, "POST", "/v1/embeddings", json=body)
        assert response.status_code == 200, response.text
        out[f"embeddings-{fmt}"] = ("CreateEmbeddingResponse", response.json())
    response = transcribe(app, "json")
    assert response.status_code == 200, response.text
    out["transcription"] = ("CreateTranscriptionResponseJson", response.json())
    response = transcribe(app, "verbose_json", "word", "segment")
    assert response.status_code == 200, response.text
    out["transcription-verbose"] = ("CreateTranscriptionResponseVerboseJson", response.json())
    response = request(app, "GET", "/v1/models")
    out["models"] = ("ListModelsResponse", response.json())
    response = request(app, "GET", "/v1/models/completions")
    out["model"] = ("Model", response.json())
    response = request(app, "GET", "/v1/models/no-such-model")
    assert response.status_code == 404, response.text
    out["model-404"] = ("ErrorResponse", response.json())
    return out


@needs_spec
def test_through_litellm_with_the_callback_every_answer_conforms(contract: Any) -> None:
    got = answers(contract)
    failures = {name: departures(schema, body) for name, (schema, body) in got.items()}
    failures["stream"] += stream_departures(got["stream"][1], include_usage=False)
    failures["stream-usage"] += stream_departures(got["stream-usage"][1], include_usage=True)
    assert not any(failures.values()), json.dumps({k: v for k, v in failures.items() if v}, indent=1)
    chunks = got["stream-usage"][1]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(c["choices"] and "usage" not in c for c in got["stream"][1])
    assert got["model-404"][1]["error"]["code"] == "model_not_found"


@needs_spec
def test_through_litellm_without_the_callback_answers_depart(gateway: Any) -> None:
    """Today's LiteLLM: the departures the callback exists for (docs/openai-contract.md)."""
    got = answers(gateway)
    failures = {name: departures(schema, body) for name, (schema, body) in got.items()}
    assert "usage on a chunk with a choice" in stream_departures(got["stream-usage"][1], include_usage=True)
    departing = {name for name, found in failures.items() if found}
    assert {"chat", "stream", "stream-usage", "embeddings-float", "embeddings-base64", "model-404"} <= departing


def test_the_callback_keeps_litellms_headers(contract: Any) -> None:
    response = request(contract, "POST", "/v1/chat/completions", json=CHAT)
    assert response.headers["x-litellm-model-id"] == "completions@lab-a"
    assert int(response.headers["content-length"]) == len(response.content)


def test_the_config_name_resolves_to_the_callback() -> None:
    """litellm.yaml.j2 lists `litellm_local_gateway.response_contract.response_contract`: LiteLLM's own loader finds
    one CustomLogger there, which wraps the proxy's application."""
    import litellm.proxy.proxy_server as proxy_server
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.proxy.types_utils.utils import get_instance_fn

    try:
        callback = get_instance_fn("litellm_local_gateway.response_contract.response_contract")
        assert isinstance(callback, CustomLogger)
        assert callback is rc.response_contract
        assert proxy_server.app._litellm_local_response_contract is not None
    finally:
        rc.uninstall(proxy_server.app)


# --- the ASGI wrapper ---------------------------------------------------------------------------------------------


def asgi_app(status: int, content_type: bytes, parts: list[bytes]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})

    return rc.ResponseRewriter(app)


def test_the_wrapper_rewrites_a_json_error_in_pieces_with_its_length() -> None:
    response = request(
        asgi_app(404, b"application/json", [b'{"detail": "The model', b' `x` is unknown"}']), "GET", "/v1/x"
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": {"message": "The model `x` is unknown", "type": "invalid_request_error", "param": None, "code": "404"}
    }
    assert int(response.headers["content-length"]) == len(response.content)


def test_the_wrapper_leaves_other_answers_alone() -> None:
    for status, content_type, path in (
        (200, b"application/json", "/v1/chat/completions"),
        (500, b"text/plain", "/v1/x"),
    ):
        response = request(asgi_app(status, content_type, [b"{not json", b"}"]), "GET", path)
        assert response.content == b"{not json}"
    response = request(asgi_app(500, b"application/json", [b"{not json"]), "GET", "/v1/x")
    assert response.content == b"{not json"  # a body that is no JSON after all passes as it was


def test_the_wrapper_passes_a_huge_body_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rc, "MAX_REWRITTEN_BYTES", 10)
    parts = [b'{"detail": "', b"x" * 20, b'"}']
    response = request(asgi_app(400, b"application/json", parts), "GET", "/v1/x")
    assert response.content == b"".join(parts)


@needs_spec
def test_tool_calls_and_logprobs_in_a_completion_conform_and_stay() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    token = {
        "token": "a",
        "logprob": -0.5,
        "bytes": [97],
        "top_logprobs": [{"token": "a", "logprob": -0.5, "bytes": [97]}],
    }
    body = {
        "id": "chatcmpl-1",
        "created": 1764600000,
        "model": "completions",
        "object": "chat.completion",
        "system_fingerprint": None,
        "choices": [
            {
                "finish_reason": "tool_calls",
                "index": 0,
                "message": {"content": None, "role": "assistant", "tool_calls": [call], "function_call": None},
                "logprobs": {"content": [token]},
                "provider_specific_fields": {"stop_reason": None},
            }
        ],
        "usage": {"completion_tokens": 1, "prompt_tokens": 2, "total_tokens": 3, "prompt_tokens_details": None},
    }
    out = rc.chat_completion(body)
    conforms("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["tool_calls"] == [call]
    assert out["choices"][0]["logprobs"] == {"content": [token], "refusal": None}
    assert "system_fingerprint" not in out and out["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": 1,
        "total_tokens": 3,
    }
