"""The HTTP API with a fake engine: request forms, response shape, errors, limits, remote images."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
from conftest import png_data_url


def vectors(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)


def assert_error(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == str(status)
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return error


def test_health_models_metrics_openapi(client) -> None:
    assert client.get("/health").status_code == 200
    models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["embedding"]
    assert set(models["data"][0]) == {"id", "object", "created", "owned_by"}
    assert client.get("/v1/models/embedding").json()["id"] == "embedding"
    assert_error(client.get("/v1/models/other"), 404, "other")
    assert "embed_requests_total" in client.get("/metrics").text
    schema = client.get("/openapi.json").json()
    assert "/v1/embeddings" in schema["paths"]


def test_openai_form_string_and_list(client) -> None:
    one = client.post("/v1/embeddings", json={"input": "hello world", "model": "embedding"})
    body = one.json()
    assert (
        body["object"] == "list" and body["model"] == "embedding" and set(body) == {"object", "model", "data", "usage"}
    )
    assert body["data"][0] == {"index": 0, "object": "embedding", "embedding": body["data"][0]["embedding"]}
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    many = vectors(client.post("/v1/embeddings", json={"input": ["a b", "hello world", "c"]}))
    assert many.shape == (3, 32)
    np.testing.assert_allclose(many[1], vectors(one)[0])  # order kept
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1, rtol=1e-6)


def test_plain_strings_are_raw_text_like_vllm(make_client) -> None:
    client, engine = make_client()
    client.post("/v1/embeddings", json={"input": ["hello"]})
    assert [(i.kind, i.text) for i in engine.inputs] == [("text", "hello")]


def test_token_ids(make_client) -> None:
    client, engine = make_client()
    single = vectors(client.post("/v1/embeddings", json={"input": [1, 2, 3]}))
    double = vectors(client.post("/v1/embeddings", json={"input": [[1, 2, 3], [4, 5]]}))
    assert single.shape == (1, 32) and double.shape == (2, 32)
    np.testing.assert_allclose(single[0], double[0])
    assert [i.token_ids for i in engine.inputs] == [[1, 2, 3], [1, 2, 3], [4, 5]]


def test_multimodal_form_builds_the_official_conversation(make_client) -> None:
    client, engine = make_client(preprocess_threads=1)  # inputs reach the engine in order
    image = png_data_url()
    request = {
        "input": [
            "a caption",
            {"text": "a photo", "image": image},
            {"image": image, "instruction": "Find the product"},
            {"text": "with its own instruction", "instruction": "Retrieve passages!"},
        ],
        "instruction": "Represent the query",
    }
    out = vectors(client.post("/v1/embeddings", json=request))
    assert out.shape == (4, 32)
    system = [i.messages[0]["content"][0]["text"] for i in engine.inputs]
    assert system == ["Represent the query.", "Represent the query.", "Find the product.", "Retrieve passages!"]
    users = [i.messages[1]["content"] for i in engine.inputs]
    assert users[0] == [{"type": "text", "text": "a caption"}]
    assert users[1] == [{"type": "image"}, {"type": "text", "text": "a photo"}]  # image before text
    assert users[2] == [{"type": "image"}]
    assert all(i.kind == "chat" and i.add_generation_prompt for i in engine.inputs)
    assert [len(i.images) for i in engine.inputs] == [0, 1, 1, 0]


def test_multimodal_default_instruction(make_client) -> None:
    client, engine = make_client()
    client.post("/v1/embeddings", json={"input": [{"text": "x"}]})
    assert engine.inputs[0].messages[0]["content"][0]["text"] == "Represent the user's input."


def test_chat_form_matches_multimodal_form(make_client) -> None:
    client, engine = make_client()
    image = png_data_url()
    chat = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": "a photo"}],
            },
        ],
        "add_generation_prompt": True,
        "dimensions": 8,
        "encoding_format": "float",
    }
    from_chat = vectors(client.post("/v1/embeddings", json=chat))
    from_items = vectors(client.post("/v1/embeddings", json={"input": [{"text": "a photo", "image": image}]}))
    assert from_chat.shape == (1, 8)
    np.testing.assert_allclose(from_chat[0], from_items[0, :8] / np.linalg.norm(from_items[0, :8]), rtol=1e-6)
    assert engine.inputs[0].messages == engine.inputs[1].messages


def test_chat_form_accepts_string_content_and_string_image_url(make_client) -> None:
    client, engine = make_client()
    request = {
        "messages": [
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": [{"type": "image_url", "image_url": png_data_url()}]},
        ]
    }
    assert client.post("/v1/embeddings", json=request).status_code == 200
    assert engine.inputs[0].add_generation_prompt is False  # vLLM's default; the gateway sends true
    assert engine.inputs[0].messages[0]["content"] == [{"type": "text", "text": "Be brief"}]


def test_dimensions_slice_and_renormalise(client) -> None:
    full = vectors(client.post("/v1/embeddings", json={"input": "x y"}))[0]
    cut = vectors(client.post("/v1/embeddings", json={"input": "x y", "dimensions": 8}))[0]
    assert cut.shape == (8,)
    np.testing.assert_allclose(cut, full[:8] / np.linalg.norm(full[:8]), rtol=1e-6)
    same = vectors(client.post("/v1/embeddings", json={"input": "x y", "dimensions": 32}))[0]
    np.testing.assert_allclose(same, full)


def test_base64_encoding(client) -> None:
    floats = vectors(client.post("/v1/embeddings", json={"input": ["x", "y"]}))
    response = client.post("/v1/embeddings", json={"input": ["x", "y"], "encoding_format": "base64"})
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in response.json()["data"]]
    np.testing.assert_array_equal(np.stack(decoded), floats)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 400, "exactly one of `input` and `messages`"),
        ({"input": "x", "messages": [{"role": "user", "content": "x"}]}, 400, "exactly one"),
        ({"input": []}, 400, "must not be empty"),
        ({"input": ""}, 400, "input[0] is an empty string"),
        ({"input": ["a", ""]}, 400, "input[1] is an empty string"),
        ({"input": [[]]}, 400, "empty list of token ids"),
        ({"input": [{}]}, 400, "needs a non-empty `text` or `image`"),
        ({"input": [{"text": "x", "colour": "red"}]}, 400, "colour"),
        ({"input": 5}, 400, "`input` must be a string"),
        ({"input": [1.5]}, 400, "`input` must be a string"),
        ({"input": [{"text": 3}]}, 400, "input[0].text"),
        ({"input": "x", "dimensions": 0}, 400, "dimensions"),
        ({"input": "x", "dimensions": 33}, 400, "at most 32"),
        ({"input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"input": "x", "model": "gpt-4"}, 404, "The model `gpt-4` does not exist"),
        ({"messages": []}, 400, "must not be empty"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 400, "role"),
        ({"messages": [{"role": "user", "content": [{"type": "audio_url"}]}]}, 400, "content"),
        ({"input": [{"image": "not a url"}]}, 400, "data URL"),
        ({"input": [{"image": "ftp://example.org/a.png"}]}, 400, "data URL"),
        ({"input": [{"image": "data:text/plain;base64,aGVsbG8="}]}, 400, "not an image"),
        ({"input": [{"image": "data:image/png,raw"}]}, 400, "base64"),
        ({"input": [{"image": "data:image/png;base64,@@@"}]}, 400, "not valid base64"),
        ({"input": [{"image": "data:image/png;base64,aGVsbG8="}]}, 400, "could not be decoded"),
        ({"input": [{"image": "http://example.org/a.png"}]}, 400, "remote image URLs are disabled"),
        ({"input": "explode"}, 400, "input[0]: the fake engine refuses"),
        ({"input": "x", "add_generation_prompt": True, "continue_final_message": True}, 400, "exclude each other"),
    ],
)
def test_bad_inputs_are_4xx_with_messages(client, body, status, fragment) -> None:
    assert_error(client.post("/v1/embeddings", json=body), status, fragment)


def test_invalid_json_and_wrong_bodies(client) -> None:
    headers = {"content-type": "application/json"}
    assert_error(client.post("/v1/embeddings", content=b"{not json", headers=headers), 400, "not valid JSON")
    assert_error(client.post("/v1/embeddings", content=b"", headers=headers), 400)
    assert_error(client.post("/v1/embeddings", content=b"[1, 2]", headers=headers), 400)
    assert_error(client.post("/v1/embeddings", content=b"\xff\xfe", headers=headers), 400)
    assert_error(client.post("/v1/embeddings", content=b"input=x"), 400)
    assert_error(client.get("/v1/embeddings"), 405)
    assert_error(client.get("/v1/nothing"), 404)


@pytest.mark.parametrize(
    ("settings", "body", "fragment"),
    [
        ({"max_embedding_inputs": 2}, {"input": ["a", "b", "c"]}, "limit of 2; split the request"),
        ({"max_tokens_per_input": 3}, {"input": ["a", "a b c d"]}, "input[1] has 4 tokens, more than"),
        (
            {"max_images_per_input": 1},
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": png_data_url()}},
                            {"type": "image_url", "image_url": {"url": png_data_url()}},
                        ],
                    }
                ]
            },
            "2 images, more than this server's limit of 1",
        ),
        ({"max_image_pixels": 1000}, {"input": [{"image": png_data_url(64, 48)}]}, "64x48 = 3072 pixels"),
        ({"max_image_bytes": 50}, {"input": [{"image": png_data_url(64, 48)}]}, "larger than 50 bytes"),
    ],
)
def test_limits_are_400s(make_client, settings, body, fragment) -> None:
    client, _ = make_client(**settings)
    assert_error(client.post("/v1/embeddings", json=body), 400, fragment)


def test_request_body_limit_is_413(make_client) -> None:
    client, _ = make_client(max_body_bytes=1000)
    assert_error(client.post("/v1/embeddings", json={"input": "x" * 2000}), 413, "larger than this server's limit")
    assert client.post("/v1/embeddings", json={"input": "x"}).status_code == 200


def test_token_limit_follows_the_model_context(make_client) -> None:
    client, _ = make_client(max_tokens_per_input=10**6)
    assert_error(client.post("/v1/embeddings", json={"input": [[1] * 4097]}), 400, "limit of 4096")


def test_remote_images_only_from_allowed_hosts(make_client) -> None:
    client, engine = make_client(remote_image_hosts="images.example.org *.cdn.example.net")
    png = base64.b64decode(png_data_url(40, 30).split(",", 1)[1])
    fetched = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        if request.url.path == "/missing.png":
            return httpx.Response(404)
        if request.url.path == "/moved.png":
            return httpx.Response(302, headers={"location": "http://10.0.0.1/secret"})
        return httpx.Response(200, content=png)

    client.app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False)
    ok = client.post("/v1/embeddings", json={"input": [{"image": "https://images.example.org/a.png"}]})
    assert ok.status_code == 200, ok.text
    assert engine.inputs[-1].images[0].size == (40, 30)
    ok = client.post("/v1/embeddings", json={"input": [{"image": "https://a.cdn.example.net/b.png"}]})
    assert ok.status_code == 200, ok.text
    for url, fragment in [
        ("https://evil.example.com/a.png", "not in this server's allow-list"),
        ("https://cdn.example.net/a.png", "not in this server's allow-list"),
        ("http://images.example.org.evil.com/a.png", "not in this server's allow-list"),
        ("https://images.example.org/missing.png", "HTTP 404"),
        ("https://images.example.org/moved.png", "HTTP 302"),
    ]:
        assert_error(client.post("/v1/embeddings", json={"input": [{"image": url}]}), 400, fragment)
    assert not any("evil" in u or "10.0.0.1" in u for u in fetched)


def test_remote_image_allow_list_refuses_wildcard_everything() -> None:
    from litellm_local_embed.settings import Settings
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="every host"):
        Settings(model="m", remote_image_hosts="*")


def test_settings_from_environment(monkeypatch) -> None:
    from litellm_local_embed.settings import Settings

    monkeypatch.setenv("EMBED_MODEL", "/srv/m")
    monkeypatch.setenv("EMBED_DTYPE", "float16")
    monkeypatch.setenv("EMBED_REMOTE_IMAGE_HOSTS", "a.example, b.example")
    settings = Settings()
    assert (settings.model, settings.dtype, settings.remote_image_hosts) == (
        "/srv/m",
        "float16",
        ["a.example", "b.example"],
    )
    monkeypatch.setenv("EMBED_ATTENTION", "flash")
    with pytest.raises(ValueError, match="attention"):
        Settings()


@pytest.mark.parametrize(
    ("field", "name", "former", "value", "newer"),
    [
        ("model_revision", "EMBED_MODEL_REVISION", "EMBED_REVISION", "a" * 40, "b" * 40),
        ("batch_wait_ms", "EMBED_BATCH_WAIT_MS", "EMBED_MAX_WAIT_MS", 7.0, 9.0),
        ("max_body_bytes", "EMBED_MAX_BODY_BYTES", "EMBED_MAX_REQUEST_BYTES", 1000, 2000),
        ("max_embedding_inputs", "EMBED_MAX_EMBEDDING_INPUTS", "EMBED_MAX_INPUTS_PER_REQUEST", 3, 4),
    ],
)
def test_renamed_settings_still_read_their_former_names(monkeypatch, field, name, former, value, newer) -> None:
    """The names shared with the other services (services/common); a deployed env file may still hold the former."""
    from litellm_local_embed.settings import Settings

    monkeypatch.setenv("EMBED_MODEL", "/srv/m")
    assert getattr(Settings(), field) != value
    monkeypatch.setenv(former, str(value))
    assert getattr(Settings(), field) == value
    monkeypatch.setenv(name, str(newer))  # both set: the new name wins
    assert getattr(Settings(), field) == newer
    assert getattr(Settings(**{field: value}), field) == value  # in code: the field's name


def test_metrics_count_requests_and_inputs(client) -> None:
    client.post("/v1/embeddings", json={"input": ["a", "b"]})
    client.post("/v1/embeddings", json={"input": []})
    text = client.get("/metrics").text
    assert 'embed_requests_total{route="/v1/embeddings",status="200"} 1.0' in text
    assert 'embed_requests_total{route="/v1/embeddings",status="400"} 1.0' in text
    assert 'embed_inputs_total{kind="text"} 2.0' in text
    assert "embed_batch_size_bucket" in text


def test_errors_are_json_everywhere(client) -> None:
    response = client.post("/v1/embeddings", content=json.dumps({"input": "x"}), headers={"content-type": "text/plain"})
    assert response.status_code in (200, 400)
    assert response.headers["content-type"].startswith("application/json")


def test_booleans_are_not_token_ids(client) -> None:
    assert_error(client.post("/v1/embeddings", json={"input": [True, 1]}), 400)
    assert_error(client.post("/v1/embeddings", json={"input": [[1, False]]}), 400)
