"""The gateway's request guard (services/gateway: guard.py, jsonbody.py, policy.py, media.py, settings.py), run
around a tiny fake ASGI app: no LiteLLM, FastAPI or Starlette needed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

GATEWAY_SRC = Path(__file__).resolve().parents[2] / "services" / "gateway" / "src"
COMMON_SRC = GATEWAY_SRC.parents[1] / "common" / "src"  # litellm-local-common, which the gateway imports
for src in (COMMON_SRC, GATEWAY_SRC):
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))

from litellm_local_gateway.contract import contract_route  # noqa: E402
from litellm_local_gateway.guard import RequestGuard, install  # noqa: E402
from litellm_local_gateway.media import media_url_problem  # noqa: E402
from litellm_local_gateway.models import Catalog, deployment_modes, live_catalog  # noqa: E402
from litellm_local_gateway.policy import count_embedding_inputs, route_kind  # noqa: E402
from litellm_local_gateway.settings import GatewaySettings, parse_domains  # noqa: E402

CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"
JSON = [(b"content-type", b"application/json")]
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


class FakeApp:
    """Reads the whole body as an ASGI app does, remembers scope and body, answers 200 (or a canned answer)."""

    def __init__(self, status: int = 200, answer: bytes = b'{"ok": true}') -> None:
        self.calls: list[tuple[dict[str, Any], bytes]] = []
        self.status = status
        self.answer = answer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        if scope["method"] in ("POST", "PUT"):
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        self.calls.append((dict(scope), b"".join(chunks)))
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": self.answer})


class Result:
    def __init__(self, messages: list[dict[str, Any]], app: FakeApp, received: int) -> None:
        start = messages[0]
        self.status: int = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in messages[1:])
        self.app = app
        self.received = received  # body messages the guard (or app) took from the client

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        body = self.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["code"] == str(self.status)
        assert self.headers["content-type"] == "application/json"
        return body["error"]


def run(
    body: bytes | Iterable[bytes] = b"",
    *,
    path: str = CHAT,
    method: str = "POST",
    headers: list[tuple[bytes, bytes]] | None = None,
    settings: GatewaySettings | None = None,
    app: FakeApp | None = None,
    disconnect: bool = False,
    catalog: Catalog | None = None,
) -> Result:
    """One request through RequestGuard(app); `body` as one chunk or an iterable of chunks; `catalog`: the served
    models (none: no model check)."""
    app = app or FakeApp()
    guard = RequestGuard(app, settings or GatewaySettings(), None if catalog is None else lambda: catalog)
    chunks: Iterator[bytes] = iter([body]) if isinstance(body, bytes) else iter(body)
    pending = next(chunks, b"")
    received = 0
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": JSON if headers is None else headers,
    }

    async def receive() -> dict[str, Any]:
        nonlocal pending, received
        if disconnect and received:
            return {"type": "http.disconnect"}
        received += 1
        chunk, pending = pending, next(chunks, None)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    if not sent:
        return None  # type: ignore[return-value]
    return Result(sent, app, received)


def chat(**fields: Any) -> bytes:
    return json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def image_message(*urls: Any) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": "describe"}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": content}]


# --- bodies that are not one JSON object ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"text/plain")],
        [],
        [(b"content-type", b"application/json; charset=utf-8")],
        [(b"content-type", b"application/x-protobuf")],
    ],
    ids=["text-plain", "no-content-type", "json", "protobuf"],
)
def test_a_json_list_is_refused_whatever_the_content_type(headers: list[tuple[bytes, bytes]]) -> None:
    result = run(b"[1, 2]", headers=headers)
    assert result.status == 400
    error = result.error
    assert "must be a JSON object, not a JSON list" in error["message"]
    assert error["param"] == "request_body"
    assert not result.app.calls


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "Expecting property name"),
        (b"   ", "Expecting value"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'"text"', "not a JSON str"),
    ],
)
def test_a_body_that_is_not_json_gets_400_naming_the_problem(body: bytes, words: str) -> None:
    result = run(body, headers=[(b"content-type", b"text/plain")])
    assert result.status == 400
    assert words in result.error["message"]
    assert not result.app.calls


# Time limits are in CPU time (time.process_time): a busy test machine adds wall time, not CPU time.


def test_deep_nesting_is_refused_without_recursing() -> None:
    for body in (b"[" * 10000 + b"]" * 10000, b'{"a":' * 10000 + b"1" + b"}" * 10000, b"[" * 50_000):
        started = time.process_time()
        result = run(body)
        assert time.process_time() - started < 1.0
        assert result.status == 400
        assert "deeper than 32 levels (LITELLM_LOCAL_MAX_JSON_DEPTH)" in result.error["message"]


def test_nesting_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    def nested(levels: int) -> bytes:  # an object holding arrays: `levels` levels in all
        prefix = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": '
        return prefix + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"

    assert run(nested(32)).status == 200
    assert run(nested(33)).status == 400
    assert run(nested(4), settings=GatewaySettings(max_json_depth=3)).status == 400
    inside = chat(text="[" * 100 + '{"\\"' + "]" * 5)
    assert run(inside).status == 200


def test_too_many_containers_are_refused() -> None:
    body = chat(x=[[] for _ in range(1000)])
    result = run(body, settings=GatewaySettings(max_json_containers=1000))
    assert result.status == 400
    assert "LITELLM_LOCAL_MAX_JSON_CONTAINERS" in result.error["message"]
    assert run(body).status == 200


# --- body size -----------------------------------------------------------------------------------------------


def test_a_20_mb_body_gets_413_fast_and_is_not_read_to_its_end() -> None:
    chunk = b"x" * 4096
    count = 20 * 1024 * 1024 // len(chunk)
    started = time.process_time()
    result = run((chunk for _ in range(count)), headers=[(b"content-type", b"text/plain")])
    assert time.process_time() - started < 1.0
    assert result.status == 413
    error = result.error
    assert "larger than 16777216 bytes (LITELLM_LOCAL_MAX_BODY_BYTES)" in error["message"]
    assert error["param"] == "request_body"
    assert result.received <= 16 * 1024 * 1024 // len(chunk) + 1
    assert not result.app.calls


def test_a_declared_length_over_the_cap_gets_413_before_any_read() -> None:
    headers = [*JSON, (b"content-length", str(20 * 1024 * 1024).encode())]
    result = run(iter(()), headers=headers)
    assert result.status == 413
    assert result.received == 0


def test_a_large_body_in_small_chunks_is_read_in_linear_time_and_passed_on_intact() -> None:
    image = "data:image/png;base64," + "A" * (15 * 1024 * 1024)
    body = json.dumps({"model": "chat", "messages": image_message(image)}).encode()
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    started = time.process_time()
    result = run(chunks)
    assert time.process_time() - started < 1.0
    assert result.status == 200
    assert result.app.calls[0][1] == body


# --- pass-through --------------------------------------------------------------------------------------------


def test_a_valid_request_passes_with_its_body_intact() -> None:
    body = b'{"model": "chat",\n "messages": [{"role": "user", "content": "h\\u00e9"}], "n": 2, "max_tokens": 16}'
    result = run([body[:10], body[10:]])
    assert result.status == 200
    assert result.json() == {"ok": True}
    ((scope, seen),) = result.app.calls
    assert seen == body
    assert scope["path"] == CHAT


def test_an_empty_body_and_other_methods_pass() -> None:
    assert run(b"").status == 200
    result = run(b"", method="GET", path="/v1/models")
    assert result.status == 200
    assert result.received == 0  # a GET's body is not read by the guard


def test_a_client_that_leaves_mid_body_gets_nothing() -> None:
    assert run([b'{"model":', b' "m"}'], disconnect=True) is None


def test_forms_pass_on_form_routes_and_are_refused_on_json_routes() -> None:
    form = [(b"content-type", b"multipart/form-data; boundary=x")]
    result = run(b"--x--\r\n", path="/v1/audio/transcriptions", headers=form)
    assert result.status == 200
    assert result.app.calls[0][1] == b"--x--\r\n"
    for path in (CHAT, EMBED, "/v1/completions"):
        refused = run(b"n=100", path=path, headers=[(b"content-type", b"application/x-www-form-urlencoded")])
        assert refused.status == 400
        assert refused.error["param"] == "content-type"


def test_a_422_answer_becomes_an_openai_400() -> None:
    app = FakeApp(422, b'{"detail": [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]}')
    result = run(b"", app=app)
    assert result.status == 400
    assert result.error["param"] == "file"
    assert "missing required field `file`" in result.error["message"]


# --- duplicate headers ---------------------------------------------------------------------------------------


def test_the_first_content_type_is_the_one_read() -> None:
    twice = [(b"content-type", b"application/json"), (b"content-type", b"multipart/form-data; boundary=x")]
    assert run(b"[1, 2]", headers=twice).status == 400
    twice = [(b"content-type", b"text/plain"), (b"content-type", b"multipart/form-data; boundary=x")]
    assert run(b"[1, 2]", headers=twice).status == 400


def test_later_duplicates_are_dropped_from_the_scope_litellm_sees() -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer first"),
        (b"x-other", b"1"),
        (b"content-type", b"multipart/form-data; boundary=x"),
        (b"Authorization", b"Bearer second"),
        (b"content-length", b"13"),
        (b"content-length", b"99"),
        (b"x-other", b"2"),
    ]
    result = run(b'{"model":"m"}', headers=headers, path="/v1/completions")
    assert result.status == 200
    scope = result.app.calls[0][0]
    assert scope["headers"] == [
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer first"),
        (b"x-other", b"1"),
        (b"content-length", b"13"),
        (b"x-other", b"2"),  # headers that may repeat are left alone
    ]
    got = run(b"", method="GET", path="/v1/models", headers=headers)
    assert [v for k, v in got.app.calls[0][0]["headers"] if k == b"authorization"] == [b"Bearer first"]


# --- per-request caps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param", "variable"),
    [
        ({"n": 9}, "n", "LITELLM_LOCAL_MAX_N"),
        ({"n": "9"}, "n", "LITELLM_LOCAL_MAX_N"),
        ({"best_of": 100}, "best_of", "LITELLM_LOCAL_MAX_N"),
        ({"max_tokens": 8193}, "max_tokens", "LITELLM_LOCAL_MAX_TOKENS"),
        ({"max_completion_tokens": 1e9}, "max_completion_tokens", "LITELLM_LOCAL_MAX_TOKENS"),
        ({"max_tokens": 10**400}, "max_tokens", "LITELLM_LOCAL_MAX_TOKENS"),
    ],
)
def test_generation_caps(fields: dict[str, Any], param: str, variable: str) -> None:
    for path in (CHAT, "/chat/completions", "/v1/completions", "/openai/deployments/chat/chat/completions"):
        result = run(chat(**fields), path=path)
        assert result.status == 400, path
        assert result.error["param"] == param
        assert variable in result.error["message"]
        assert not result.app.calls


def test_generation_caps_at_the_limit_pass() -> None:
    assert run(chat(n=8, max_tokens=8192, max_completion_tokens=8192)).status == 200
    assert run(chat(n=None, max_tokens=None)).status == 200
    assert run(chat(n=True)).error["param"] == "n"  # a boolean is no number (the contract's rule, not the cap's)
    embedding = json.dumps({"model": "embedding", "input": "x", "n": 9}).encode()
    assert run(embedding, path=EMBED).status == 200  # `n` is a generation cap only
    assert run(chat(n=3), settings=GatewaySettings(max_n=2)).status == 400


def test_image_count_cap() -> None:
    assert run(chat(messages=image_message(*[DATA_URL] * 8))).status == 200
    messages = image_message(*[DATA_URL] * 5) + image_message(*[DATA_URL] * 4)
    result = run(chat(messages=messages))
    assert result.status == 400
    assert result.error["param"] == "messages"
    assert "9 images" in result.error["message"]
    assert "LITELLM_LOCAL_MAX_IMAGES" in result.error["message"]


def test_embedding_input_cap() -> None:
    def embed(items: Any) -> bytes:
        return json.dumps({"model": "embedding", "input": items}).encode()

    assert run(embed(["x"] * 256), path=EMBED).status == 200
    assert run(embed(list(range(5000))), path=EMBED).status == 200  # one input given as token ids
    for path in (EMBED, "/embeddings"):
        result = run(embed(["x"] * 257), path=path)
        assert result.status == 400
        assert result.error["param"] == "input"
        assert "LITELLM_LOCAL_MAX_EMBEDDING_INPUTS" in result.error["message"]
    assert run(embed([[1, 2]] * 257), path=EMBED).status == 400
    assert run(embed(["x"] * 257), path="/v1/completions").status == 200


def test_token_id_lists_the_proxy_cannot_decode_are_400_naming_input() -> None:
    # Found by tests/api/test_schemathesis_gateway.py: {"input": [[-1]]} (valid per OpenAI's schema) was a 500, as
    # was any id cl100k_base lacks: LiteLLM's proxy decodes a list of token-id lists with that tokenizer.
    def embed(items: Any) -> bytes:
        return json.dumps({"model": "embedding", "input": items}).encode()

    for items, where in (
        ([[-1]], "input[0][0]"),
        ([[1, 2], [3, 100256]], "input[1][1]"),
        ([[100261]], "input[0][0]"),
        ([[100277]], "input[0][0]"),
        ([[2**40]], "input[0][0]"),
    ):
        result = run(embed(items), path=EMBED)
        assert result.status == 400, items
        assert result.error["param"] == "input"
        assert f"`{where}` is " in result.error["message"]
        assert result.app.calls == []
    for items in ([[0, 100255, 100257, 100260, 100276]], [[5], [6, 7]]):
        assert run(embed(items), path=EMBED).status == 200, items
    # one flat list is the backend's to judge (its own 400 names its vocabulary); other routes are not checked
    assert run(embed([-1, 2**40]), path=EMBED).status == 200
    assert run(json.dumps({"model": "completions", "prompt": [[-1]]}).encode(), path="/v1/completions").status == 200


def test_count_embedding_inputs() -> None:
    assert count_embedding_inputs("x") == 1
    assert count_embedding_inputs({"text": "x"}) == 1
    assert count_embedding_inputs([1, 2, 3]) == 1
    assert count_embedding_inputs([[1, 2], [3]]) == 2
    assert count_embedding_inputs([]) == 0
    assert count_embedding_inputs(None) == 0


def test_route_kinds() -> None:
    assert route_kind("/v1/embeddings") == route_kind("/embeddings/") == "embeddings"
    assert route_kind("/v1/completions") == route_kind("/engines/m/chat/completions") == "generation"
    assert route_kind("/v1/audio/transcriptions") is None
    assert route_kind("/v1/models") is None


# --- media URLs ----------------------------------------------------------------------------------------------

ALLOWED = GatewaySettings(allowed_media_domains=frozenset({"images.example.com"}))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "host '169.254.169.254' is not an allowed media domain"),
        ("https://evil.example.net/a.png", "not an allowed media domain"),
        ("file:///etc/passwd", "file: URLs are never accepted"),
        ("FILE:/etc/passwd", "file: URLs are never accepted"),
        ("ftp://images.example.com/a.png", "ftp: URLs are not accepted"),
        ("gopher://x/", "gopher: URLs are not accepted"),
        ("/etc/passwd", "neither a data: URL nor an http(s) URL"),
        ("http://images.example.com@evil.net/a.png", "user info"),
        ("http://evil.net@images.example.com/a.png", "user info"),
        ("http://user:pw@images.example.com/a.png", "user info"),
        ("http://evil.net\\@images.example.com/a.png", "backslash"),
        (" http://images.example.com/a.png", "whitespace"),
        ("http://images.example.com\t/a.png", "whitespace"),
        ("http://images.example.com:x/a.png", "does not parse"),
        ("http:///a.png", "no host"),
        ("http://images.example.com.evil.net/a.png", "not an allowed media domain"),
        (123, "a int is not a data: URL"),
    ],
)
def test_refused_media_urls(url: Any, words: str) -> None:
    problem = media_url_problem(url, ALLOWED.allowed_media_domains)
    assert problem is not None and words in problem
    result = run(chat(messages=image_message(url)), settings=ALLOWED)
    assert result.status == 400
    error = result.error
    assert error["param"] == "messages[0].content[1].image_url.url"
    assert "data: URLs" in error["message"]
    assert "LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS" in error["message"]
    assert not result.app.calls


@pytest.mark.parametrize(
    "url",
    [
        DATA_URL,
        "DATA:image/png;base64,AAAA",
        "http://images.example.com/a.png",
        "HTTPS://IMAGES.EXAMPLE.COM:8443/a.png?x=1#f",
    ],
)
def test_accepted_media_urls(url: str) -> None:
    assert media_url_problem(url, ALLOWED.allowed_media_domains) is None
    result = run(chat(messages=image_message(url)), settings=ALLOWED)
    assert result.status == 200


def test_no_domain_is_allowed_by_default() -> None:
    result = run(chat(messages=image_message("https://images.example.com/a.png")))
    assert result.status == 400
    assert "none is listed now" in result.error["message"]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": "http://x/a.png"}]}],
            "messages[0].content[0].image_url",
        ),
        (
            [{"role": "user", "content": [{"image_url": {"url": "http://x/a.png"}}]}],
            "messages[0].content[0].image_url.url",
        ),
        (
            [
                {"role": "system", "content": "s"},
                {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "http://x/v.mp4"}}]},
            ],
            "messages[1].content[0].video_url.url",
        ),
        (
            [{"role": "user", "content": [{"type": "audio_url", "audio_url": {"url": "file:///a.wav"}}]}],
            "messages[0].content[0].audio_url.url",
        ),
        (
            [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x/a.png"}}]}],
            "messages[0].content[0].source.url",
        ),
        (
            [{"role": "user", "content": {"type": "image_url", "image_url": {"url": "http://x"}}}],
            "messages[0].content.image_url.url",
        ),
    ],
)
def test_media_in_every_part_form_is_checked(messages: list[Any], param: str) -> None:
    result = run(chat(messages=messages))
    assert result.status == 400
    assert result.error["param"] == param


def test_media_in_responses_input_and_ocr_document_is_checked() -> None:
    body = {"model": "chat", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x"}]}]}
    result = run(json.dumps(body).encode(), path="/v1/responses")
    assert result.status == 400
    assert result.error["param"] == "input[0].content[0].image_url"
    body = {"model": "ocr", "document": {"type": "document_url", "document_url": "https://x/a.pdf"}}
    result = run(json.dumps(body).encode(), path="/v1/ocr")
    assert result.status == 400
    assert result.error["param"] == "document.document_url"


def test_embedding_images_must_be_data_urls() -> None:
    items = ["text", {"text": "t", "image": DATA_URL}, {"image": "http://169.254.169.254/"}]
    result = run(json.dumps({"model": "embedding", "input": items}).encode(), path=EMBED)
    assert result.status == 400
    assert result.error["param"] == "input[2].image"
    single = {"model": "embedding", "input": {"image": "file:///etc/passwd"}}
    assert run(json.dumps(single).encode(), path=EMBED).error["param"] == "input.image"
    ok = {"model": "embedding", "input": items[:2]}
    assert run(json.dumps(ok).encode(), path=EMBED).status == 200


def test_text_parts_and_nulls_are_no_media() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "http://x/a.png", "image_url": None}]}]
    assert run(chat(messages=messages)).status == 200


# --- the request contract (contract.py) ----------------------------------------------------------------------

USER = [{"role": "user", "content": "hi"}]


def embedding(**fields: Any) -> bytes:
    return json.dumps({"model": "embedding", **fields}).encode()


def refused(body: bytes, param: str, path: str = CHAT, **kwargs: Any) -> dict[str, Any]:
    result = run(body, path=path, **kwargs)
    assert result.status == 400, (result.status, result.body)
    error = result.error
    assert error["param"] == param, error
    assert f"`{param}`" in error["message"]
    assert not result.app.calls  # LiteLLM never saw it
    return error


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        # the cases: a number as content, a string as a boolean
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"stream": "yes"}, "stream"),
        ({"logprobs": "true"}, "logprobs"),
        # content shapes
        ({"messages": [{"role": "user", "content": {"text": "hi"}}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": True}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": ["hi"]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "bogus"}]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, "messages[0].content[0].text"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": DATA_URL}]}]},
            "messages[0].content[0].image_url",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": DATA_URL, "detail": 1}}]}
                ]
            },
            "messages[0].content[0].image_url.detail",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": DATA_URL}}]}]},
            "messages[0].content[0].type",
        ),
        # roles and messages
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": 1, "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [*USER, "hi"]}, "messages[1]"),
        ({"messages": "hello"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [*USER, {"role": "tool", "content": "42"}]}, "messages[1].tool_call_id"),
        ({"messages": [*USER, {"role": "assistant", "name": 3}]}, "messages[1].name"),
        (
            {
                "messages": [
                    *USER,
                    {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]},
                ]
            },
            "messages[1].tool_calls[0].function.arguments",
        ),
        # numbers: types and the spec's ranges
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": "0.5"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"frequency_penalty": 2.1}, "frequency_penalty"),
        ({"n": 0}, "n"),
        ({"n": 1.5}, "n"),
        ({"n": "2"}, "n"),
        ({"n": True}, "n"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"max_tokens": "16"}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"seed": True}, "seed"),
        ({"seed": 10**400}, "seed"),
        ({"temperature": 10**400}, "temperature"),
        ({"logit_bias": {"50256": "x"}}, "logit_bias.50256"),
        # other fields
        ({"stream": 1}, "stream"),
        ({"stop": 5}, "stop"),
        ({"stop": [1]}, "stop[0]"),
        ({"stop": ["a"] * 5}, "stop"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": False, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"tools": [1]}, "tools[0]"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {"name": 1}}]}, "tools[0].function.name"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tool_choice": "maybe"}, "tool_choice"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.function"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({"response_format": "json"}, "response_format"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"metadata": "x"}, "metadata"),
        ({"user": 5}, "user"),
        ({"model": 5}, "model"),
        ({"model": ""}, "model"),
        ({"model": None}, "model"),
    ],
)
def test_chat_bodies_that_break_the_contract_are_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    refused(chat(**fields), param)


def test_chat_messages_and_model_are_required() -> None:
    assert "missing required field `messages`" in refused(b'{"model": "chat"}', "messages")["message"]
    assert "missing required field `model`" in refused(json.dumps({"messages": USER}).encode(), "model")["message"]


def test_chat_refusal_messages_say_what_was_expected() -> None:
    error = refused(chat(messages=[{"role": "user", "content": 5}]), "messages[0].content")
    assert error["message"] == "`messages[0].content` must be a string or an array, not a number (5)"
    error = refused(chat(stream="yes"), "stream")
    assert error["message"] == '`stream` must be a boolean or null, not a string ("yes")'
    assert "at most 2" in refused(chat(temperature=3), "temperature")["message"]
    assert '"user"' in refused(chat(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role")["message"]


def test_valid_chat_bodies_pass_with_their_extensions() -> None:
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "system", "content": [{"type": "text", "text": "s"}]},
        {
            "role": "user",
            "name": "u",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "low"}},
                {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            "reasoning_content": "vLLM's extension",
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
    ]
    body = chat(
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0,
        top_p=1,
        n=1.0,  # an integer in JSON Schema's sense
        max_tokens=16,
        seed=-1,
        stop=["\n"],
        logprobs=True,
        top_logprobs=20,
        logit_bias={"50256": -100},
        presence_penalty=-2,
        frequency_penalty=2.0,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": None}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        parallel_tool_calls=False,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        metadata={"tags": ["LiteLLM's own"]},
        user="u",
        top_k=5,  # vLLM's extensions pass
        repetition_penalty=1.05,
        chat_template_kwargs={"enable_thinking": False},
    )
    result = run(body)
    assert result.status == 200, result.body
    assert result.app.calls[0][1] == body
    nulls = chat(temperature=None, top_p=None, n=None, stream=None, stop=None, stream_options=None, logprobs=None)
    assert run(nulls).status == 200
    assert run(chat(stop="END", tool_choice="auto", response_format={"type": "json_object"})).status == 200


def test_chat_routes_that_name_the_model_in_the_path() -> None:
    body = json.dumps({"messages": USER}).encode()
    assert run(body, path="/openai/deployments/completions/chat/completions").status == 200
    assert run(body, path="/engines/completions/chat/completions").status == 200
    refused(json.dumps({"messages": USER, "stream": "yes"}).encode(), "stream", path="/engines/m/chat/completions")
    refused(chat(stream="yes"), "stream", path="/chat/completions")
    assert run(chat(stream="yes"), path="/v1/completions").status == 200  # not a contract route


def test_contract_routes() -> None:
    assert contract_route("/v1/chat/completions") == ("chat", None)
    assert contract_route("/chat/completions/") == ("chat", None)
    assert contract_route("/openai/deployments/my/model/chat/completions") == ("chat", "my/model")
    assert contract_route("/v1/embeddings") == ("embeddings", None)
    assert contract_route("/engines/e/embeddings") == ("embeddings", "e")
    assert contract_route("/v1/completions") == (None, None)
    assert contract_route("/v1/audio/transcriptions") == (None, None)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        # the cases
        ({"input": [[]]}, "input[0]"),
        ({"input": "x", "instruction": 123}, "instruction"),
        # empty and nested-empty inputs
        ({"input": []}, "input"),
        ({"input": ""}, "input"),
        ({"input": [""]}, "input[0]"),
        ({"input": ["a", ""]}, "input[1]"),
        ({"input": [[1, 2], []]}, "input[1]"),
        # token ids: integers, never booleans, never mixed
        ({"input": [True, 1]}, "input[0]"),
        ({"input": [1, True]}, "input[1]"),
        ({"input": [[1, False]]}, "input[0][1]"),
        ({"input": [1, "a"]}, "input[1]"),
        ({"input": ["a", 1]}, "input[1]"),
        ({"input": [[1, "a"]]}, "input[0][1]"),
        ({"input": [[1.5]]}, "input[0][0]"),
        ({"input": [1, [2]]}, "input[1]"),
        # wrong types
        ({"input": 5}, "input"),
        ({"input": True}, "input"),
        ({"input": None}, "input"),
        ({"input": ["x"] * 2049}, "input"),
        # our multimodal objects (embeddings.py)
        ({"input": [{"colour": "red"}]}, "input[0].colour"),
        ({"input": [{}]}, "input[0]"),
        ({"input": [{"instruction": "i"}]}, "input[0]"),
        ({"input": [{"text": 3}]}, "input[0].text"),
        ({"input": [{"text": ""}]}, "input[0].text"),
        ({"input": [{"image": 5}]}, "input[0].image"),
        ({"input": [{"text": "t", "instruction": 1}]}, "input[0].instruction"),
        ({"input": {"instruction": "i"}}, "input"),
        ({"input": "x", "instruction": ["find"]}, "instruction"),
        ({"input": "x", "instruction": None}, "instruction"),
        # the other fields
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "dimensions": "16"}, "dimensions"),
        ({"input": "x", "dimensions": True}, "dimensions"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"input": "x", "encoding_format": None}, "encoding_format"),
        ({"input": "x", "user": 1}, "user"),
        ({"input": "x", "model": ""}, "model"),
        ({"input": "x", "model": ["embedding"]}, "model"),
        ({}, "input"),
    ],
)
def test_embedding_bodies_that_break_the_contract_are_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    refused(embedding(**fields), param, path=EMBED)


def test_embedding_refusal_messages() -> None:
    assert refused(embedding(input=[[]]), "input[0]", path=EMBED)["message"] == "`input[0]` must not be empty"
    message = refused(embedding(input=[True, 1]), "input[0]", path=EMBED)["message"]
    assert "not a boolean (true)" in message and "an integer" in message
    message = refused(embedding(input="x", instruction=123), "instruction", path=EMBED)["message"]
    assert message == "`instruction` must be a string, not a number (123)"
    assert "`text`, `image`, `instruction`" in refused(embedding(input=[{"a": 1}]), "input[0].a", path=EMBED)["message"]
    assert "missing required field `model`" in refused(b'{"input": "x"}', "model", path=EMBED)["message"]


@pytest.mark.parametrize(
    "value",
    [
        "text",
        ["a", "b"],
        [1, 2, 3],
        [[1, 2], [3]],
        [{"text": "t"}, {"image": DATA_URL, "instruction": "Find the picture."}, "a caption"],
        {"text": "t", "image": DATA_URL},
        [0.0, 2.0],  # integers in JSON Schema's sense
    ],
)
def test_valid_embedding_inputs_pass(value: Any) -> None:
    body = embedding(input=value, encoding_format="base64", dimensions=16, instruction="Find it.", user="u", extra=1)
    result = run(body, path=EMBED)
    assert result.status == 200, result.body
    assert result.app.calls[0][1] == body


def test_a_long_token_id_input_is_checked_in_linear_time() -> None:
    body = embedding(input=list(range(1_000_000)))
    started = time.process_time()
    result = run(body, path=EMBED)
    assert time.process_time() - started < 1.0
    assert result.status == 200
    body = embedding(input=[*range(1_000_000), True])
    started = time.process_time()
    assert run(body, path=EMBED).error["param"] == "input[1000000]"
    assert time.process_time() - started < 2.0


def test_a_body_of_many_messages_is_checked_in_bounded_time() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "text", "text": "x"}]}]
    body = chat(messages=messages * 24_000)  # near the 100000 arrays/objects a body may hold
    started = time.process_time()
    result = run(body)
    assert time.process_time() - started < 1.5
    assert result.status == 200
    result = run(chat(messages=[*messages * 24_000, {"role": "user", "content": 1}]))
    assert result.error["param"] == "messages[48000].content"


def test_an_out_of_range_number_is_not_json_we_take() -> None:
    for body in (chat()[:-1] + b', "temperature": 1e400}', b'{"model": "m", "x": -1e999}'):
        result = run(body, path="/v1/completions")
        assert result.status == 400
        assert result.error["param"] == "request_body"
        assert "out of range" in result.error["message"]


# --- models and their modes (models.py) ----------------------------------------------------------------------

CATALOG = Catalog(
    {
        "completions": frozenset({"chat"}),
        "ocr": frozenset({"chat"}),
        "embedding": frozenset({"embedding"}),
        "asr": frozenset({"audio_transcription"}),
    }
)


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        (CHAT, chat(model="embedding"), "serves embeddings; use /v1/embeddings"),
        (CHAT, chat(model="asr"), "serves audio transcriptions; use /v1/audio/transcriptions"),
        (EMBED, embedding(model="completions", input="x"), "serves chat completions; use /v1/chat/completions"),
        (EMBED, embedding(model="asr", input="x"), "use /v1/audio/transcriptions"),
        ("/openai/deployments/embedding/chat/completions", chat(model="completions"), "use /v1/embeddings"),
    ],
)
def test_an_alias_on_an_endpoint_of_another_mode_is_400_naming_model(path: str, body: bytes, words: str) -> None:
    error = refused(body, "model", path=path, catalog=CATALOG)
    assert words in error["message"]


def test_aliases_of_the_endpoints_mode_pass() -> None:
    assert run(chat(model="completions"), catalog=CATALOG).status == 200
    assert run(chat(model="ocr"), catalog=CATALOG).status == 200
    assert run(embedding(input="x"), path=EMBED, catalog=CATALOG).status == 200
    body = json.dumps({"messages": USER}).encode()
    assert run(body, path="/openai/deployments/completions/chat/completions", catalog=CATALOG).status == 200
    assert run(chat(model="embedding"), catalog=None).status == 200  # no catalog (no router yet): no check


def test_a_model_nobody_serves_is_openais_404() -> None:
    for path, body in ((CHAT, chat(model="gpt-4")), (EMBED, embedding(model="gpt-4", input="x"))):
        result = run(body, path=path, catalog=CATALOG)
        assert result.status == 404
        error = json.loads(result.body)["error"]
        assert error["code"] == "model_not_found"
        assert error["param"] == "model"
        assert "`gpt-4` does not exist" in error["message"]
        assert not result.app.calls
    lenient = Catalog(CATALOG.modes, routable=lambda name: name.startswith("openai/"))
    assert run(chat(model="openai/gpt-4"), catalog=lenient).status == 200  # LiteLLM routes it: its call
    assert run(chat(model="gpt-4"), catalog=lenient).status == 404


def test_the_contract_is_checked_before_the_model() -> None:
    refused(chat(model="embedding", stream="yes"), "stream", catalog=CATALOG)


def test_deployment_modes_of_the_configs_model_list() -> None:
    # What roles/litellm/templates/litellm.yaml.j2 writes (model_info.mode set for embedding and asr only).
    model_list = [
        {
            "model_name": "completions",
            "litellm_params": {"model": "hosted_vllm/completions"},
            "model_info": {"id": "c@a"},
        },
        {"model_name": "ocr", "litellm_params": {"model": "hosted_vllm/ocr"}, "model_info": {"id": "ocr@a"}},
        {
            "model_name": "embedding",
            "litellm_params": {"model": "litellm-local-embed/embedding"},
            "model_info": {"id": "embedding@b", "mode": "embedding"},
        },
        {
            "model_name": "embedding",
            "litellm_params": {"model": "litellm-local-embed/embedding"},
            "model_info": {"id": "embedding-pascal@b", "mode": "embedding"},
        },
        {
            "model_name": "asr",
            "litellm_params": {"model": "hosted_vllm/asr"},
            "model_info": {"mode": "audio_transcription"},
        },
        "not a deployment",
    ]
    modes = deployment_modes(model_list)
    assert modes["completions"] == modes["ocr"] == modes["c@a"] == modes["hosted_vllm/ocr"] == {"chat"}
    assert modes["embedding"] == modes["embedding-pascal@b"] == modes["litellm-local-embed/embedding"] == {"embedding"}
    assert modes["asr"] == {"audio_transcription"}


def test_live_catalog_reads_litellms_router_when_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    assert live_catalog() is None  # LiteLLM's proxy is not loaded here
    router = SimpleNamespace(
        model_list=[{"model_name": "embedding", "model_info": {"mode": "embedding"}}],
        model_group_alias={"embed": "embedding", "emb2": {"model": "embedding", "hidden": True}},
        is_recognized_model=lambda name: False,
        deployment_names=[],
        default_deployment=None,
        pattern_router=SimpleNamespace(patterns={}),
    )
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", SimpleNamespace(llm_router=None))
    assert live_catalog() is None  # the router is not built yet
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", SimpleNamespace(llm_router=router, user_model=None))
    catalog = live_catalog()
    assert catalog is not None
    assert catalog.modes == {"embedding": {"embedding"}, "embed": {"embedding"}, "emb2": {"embedding"}}
    assert catalog.unknown("gpt-4")
    assert not catalog.unknown("a,b")  # LiteLLM's batch form
    router.pattern_router.patterns = {"openai/*": []}
    assert not catalog.unknown("gpt-4")  # a wildcard route may take it
    router.pattern_router.patterns = {}
    assert catalog.unknown("gpt-4")

    def broken(name: str) -> bool:
        raise AttributeError("a LiteLLM this module does not know")

    router.is_recognized_model = broken
    assert not catalog.unknown("gpt-4")  # in doubt, LiteLLM decides


# --- settings ------------------------------------------------------------------------------------------------


def test_settings_defaults_and_environment() -> None:
    defaults = GatewaySettings.from_env({})
    assert defaults == GatewaySettings()
    assert (defaults.max_body_bytes, defaults.max_json_depth, defaults.max_embedding_inputs) == (16 << 20, 32, 256)
    assert (defaults.max_n, defaults.max_tokens, defaults.max_images, defaults.embed_concurrency) == (8, 8192, 8, 16)
    assert defaults.allowed_media_domains == frozenset()
    env = {
        "LITELLM_LOCAL_MAX_BODY_BYTES": "1024",
        "LITELLM_LOCAL_MAX_N": " 2 ",
        "LITELLM_LOCAL_MAX_TOKENS": "",
        "LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS": " Images.Example.com, cdn.example.org ,,[::1]",
    }
    settings = GatewaySettings.from_env(env)
    assert settings.max_body_bytes == 1024
    assert settings.max_n == 2
    assert settings.max_tokens == 8192
    assert settings.allowed_media_domains == {"images.example.com", "cdn.example.org", "::1"}
    with pytest.raises(AttributeError):
        settings.max_n = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "env",
    [
        {"LITELLM_LOCAL_MAX_N": "many"},
        {"LITELLM_LOCAL_MAX_IMAGES": "0"},
        {"LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS": "https://images.example.com"},
        {"LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS": "*.example.com"},
        {"LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS": "images.example.com:443"},
    ],
)
def test_malformed_settings_stop_the_start(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(env))):
        GatewaySettings.from_env(env)


def test_parse_domains() -> None:
    assert parse_domains("a.example.com,B.example.com") == {"a.example.com", "b.example.com"}
    assert parse_domains("") == frozenset()


# --- installation --------------------------------------------------------------------------------------------


def test_install_wraps_the_stack_once_with_the_environment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MAX_N", "3")

    class App:
        middleware_stack: Any = None

        def build_middleware_stack(self) -> Any:
            return FakeApp()

    app = App()
    assert install(app)
    assert not install(app)
    stack = app.build_middleware_stack()
    assert isinstance(stack, RequestGuard)
    assert stack.settings.max_n == 3


def test_the_guard_modules_do_not_import_litellm() -> None:
    code = (
        "import sys; sys.path[:0] = sys.argv[1:];"
        "import litellm_local_gateway.guard, litellm_local_gateway.policy, litellm_local_gateway.contract;"
        "import litellm_local_gateway.embedding_request;"
        "import litellm_local_gateway.models; assert litellm_local_gateway.models.live_catalog() is None;"
        "assert not {'litellm', 'fastapi', 'starlette'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code, str(GATEWAY_SRC), str(COMMON_SRC)], check=True, timeout=60)
