"""The SDK against a fake gateway (httpx2.MockTransport injected into the openai client): request shapes, typed
results, retries with backoff on connection errors, 429 and 5xx, and the mapping of failures to our errors."""

from __future__ import annotations

import base64
import importlib.util
import io
import json

import httpx2
import litellm_local_client as llc
import openai
import pytest
from litellm_local_client import Client, EmbedInput, Timeouts

from tests.client.fakes import BASE_URL, KEY, FakeGateway, error, parse_form, pdf, png, wav, wav_seconds


def bodies(gateway: FakeGateway, path: str) -> list[dict]:
    return [json.loads(r.content) for r in gateway.requests if r.url.path == path]


# -- configuration ----------------------------------------------------------------------------------------------------


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", BASE_URL + "/")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    client = Client(http_client=gateway.http_client())
    assert client.base_url == BASE_URL
    assert [m.id for m in client.models()] == ["completions", "ocr"]
    assert gateway.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_missing_address_or_key_says_what_to_set() -> None:
    with pytest.raises(llc.ConfigurationError, match="OPENAI_BASE_URL"):
        Client(api_key=KEY)
    with pytest.raises(llc.ConfigurationError, match="OPENAI_API_KEY"):
        Client(BASE_URL)
    with pytest.raises(llc.ConfigurationError, match="http"):
        Client("gateway:8200/v1", KEY)


def test_the_openai_client_underneath_gets_our_retries_and_timeouts(gateway: FakeGateway) -> None:
    client = Client(
        BASE_URL, KEY, max_retries=5, timeouts=Timeouts(connect=3, chat=42), http_client=gateway.http_client()
    )
    assert isinstance(client.openai, openai.OpenAI)
    assert client.openai.max_retries == 5
    client.chat("hi")
    timeout = gateway.requests[0].extensions["timeout"]
    assert timeout["read"] == 42 and timeout["connect"] == 3


# -- chat -------------------------------------------------------------------------------------------------------------


def test_chat_returns_a_typed_result(client: Client, gateway: FakeGateway) -> None:
    result = client.chat("Say hello.", system="Be brief.", max_tokens=8, temperature=0.2)
    assert isinstance(result, llc.ChatResult)
    assert result.text == "echo: Say hello."
    assert result.finish_reason == "stop" and result.model == "completions"
    assert result.usage == llc.Usage(prompt_tokens=5, completion_tokens=3, total_tokens=8)
    (body,) = bodies(gateway, "/v1/chat/completions")
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["max_tokens"] == 8 and body["temperature"] == 0.2 and body["model"] == "completions"


def test_chat_images_from_a_path_bytes_and_a_url(client: Client, gateway: FakeGateway, tmp_path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(png(30, 20))
    client.chat("Describe.", images=[path, png(10, 10), "https://example.com/cat.jpg"])
    (body,) = bodies(gateway, "/v1/chat/completions")
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "image_url", "text"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(parts[0]["image_url"]["url"].split(",")[1]) == path.read_bytes()
    assert parts[2]["image_url"]["url"] == "https://example.com/cat.jpg"
    assert parts[3] == {"type": "text", "text": "Describe."}


def test_chat_rejects_what_is_not_an_image(client: Client, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(llc.InputError, match="not a PNG"):
        client.chat("x", images=[tmp_path / "notes.txt"])
    with pytest.raises(llc.InputError, match="does not exist"):
        client.chat("x", images=[str(tmp_path / "missing.png")])


def test_chat_stream_yields_deltas_then_totals(client: Client, gateway: FakeGateway) -> None:
    with client.chat_stream("one two three") as stream:
        deltas = list(stream)
    assert "".join(deltas) == stream.text == "echo: one two three"
    assert len(deltas) >= 3
    assert stream.finish_reason == "length"
    assert stream.usage is not None and stream.usage.completion_tokens == 4
    (body,) = bodies(gateway, "/v1/chat/completions")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_chat_with_a_message_list(client: Client, gateway: FakeGateway) -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert client.chat(messages).text == "echo: c"
    assert bodies(gateway, "/v1/chat/completions")[0]["messages"] == messages


# -- ocr --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "prompt"),
    [("text", "Text Recognition:"), ("table", "Table Recognition:"), ("formula", "Formula Recognition:")],
)
def test_ocr_of_an_image_sends_the_task_prompt_greedily(client: Client, gateway: FakeGateway, task, prompt) -> None:
    result = client.ocr(png(40, 30), task=task)
    assert isinstance(result, llc.OcrResult)
    assert [p.page for p in result.pages] == [1]
    assert result.text == f"{prompt} images=[(40, 30)]"
    (body,) = bodies(gateway, "/v1/chat/completions")
    assert body["model"] == "ocr"
    assert body["temperature"] == 0 and body["repetition_penalty"] == 1.05
    content = body["messages"][0]["content"]
    assert content[0]["type"] == "image_url" and content[1] == {"type": "text", "text": prompt}


def test_ocr_of_a_pdf_reads_each_page_in_order(client: Client, gateway: FakeGateway, tmp_path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf([(100, 50), (60, 80), (90, 90)]))
    result = client.ocr(path, scale=1.0)
    assert [p.page for p in result.pages] == [1, 2, 3]
    assert [p.text for p in result.pages] == [
        "Text Recognition: images=[(100, 50)]",
        "Text Recognition: images=[(60, 80)]",
        "Text Recognition: images=[(90, 90)]",
    ]
    assert result.text.count("\n\n") == 2
    assert len(bodies(gateway, "/v1/chat/completions")) == 3


def test_ocr_page_selection_and_scale(client: Client, tmp_path) -> None:
    data = pdf([(100, 50), (60, 80), (90, 90)])
    result = client.ocr(data, pages="3,1", scale=2.0)
    assert [(p.page, p.text) for p in result.pages] == [
        (3, "Text Recognition: images=[(180, 180)]"),
        (1, "Text Recognition: images=[(200, 100)]"),
    ]
    with pytest.raises(llc.InputError, match="outside the document's 3 pages"):
        client.ocr(data, pages="2-4")
    with pytest.raises(llc.InputError, match="unknown OCR task"):
        client.ocr(data, task="handwriting")  # type: ignore[arg-type]
    with pytest.raises(llc.InputError, match="PDF cannot be opened"):
        client.ocr(b"%PDF-1.4 truncated")


# -- embeddings -------------------------------------------------------------------------------------------------------


def test_embed_texts_uses_the_openai_form_and_restores_order(client: Client, gateway: FakeGateway) -> None:
    result = client.embed(["a", "b", "c"], dimensions=4)
    assert isinstance(result, llc.EmbeddingResult)
    assert len(result) == 3 and result.dimensions == 4
    assert [v[0] for v in result.vectors] == [1.0, 2.0, 3.0]  # sorted by index although answered reversed
    assert result.usage is not None and result.usage.prompt_tokens == 4
    (body,) = bodies(gateway, "/v1/embeddings")
    assert body == {"model": "embedding", "input": ["a", "b", "c"], "dimensions": 4, "encoding_format": "float"}


@pytest.mark.parametrize("wire", ["float", "base64"])
def test_embed_vectors_are_floats_whatever_the_wire_format(client: Client, gateway: FakeGateway, wire) -> None:
    result = client.embed("one", encoding_format=wire)
    assert result.vectors == [[1.0] + [0.5] * 7]
    assert bodies(gateway, "/v1/embeddings")[0]["encoding_format"] == wire


def test_embed_images_and_mixed_items_use_the_multimodal_form(client: Client, gateway: FakeGateway, tmp_path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png(8, 8))
    result = client.embed(
        [
            "plain text",
            EmbedInput(image=image),
            EmbedInput(text="a cat", image=png(4, 4), instruction="Find cats"),
            {"text": "dict item"},
        ],
        instruction="Represent the input",
    )
    assert len(result) == 4
    (body,) = bodies(gateway, "/v1/embeddings")
    items = body["input"]
    assert items[0] == "plain text"
    assert set(items[1]) == {"image"} and items[1]["image"].startswith("data:image/png;base64,")
    assert items[2]["text"] == "a cat" and items[2]["instruction"] == "Find cats"
    assert items[3] == {"text": "dict item"}
    assert body["instruction"] == "Represent the input"


def test_embed_rejects_empty_and_bad_input(client: Client) -> None:
    with pytest.raises(llc.InputError, match="nothing to embed"):
        client.embed([])
    with pytest.raises(llc.InputError, match="text, an image or both"):
        client.embed([EmbedInput()])
    with pytest.raises(llc.InputError, match="encoding format"):
        client.embed("x", encoding_format="int8")


def test_cosine_of_returned_vectors(client: Client) -> None:
    result = client.embed(["a", "b"])  # the fake answers [1, .5 x 7] and [2, .5 x 7]
    assert result.cosine(0, 1) == pytest.approx(3.75 / ((1 + 1.75) ** 0.5 * (4 + 1.75) ** 0.5))
    assert result.cosine(1, 1) == pytest.approx(1.0)


# -- transcription ----------------------------------------------------------------------------------------------------


def test_transcribe_a_path_sends_the_openai_form(client: Client, gateway: FakeGateway, tmp_path) -> None:
    audio = tmp_path / "talk.wav"
    audio.write_bytes(wav())
    progress: list[tuple[int, int]] = []
    result = client.transcribe(
        audio,
        language="en",
        prompt="Names: Ada",
        temperature=0.0,
        timestamps=["word", "segment"],
        progress=lambda s, t: progress.append((s, t)),
    )
    assert isinstance(result, llc.Transcript)
    assert result.response_format == "verbose_json"
    assert result.text == "hello world" and result.language == "english" and result.duration == 1.5
    assert [w.word for w in result.words] == ["hello", "world"]
    assert all(0 <= w.start <= w.end <= result.duration for w in result.words)
    assert result.segments[0].end == 1.5 and result.segments[0].tokens == [1, 2]
    (request,) = gateway.requests
    form = parse_form(request)
    assert form.fields["model"] == ["asr"] and form.fields["language"] == ["en"]
    assert form.fields["prompt"] == ["Names: Ada"] and form.fields["response_format"] == ["verbose_json"]
    assert form.fields["timestamp_granularities[]"] == ["word", "segment"]
    assert form.files["file"] == ("talk.wav", "audio/wav", audio.read_bytes())
    size = audio.stat().st_size
    assert progress and progress[-1] == (size, size)
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_transcribe_subtitle_and_text_formats_come_back_verbatim(client: Client, fmt) -> None:
    result = client.transcribe(wav(), response_format=fmt)
    assert result.response_format == fmt
    if fmt == "text":
        assert result.text == "hello world"
    else:
        assert result.body is not None and "-->" in result.body and "hello world" in result.body
        assert result.body.startswith("WEBVTT" if fmt == "vtt" else "1\n")


def test_transcribe_bytes_gets_a_name_from_its_content(client: Client, gateway: FakeGateway) -> None:
    assert client.transcribe(wav()).text == "hello world"
    form = parse_form(gateway.requests[0])
    assert form.files["file"][:2] == ("audio.wav", "audio/wav")
    assert form.fields["response_format"] == ["json"]
    client.transcribe(io.BytesIO(b"fLaC" + b"\x00" * 64))
    assert parse_form(gateway.requests[1]).files["file"][:2] == ("audio.flac", "audio/flac")


def test_transcribe_checks_arguments_before_sending(client: Client, gateway: FakeGateway, tmp_path) -> None:
    with pytest.raises(llc.InputError, match="verbose_json"):
        client.transcribe(wav(), response_format="srt", timestamps=["word"])
    with pytest.raises(llc.InputError, match="ISO-639-1"):
        client.transcribe(wav(), language="english")
    with pytest.raises(llc.InputError, match="empty"):
        client.transcribe(b"")
    with pytest.raises(llc.InputError, match="does not exist"):
        client.transcribe(tmp_path / "missing.wav")
    with pytest.raises(llc.InputError, match="response format"):
        client.transcribe(wav(), response_format="docx")  # type: ignore[arg-type]
    assert gateway.requests == []


def test_a_retried_upload_sends_the_whole_file_again(client: Client, gateway: FakeGateway, tmp_path) -> None:
    audio = tmp_path / "talk.wav"
    audio.write_bytes(wav(2.0))
    gateway.script["/v1/audio/transcriptions"] = [503]
    assert client.transcribe(audio).text == "hello world"
    uploads = [parse_form(r).files["file"][2] for r in gateway.requests]
    assert uploads == [audio.read_bytes(), audio.read_bytes()]


# -- rerank -----------------------------------------------------------------------------------------------------------


def test_rerank_sends_the_cohere_body_and_sorts_by_score(client: Client, gateway: FakeGateway) -> None:
    result = client.rerank("gpu memory", ["cats sleep", "gpu memory limits", "memory of cats"])
    assert isinstance(result, llc.RerankResult)
    (body,) = bodies(gateway, "/v1/rerank")
    assert body == {
        "model": "rerank",
        "query": "gpu memory",
        "documents": ["cats sleep", "gpu memory limits", "memory of cats"],
        "return_documents": False,
    }
    # The fake answers in document order; the client sorts, best first.
    assert result.indices == [1, 2, 0]
    assert [r.relevance_score for r in result] == [1.0, 0.5, 0.0]
    assert result[0] == llc.RankedDocument(index=1, relevance_score=1.0, document=None)
    assert result.model == "rerank" and result.id == "rerank-1" and len(result) == 3
    assert result.usage == llc.Usage(prompt_tokens=21, total_tokens=21)
    assert result.meta["billed_units"] == {"total_tokens": 21}
    assert gateway.requests[0].extensions["timeout"]["read"] == Timeouts().rerank


def test_rerank_image_documents_use_the_multimodal_score_format(client: Client, gateway: FakeGateway, tmp_path) -> None:
    path = tmp_path / "wide.png"
    path.write_bytes(png(600, 10))
    data_url = "data:image/png;base64," + base64.b64encode(png(200, 10)).decode()
    result = client.rerank(
        "picture",
        [
            "a text document",
            path,
            png(400, 10),
            llc.RerankImage(str(path)),
            llc.RerankImage(data_url),
            llc.RerankImage("https://example.com/cat.jpg"),
        ],
    )
    documents = bodies(gateway, "/v1/rerank")[0]["documents"]
    assert documents[0] == "a text document"
    urls = []
    for document in documents[1:]:
        (part,) = document["content"]
        assert set(document) == {"content"} and part["type"] == "image_url"
        urls.append(part["image_url"]["url"])
    assert urls[0].startswith("data:image/png;base64,") and urls[0] == urls[2]
    assert base64.b64decode(urls[0].split(",")[1]) == path.read_bytes()
    assert urls[3] == data_url and urls[4] == "https://example.com/cat.jpg"
    assert result.indices == [1, 3, 2, 4, 0, 5]  # images by width / 1000; ties in document order


def test_rerank_top_n_instruction_and_returned_documents(client: Client, gateway: FakeGateway) -> None:
    docs = ["gpu memory", "gpu", "memory", "cats"]
    result = client.rerank("gpu memory", docs, top_n=2, return_documents=True, instruction="Find hardware facts")
    (body,) = bodies(gateway, "/v1/rerank")
    assert body["top_n"] == 2 and body["return_documents"] is True
    assert body["instruction"] == "Find hardware facts"
    assert [(r.index, r.document) for r in result] == [(0, "gpu memory"), (1, "gpu")]


def test_rerank_of_one_string_is_one_document(client: Client, gateway: FakeGateway) -> None:
    result = client.rerank("gpu", "gpu memory")
    assert bodies(gateway, "/v1/rerank")[0]["documents"] == ["gpu memory"]
    assert result.indices == [0]


def test_rerank_keeps_top_n_when_the_backend_answers_every_document(client: Client, gateway: FakeGateway) -> None:
    answer = {"id": "r", "results": [{"index": i, "relevance_score": s} for i, s in enumerate([0.1, 0.9, 0.5])]}
    gateway.script["/v1/rerank"] = [httpx2.Response(200, json=answer)]
    result = client.rerank("q", ["a", "b", "c"], top_n=2)
    assert result.indices == [1, 2] and result.usage is None and result.meta == {}


def test_rerank_checks_its_input_before_sending(client: Client, gateway: FakeGateway, tmp_path) -> None:
    with pytest.raises(llc.InputError, match="nothing to rerank"):
        client.rerank("q", [])
    with pytest.raises(llc.InputError, match="top_n must be"):
        client.rerank("q", ["a"], top_n=0)
    with pytest.raises(llc.InputError, match="top_n must be"):
        client.rerank("q", ["a"], top_n=True)  # type: ignore[arg-type]
    with pytest.raises(llc.InputError, match="query is empty"):
        client.rerank("  ", ["a"])
    with pytest.raises(llc.InputError, match="document 1 is a int"):
        client.rerank("q", ["a", 3])  # type: ignore[list-item]
    with pytest.raises(llc.InputError, match="does not exist"):
        client.rerank("q", [tmp_path / "missing.png"])
    with pytest.raises(llc.InputError, match="not a PNG"):
        client.rerank("q", [b"plain bytes"])
    assert gateway.requests == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"id": "r"}, "no results list"),
        ({"results": [{"index": 0}]}, "lacks index or relevance_score"),
        ({"results": [{"index": 2, "relevance_score": 0.5}]}, "ranked document 2 but 2 were sent"),
        ({"results": [{"index": 0, "relevance_score": 0.5}] * 2}, "ranked document 0 twice"),
    ],
)
def test_a_rerank_answer_that_does_not_fit_is_a_server_error(client: Client, gateway: FakeGateway, answer, message):
    gateway.script["/v1/rerank"] = [httpx2.Response(200, json=answer)]
    with pytest.raises(llc.ServerError, match=message):
        client.rerank("q", ["a", "b"])


def test_rerank_errors_and_retries_are_the_clients(client: Client, gateway: FakeGateway, sleeps) -> None:
    with pytest.raises(llc.ModelNotFoundError, match="'no-such-reranker'"):
        client.rerank("q", ["a"], model="no-such-reranker")
    gateway.script["/v1/rerank"] = [503]
    assert client.rerank("q", ["a"]).indices == [0]
    assert gateway.attempts("/v1/rerank") == 3 and len(sleeps) == 1
    custom = Client(BASE_URL, KEY, aliases=llc.Aliases(rerank="bge"), http_client=gateway.http_client())
    with pytest.raises(llc.ModelNotFoundError, match="'bge'"):
        custom.rerank("q", ["a"])


# -- models and health ------------------------------------------------------------------------------------------------


def test_models(client: Client) -> None:
    assert client.models() == [llc.ModelInfo("completions", "openai", 1), llc.ModelInfo("ocr", "openai", 1)]


def test_health_live_and_ready(client: Client, gateway: FakeGateway) -> None:
    health = client.health()
    assert health.ok and health.version == "1.0"
    assert [r.url.path for r in gateway.requests] == ["/health/liveliness", "/health/readiness"]
    assert str(gateway.requests[0].url).startswith("http://gateway.test:8200/health/")


def test_health_not_ready_is_reported_without_retrying(client: Client, gateway: FakeGateway) -> None:
    gateway.ready = False
    health = client.health()
    assert health.live and not health.ready and not health.ok
    assert "503" in (health.error or "")
    assert gateway.attempts("/health/readiness") == 1


def test_health_of_an_unreachable_gateway_raises(client: Client, gateway: FakeGateway) -> None:
    gateway.script["/health/liveliness"] = [httpx2.ConnectError("refused")]
    with pytest.raises(llc.ConnectionFailedError, match="could not reach"):
        client.health()


# -- retries ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_growing_backoff(client: Client, gateway: FakeGateway, sleeps, status) -> None:
    gateway.script["/v1/chat/completions"] = [status, status, status]
    assert client.chat("hi").text == "echo: hi"
    assert gateway.attempts("/v1/chat/completions") == 4  # 3 failures, then the answer
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[2] <= 8  # exponential backoff, capped by the openai client


def test_429_honours_retry_after(client: Client, gateway: FakeGateway, sleeps) -> None:
    gateway.script["/v1/embeddings"] = [error(429, "slow down", "rate_limit", **{"retry-after": "2"})]
    assert len(client.embed("x")) == 1
    assert gateway.attempts("/v1/embeddings") == 2
    assert sleeps == [2.0]


def test_connection_errors_are_retried_then_reported(client: Client, gateway: FakeGateway, sleeps) -> None:
    gateway.script["/v1/models"] = [httpx2.ConnectError("connection refused")] * 4
    with pytest.raises(llc.ConnectionFailedError) as err:
        client.models()
    assert gateway.attempts("/v1/models") == 4  # the first try and max_retries=3 retries
    assert len(sleeps) == 3
    assert err.value.exit_code == 6
    assert BASE_URL in str(err.value) and "OPENAI_BASE_URL" in str(err.value)
    assert isinstance(err.value.__cause__, openai.APIConnectionError)


def test_a_connection_error_then_success(client: Client, gateway: FakeGateway) -> None:
    gateway.script["/v1/models"] = [httpx2.ConnectError("reset"), httpx2.ReadError("reset")]
    assert len(client.models()) == 2
    assert gateway.attempts("/v1/models") == 3


def test_exhausted_5xx_is_a_server_error_with_the_gateways_message(gateway: FakeGateway, sleeps) -> None:
    client = Client(BASE_URL, KEY, max_retries=1, http_client=gateway.http_client())
    gateway.script["/v1/chat/completions"] = [error(503, "No deployments available for selected model")] * 2
    with pytest.raises(llc.ServerError) as err:
        client.chat("hi")
    assert gateway.attempts("/v1/chat/completions") == 2
    assert err.value.status_code == 503 and err.value.exit_code == 5
    assert "No deployments available" in str(err.value) and "health" in err.value.hint


def test_timeouts_are_retried_then_reported(gateway: FakeGateway, sleeps) -> None:
    client = Client(BASE_URL, KEY, max_retries=2, http_client=gateway.http_client())
    gateway.script["/v1/embeddings"] = [httpx2.ReadTimeout("slow")] * 3
    with pytest.raises(llc.RequestTimeoutError, match="timed out") as err:
        client.embed("x")
    assert gateway.attempts("/v1/embeddings") == 3
    assert "--timeout" in err.value.hint


def test_max_retries_zero_means_one_attempt(gateway: FakeGateway, sleeps) -> None:
    client = Client(BASE_URL, KEY, max_retries=0, http_client=gateway.http_client())
    gateway.script["/v1/models"] = [503]
    with pytest.raises(llc.ServerError):
        client.models()
    assert gateway.attempts("/v1/models") == 1 and sleeps == []


# -- error mapping ----------------------------------------------------------------------------------------------------


def test_4xx_is_not_retried(client: Client, gateway: FakeGateway, sleeps) -> None:
    gateway.script["/v1/embeddings"] = [error(400, "dimensions must be at most 2048")]
    with pytest.raises(llc.BadRequestError) as err:
        client.embed("x", dimensions=4096)
    assert gateway.attempts("/v1/embeddings") == 1 and sleeps == []
    assert err.value.status_code == 400 and err.value.exit_code == 4
    assert "dimensions must be at most 2048" in str(err.value)


def test_wrong_key_is_an_authentication_error(gateway: FakeGateway) -> None:
    client = Client(BASE_URL, "sk-wrong", http_client=gateway.http_client())
    with pytest.raises(llc.AuthenticationError) as err:
        client.models()
    assert err.value.status_code == 401 and err.value.exit_code == 3
    assert "OPENAI_API_KEY" in str(err.value) and "Invalid proxy server token" in str(err.value)


def test_a_key_litellm_cannot_check_is_an_authentication_error(client: Client, gateway: FakeGateway) -> None:
    # LiteLLM without a key database answers any key but its master key with 400 "No connected db."
    gateway.script["/v1/models"] = [error(400, "No connected db.", "no_db_connection")]
    with pytest.raises(llc.AuthenticationError, match="master key") as err:
        client.models()
    assert err.value.exit_code == 3


def test_unknown_model_says_how_to_list_models(client: Client) -> None:
    with pytest.raises(llc.ModelNotFoundError) as err:
        client.chat("hi", model="no-such-model")
    assert isinstance(err.value, llc.BadRequestError) and err.value.exit_code == 4
    assert "no-such-model" in str(err.value) and "litellm-local models" in str(err.value)


def test_404_of_an_unserved_alias(client: Client, gateway: FakeGateway) -> None:
    gateway.script["/v1/audio/transcriptions"] = [404]
    with pytest.raises(llc.ModelNotFoundError, match="'asr'"):
        client.transcribe(wav())


def test_413_says_to_send_less(client: Client, gateway: FakeGateway) -> None:
    gateway.script["/v1/audio/transcriptions"] = [error(413, "audio larger than 100 MB")]
    with pytest.raises(llc.BadRequestError, match="too large") as err:
        client.transcribe(wav())
    assert "smaller" in err.value.hint


def test_a_nested_error_message_is_unwrapped(client: Client, gateway: FakeGateway) -> None:
    nested = {"error": {"message": {"error": "/audio/transcriptions: Invalid model name passed in model=asr"}}}
    gateway.script["/v1/audio/transcriptions"] = [httpx2.Response(400, json=nested)]
    with pytest.raises(llc.ModelNotFoundError) as err:
        client.transcribe(wav())
    assert err.value.detail == "/audio/transcriptions: Invalid model name passed in model=asr"


def test_a_non_json_error_body_is_still_reported(client: Client, gateway: FakeGateway) -> None:
    gateway.script["/v1/models"] = [httpx2.Response(502, text="<html>Bad Gateway</html>")] * 4
    with pytest.raises(llc.ServerError, match="Bad Gateway"):
        client.models()


def test_errors_of_a_stream_are_translated(client: Client, gateway: FakeGateway) -> None:
    gateway.script["/v1/chat/completions"] = [error(400, "max_tokens is too large")]
    with pytest.raises(llc.BadRequestError, match="max_tokens is too large"):
        client.chat_stream("hi", max_tokens=10**9)


# -- long files -------------------------------------------------------------------------------------------------------


def long_wav() -> bytes:
    """25 s of sound with pauses at 8.8-9.4 s and 18.0-18.6 s, where a 10 s split should cut."""
    return wav(25.0, pauses=((8.8, 9.4), (18.0, 18.6)))


def uploads(gateway: FakeGateway) -> list[tuple[dict[str, list[str]], bytes]]:
    forms = [parse_form(r) for r in gateway.requests if r.url.path == "/v1/audio/transcriptions"]
    return [(f.fields, f.files["file"][2]) for f in forms]


def test_a_long_file_is_split_at_pauses_and_merged(client: Client, gateway: FakeGateway) -> None:
    pieces: list[tuple[int, int]] = []
    result = client.transcribe(
        long_wav(), timestamps=["word", "segment"], chunk_seconds=10, on_piece=lambda n, c: pieces.append((n, c))
    )
    sent = uploads(gateway)
    assert pieces == [(1, 3), (2, 3), (3, 3)] and len(sent) == 3
    lengths = [wav_seconds(data) for _, data in sent]
    assert 8.8 <= lengths[0] <= 9.4  # cut inside the first pause, not at 10 s
    assert 8.8 <= lengths[0] + lengths[1] <= 9.4 + 9.4 and 18.0 <= lengths[0] + lengths[1] <= 18.6
    assert sum(lengths) == pytest.approx(25.0)
    assert all(fields["timestamp_granularities[]"] == ["word", "segment"] for fields, _ in sent)
    # Timestamps are on the whole file's clock; segments are renumbered.
    starts = [0.0, lengths[0], lengths[0] + lengths[1]]
    assert [w.start for w in result.words] == pytest.approx([s + d for s in starts for d in (0.0, 0.7)])
    assert [s.id for s in result.segments] == [0, 1, 2]
    assert [s.start for s in result.segments] == pytest.approx(starts)
    assert result.duration == pytest.approx(25.0)
    assert result.text == "hello world hello world hello world"


def test_a_long_file_to_srt_is_rendered_from_merged_segments(client: Client, gateway: FakeGateway) -> None:
    result = client.transcribe(long_wav(), response_format="srt", chunk_seconds=10)
    assert all(fields["response_format"] == ["verbose_json"] for fields, _ in uploads(gateway))
    assert all(fields["timestamp_granularities[]"] == ["segment"] for fields, _ in uploads(gateway))
    assert result.body is not None
    cues = result.body.strip().split("\n\n")
    assert [c.split("\n")[0] for c in cues] == ["1", "2", "3"]
    assert cues[0].split("\n")[1] == "00:00:00,000 --> 00:00:01,500"
    assert all(c.split("\n")[2] == "hello world" for c in cues)
    vtt = client.transcribe(long_wav(), response_format="vtt", chunk_seconds=10).body
    assert vtt is not None and vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nhello world\n")


def test_a_long_file_as_text_asks_for_plain_json_pieces(client: Client, gateway: FakeGateway) -> None:
    result = client.transcribe(long_wav(), response_format="text", chunk_seconds=10)
    assert [fields["response_format"] for fields, _ in uploads(gateway)] == [["json"]] * 3
    assert "timestamp_granularities[]" not in uploads(gateway)[0][0]
    assert result.text == "hello world hello world hello world"


def test_a_short_file_with_chunking_is_one_ordinary_request(client: Client, gateway: FakeGateway) -> None:
    result = client.transcribe(wav(3.0), response_format="srt", chunk_seconds=10)
    (sent,) = uploads(gateway)
    assert sent[0]["response_format"] == ["srt"]
    assert result.body == "1\n00:00:00,000 --> 00:00:01,500\nhello world\n\n"  # the server's, verbatim


def test_pieces_stay_under_the_upload_limit(client: Client, gateway: FakeGateway) -> None:
    client.transcribe(wav(10.0), chunk_seconds=600, max_chunk_bytes=100_000)
    sizes = [len(data) for _, data in uploads(gateway)]
    assert len(sizes) == 4 and max(sizes) <= 100_000


def test_splitting_other_formats_without_pyav_says_what_to_install(client: Client) -> None:
    if importlib.util.find_spec("av") is not None:
        pytest.skip("PyAV is installed here; this checks the message given without it")
    with pytest.raises(llc.InputError, match="PyAV"):
        client.transcribe(b"fLaC" + b"\x00" * 4096, chunk_seconds=10)


# -- module layout ----------------------------------------------------------------------------------------------------


def test_each_capability_module_owns_its_default_alias() -> None:
    from litellm_local_client import chat, embeddings, ocr, rerank, transcription

    aliases = llc.Aliases()
    assert (
        (aliases.chat, aliases.ocr, aliases.embedding, aliases.asr, aliases.rerank)
        == (
            chat.DEFAULT_ALIAS,
            ocr.DEFAULT_ALIAS,
            embeddings.DEFAULT_ALIAS,
            transcription.DEFAULT_ALIAS,
            rerank.DEFAULT_ALIAS,
        )
        == ("completions", "ocr", "embedding", "asr", "rerank")
    )


def test_the_client_is_its_capabilities_on_one_core() -> None:
    from litellm_local_client import chat, client, core, embeddings, gateway, ocr, rerank, transcription

    mixins = [
        chat.ChatMixin,
        ocr.OcrMixin,
        embeddings.EmbeddingsMixin,
        transcription.TranscriptionMixin,
        rerank.RerankMixin,
        gateway.GatewayMixin,
    ]
    assert all(issubclass(Client, m) and issubclass(m, core.ClientCore) for m in mixins)
    methods = ["chat", "chat_stream", "ocr", "ocr_pages", "embed", "transcribe", "rerank", "models", "health"]
    assert all(callable(getattr(Client, name)) for name in methods)
    # The names the package and client.py exported before the split still import from both.
    assert llc.Client is client.Client and llc.EmbedInput is embeddings.EmbedInput is client.EmbedInput
    assert llc.Timeouts is core.Timeouts is client.Timeouts and llc.ChatStream is chat.ChatStream
    assert llc.OCR_PROMPTS is ocr.OCR_PROMPTS is client.OCR_PROMPTS
    assert client.TRANSCRIPT_FORMATS is transcription.TRANSCRIPT_FORMATS
