"""The guard's model check (models.py) and request contract (contract.py) in LiteLLM's own proxy application: the
aliases' modes read from a real LiteLLM Router, an alias of another mode refused on the JSON routes (guard.py) and
on the transcription route (asr.py), a model nobody serves a 404, valid requests passed on. The backends are
LiteLLM's `mock_response`, or an address nothing listens on. Runs in .venv-gateway (see test_embeddings.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch when litellm is imported
import httpx

GATEWAY_SRC = Path(__file__).resolve().parents[1] / "src"
if str(GATEWAY_SRC) not in sys.path:
    sys.path.insert(0, str(GATEWAY_SRC))

import litellm  # noqa: E402
import litellm.proxy.proxy_server as proxy_server  # noqa: E402
from litellm import Router  # noqa: E402
from litellm.utils import custom_llm_setup  # noqa: E402
from litellm_local_gateway import asr, embeddings, guard  # noqa: E402
from litellm_local_gateway.models import live_catalog  # noqa: E402
from litellm_local_gateway.settings import GatewaySettings  # noqa: E402

NOWHERE = "http://127.0.0.1:9/v1"  # the discard port: nothing answers


def model_list() -> list[dict[str, Any]]:
    """What roles/litellm/templates/litellm.yaml.j2 writes for one host of each kind (`model_info.mode` only for
    the embedding and transcription aliases), with canned answers where a request should get through."""
    return [
        {
            "model_name": "completions",
            "litellm_params": {"model": "hosted_vllm/completions", "api_base": NOWHERE, "mock_response": "hello"},
            "model_info": {"id": "completions@lab-a"},
        },
        {
            "model_name": "ocr",
            "litellm_params": {"model": "hosted_vllm/ocr", "api_base": NOWHERE, "mock_response": "text"},
            "model_info": {"id": "ocr@lab-a"},
        },
        {
            "model_name": "embedding",
            "litellm_params": {"model": "litellm-local-embed/embedding", "api_base": NOWHERE, "mock_response": [0.5]},
            "model_info": {"id": "embedding@lab-b", "mode": "embedding"},
        },
        {
            "model_name": "embedding",
            "litellm_params": {"model": "litellm-local-embed/embedding", "api_base": NOWHERE, "mock_response": [0.5]},
            "model_info": {"id": "embedding-pascal@lab-b", "mode": "embedding"},
        },
        {
            "model_name": "asr",
            "litellm_params": {"model": "hosted_vllm/asr", "api_base": NOWHERE, "api_key": "unused"},
            "model_info": {"id": "asr@lab-a", "mode": "audio_transcription"},
        },
    ]


@pytest.fixture(autouse=True)
def embedding_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """The config's `custom_provider_map`: our embedding provider, as LiteLLM's proxy registers it."""
    provider = {"provider": embeddings.PROVIDER, "custom_handler": embeddings.handler}
    monkeypatch.setattr(litellm, "custom_provider_map", [provider])
    custom_llm_setup()


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Router:
    router = Router(model_list=model_list(), num_retries=0, model_group_alias={"embed": "embedding"})
    monkeypatch.setattr(proxy_server, "llm_router", router)
    monkeypatch.setattr(proxy_server, "master_key", None)  # no key check here: that is auth.py's, tested apart
    return router


@pytest.fixture
def app(router: Router) -> Iterator[Any]:
    guard.install(proxy_server.app, GatewaySettings(), live_catalog)
    asr.install(proxy_server.app)
    yield proxy_server.app


def post(app: Any, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            if body is not None:
                kwargs["content"] = json.dumps(body).encode()
                kwargs["headers"] = {"content-type": "application/json"}
            return await client.post(path, **kwargs)

    return asyncio.run(go())


def transcribe(app: Any, model: str) -> httpx.Response:
    return post(app, "/v1/audio/transcriptions", data={"model": model}, files={"file": ("a.wav", b"RIFF", "audio/wav")})


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == "invalid_request_error"
    return body["error"]


def chat(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_the_catalog_is_litellms_model_list(router: Router) -> None:
    catalog = live_catalog()
    assert catalog is not None
    assert catalog.modes["completions"] == catalog.modes["ocr"] == {"chat"}
    assert catalog.modes["embedding"] == catalog.modes["embedding-pascal@lab-b"] == {"embedding"}
    assert catalog.modes["embed"] == {"embedding"}  # the router's model_group_alias
    assert catalog.modes["asr"] == {"audio_transcription"}
    assert catalog.unknown("gpt-4")
    for name in ("completions", "asr@lab-a", "hosted_vllm/ocr", "completions,ocr"):
        assert not catalog.unknown(name), name


def test_a_wildcard_route_leaves_unknown_names_to_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    wildcard = {"model_name": "openai/*", "litellm_params": {"model": "openai/*", "api_key": "unused"}}
    monkeypatch.setattr(proxy_server, "llm_router", Router(model_list=[*model_list(), wildcard]))
    catalog = live_catalog()
    assert catalog is not None
    assert not catalog.unknown("openai/gpt-4")
    assert not catalog.unknown("gpt-4")  # the router may route it: LiteLLM answers


def test_no_router_no_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy_server, "llm_router", None)
    assert live_catalog() is None


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/v1/chat/completions", chat("embedding"), "serves embeddings; use /v1/embeddings"),
        ("/v1/chat/completions", chat("embed"), "use /v1/embeddings"),
        ("/v1/chat/completions", chat("embedding-pascal@lab-b"), "use /v1/embeddings"),
        ("/v1/chat/completions", chat("asr"), "use /v1/audio/transcriptions"),
        ("/openai/deployments/embedding/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, "embed"),
        ("/v1/embeddings", {"model": "completions", "input": "x"}, "use /v1/chat/completions"),
        ("/v1/embeddings", {"model": "ocr", "input": "x"}, "use /v1/chat/completions"),
        ("/v1/embeddings", {"model": "asr", "input": "x"}, "use /v1/audio/transcriptions"),
    ],
)
def test_an_alias_of_another_mode_is_400_on_the_json_routes(app: Any, path: str, body: Any, words: str) -> None:
    response = post(app, path, body)
    assert response.status_code == 400, response.text
    assert error(response)["param"] == "model"
    assert words in error(response)["message"]


@pytest.mark.parametrize("model", ["completions", "ocr", "embedding"])
def test_an_alias_of_another_mode_is_400_on_the_transcription_route(app: Any, model: str) -> None:
    response = transcribe(app, model)
    assert response.status_code == 400, response.text
    assert error(response)["param"] == "model"
    assert "(/v1/audio/transcriptions is for audio transcriptions)" in error(response)["message"]


def test_a_model_nobody_serves_is_a_404_everywhere(app: Any) -> None:
    for response in (
        post(app, "/v1/chat/completions", chat("gpt-4")),
        post(app, "/v1/embeddings", {"model": "gpt-4", "input": "x"}),
        transcribe(app, "gpt-4"),
    ):
        assert response.status_code == 404, response.text
        assert error(response)["code"] == "model_not_found"
        assert error(response)["param"] == "model"


def test_requests_for_the_right_alias_pass(app: Any) -> None:
    response = post(app, "/v1/chat/completions", chat("completions", top_k=5))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "hello"
    response = post(app, "/v1/embeddings", {"model": "embedding", "input": ["a", "b"]})
    assert response.status_code == 200, response.text
    response = post(app, "/openai/deployments/ocr/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 200, response.text
    # the transcription alias gets past the check (and fails where nothing answers, not in the check)
    response = transcribe(app, "asr")
    assert response.status_code != 400 or error(response)["param"] != "model", response.text


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", chat("completions", messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        ("/v1/chat/completions", chat("completions", stream="yes"), "stream"),
        ("/v1/embeddings", {"model": "embedding", "input": [[]]}, "input[0]"),
        ("/v1/embeddings", {"model": "embedding", "input": "x", "instruction": 123}, "instruction"),
        ("/v1/embeddings", {"model": "embedding", "input": [True, 1]}, "input[0]"),
    ],
)
def test_the_issues_500s_are_400s_in_litellms_app(app: Any, path: str, body: Any, param: str) -> None:
    response = post(app, path, body)
    assert response.status_code == 400, response.text
    assert error(response)["param"] == param
