"""The `embedding` alias's provider (services/gateway/.../embeddings.py) against a fake backend: bounded fan-out,
an event loop that stays responsive, the input cap and the image URL rule. Runs in .venv-gateway (built by
scripts/common.sh from roles/litellm/files/requirements.lock, the gateway's own pins) through
tests/unit/test_gateway_service.py."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch when litellm is imported
import httpx

GATEWAY_SRC = Path(__file__).resolve().parents[1] / "src"
if str(GATEWAY_SRC) not in sys.path:
    sys.path.insert(0, str(GATEWAY_SRC))

from litellm.llms.custom_llm import CustomLLMError  # noqa: E402
from litellm.types.utils import EmbeddingResponse  # noqa: E402
from litellm_local_gateway.embedding_request import ItemRefused, chat_request  # noqa: E402
from litellm_local_gateway.embeddings import MultimodalEmbeddings  # noqa: E402
from litellm_local_gateway.settings import GatewaySettings  # noqa: E402

DIM = 1024
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


class Backend:
    """A fake /v1/embeddings that takes a while per request and counts requests in flight."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.in_flight = 0
        self.peak = 0
        self.requests = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.requests += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        body = json.loads(request.content)
        text = body["messages"][1]["content"][-1].get("text", "") if "messages" in body else ""
        vector = [float(len(text))] + [0.5] * (DIM - 1)
        return httpx.Response(200, json={"data": [{"embedding": vector}], "usage": {"prompt_tokens": 3}})


def provider(backend: Backend, **settings: Any) -> MultimodalEmbeddings:
    handler = MultimodalEmbeddings(GatewaySettings(**settings))
    handler._client = httpx.AsyncClient(transport=httpx.MockTransport(backend))
    return handler


async def embed(handler: MultimodalEmbeddings, items: Any) -> EmbeddingResponse:
    return await handler.aembedding(
        model="embedding",
        input=items,
        model_response=EmbeddingResponse(),
        print_verbose=print,
        logging_obj=None,
        optional_params={},
        api_base="http://backend/v1",
    )


def test_256_inputs_fan_out_bounded_and_the_loop_stays_responsive() -> None:
    backend = Backend()
    handler = provider(backend, embed_concurrency=16)
    items = [f"text {'x' * i}" for i in range(256)]

    async def main() -> tuple[EmbeddingResponse, float]:
        gaps: list[float] = []  # CPU time of this thread between two ticks: work that held the loop (a busy
        # machine descheduling the process adds wall time, not CPU time)
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.thread_time()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.thread_time()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.005)  # the ticker is running before the request starts
        try:
            response = await embed(handler, items)
        finally:
            done.set()
            await tick
        return response, max(gaps)

    response, worst_gap = asyncio.run(main())
    assert backend.requests == 256
    assert backend.peak <= 16
    assert backend.peak == 16  # and the bound is used
    assert worst_gap < 0.05, f"the event loop was held {worst_gap * 1000:.0f} ms of CPU time at once"
    assert [d["index"] for d in response.data] == list(range(256))
    assert [d["embedding"][0] for d in response.data] == [float(len(t)) for t in items]  # input order
    assert response.usage.prompt_tokens == 3 * 256


def test_concurrency_setting_is_honoured() -> None:
    backend = Backend()
    asyncio.run(embed(provider(backend, embed_concurrency=3), ["a"] * 20))
    assert backend.peak == 3


def test_input_cap_is_checked_again_in_the_provider() -> None:
    backend = Backend()
    with pytest.raises(CustomLLMError) as exc:
        asyncio.run(embed(provider(backend, max_embedding_inputs=4), ["a"] * 5))
    assert exc.value.status_code == 400
    assert "LITELLM_LOCAL_MAX_EMBEDDING_INPUTS" in exc.value.message
    assert backend.requests == 0
    asyncio.run(embed(provider(backend, max_embedding_inputs=4), list(range(100))))  # one token-id input


def test_a_failure_cancels_the_rest_of_the_fan_out() -> None:
    calls = 0

    async def failing(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return httpx.Response(500, json={"error": {"message": "boom"}})

    handler = MultimodalEmbeddings(GatewaySettings(embed_concurrency=4))
    handler._client = httpx.AsyncClient(transport=httpx.MockTransport(failing))
    with pytest.raises(CustomLLMError, match="boom"):
        asyncio.run(embed(handler, ["a"] * 64))
    assert calls <= 8


@pytest.mark.parametrize(
    "image", ["http://169.254.169.254/", "file:///etc/passwd", "ftp://x/a.png", "http://a@allowed.example/x"]
)
def test_image_urls_are_refused_in_chat_request(image: str) -> None:
    with pytest.raises(ItemRefused) as exc:
        chat_request(
            "m", {"image": image}, "i.", {}, allowed_media_domains=frozenset({"allowed.example"}), param="input[2]"
        )
    assert "`input[2].image`" in str(exc.value)
    assert "LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS" in str(exc.value)


def test_data_and_allowed_urls_are_taken() -> None:
    assert chat_request("m", {"image": DATA_URL}, "i.", {})["messages"][1]["content"][0]["image_url"]["url"] == DATA_URL
    allowed = frozenset({"allowed.example"})
    body = chat_request("m", {"image": "https://allowed.example/a.png"}, "i.", {}, allowed_media_domains=allowed)
    assert body["messages"][1]["content"][0]["image_url"]["url"] == "https://allowed.example/a.png"


def test_the_request_is_the_recipe_in_chat_form() -> None:
    body = chat_request("m", {"image": DATA_URL, "text": "a photo"}, None, {"dimensions": 8})
    assert body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": DATA_URL}}, {"type": "text", "text": "a photo"}],
            },
        ],
        "add_generation_prompt": True,
        "dimensions": 8,
    }
    # The instruction: the item's, else the request's, punctuated as the official embedder does (Unicode P*).
    system = [
        chat_request("m", item, request, {})["messages"][0]["content"][0]["text"]
        for item, request in (
            ({"text": "x", "instruction": "Find it"}, "Ignored"),
            ("x", "Retrieve passages\u2026"),
            ("x", "Match~"),
        )
    ]
    assert system == ["Find it.", "Retrieve passages\u2026", "Match~."]


@pytest.mark.parametrize(
    ("item", "instruction", "fragment"),
    [
        ("", None, "needs a non-empty `text` or `image`"),
        ({"text": ""}, None, "needs a non-empty `text` or `image`"),
        ({"text": "x", "instruction": 5}, None, "must be strings"),
        ({"text": "x", "colour": "red"}, None, "unknown key(s) ['colour']"),
        (3.5, None, "got float"),
        ("x", ["not", "a", "string"], "`instruction` must be a string"),
    ],
)
def test_bad_items_are_refused(item: Any, instruction: Any, fragment: str) -> None:
    with pytest.raises(ItemRefused) as exc:
        chat_request("m", item, instruction, {})
    assert fragment in str(exc.value)


def test_the_provider_answers_a_refused_item_with_a_400() -> None:
    backend = Backend()
    with pytest.raises(CustomLLMError) as exc:
        asyncio.run(embed(provider(backend), ["a", {"text": ""}]))
    assert exc.value.status_code == 400 and "`input[1]` needs a non-empty" in exc.value.message
    assert backend.requests == 0


def test_the_provider_refuses_a_url_image_before_calling_the_backend() -> None:
    backend = Backend()
    with pytest.raises(CustomLLMError, match=r"input\[1\]\.image"):
        asyncio.run(embed(provider(backend), ["a", {"image": "http://x/a.png"}]))
    assert backend.requests == 0
