"""Parity: the same tiny Qwen3-VL-Embedding model served by vLLM (`--runner pooling`, unit vllm-embedding) and by our
server (unit embed-pascal) gives the same embeddings for the same vLLM chat-form request, the form the gateway sends
to either backend: cosine >= 0.999 on text, image and image+text, also with `dimensions`, and the same token count."""

from __future__ import annotations

import pytest

from tests.api.embed_lab import chat_body, cosine, pascal_base_url, png_data_url, request, vllm_base_url

pytestmark = pytest.mark.lab

THRESHOLD = 0.999


@pytest.fixture(scope="module")
def endpoints() -> tuple[str, str]:
    pascal = pascal_base_url()
    vllm = vllm_base_url()
    if vllm is None or request(f"{vllm}/health", timeout=10)[0] != 200:
        pytest.skip("vLLM's vllm-embedding is not deployed on the embedding host yet: nothing to compare with")
    return vllm, pascal


CASES = {
    "text": {"text": "a red square on a white page"},
    "image": {"image": png_data_url(96, 64)},
    "image+text": {"image": png_data_url(120, 80, "lightblue"), "text": "a caption under the picture"},
    "instruction": {"text": "where is the invoice total", "instruction": "Retrieve the relevant document."},
    "long text": {"text": "the quick brown fox jumps over the lazy dog " * 30},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dimensions", [None, 16])
def test_same_embedding_from_vllm_and_pascal(endpoints, case: str, dimensions: int | None) -> None:
    params = {"dimensions": dimensions} if dimensions else {}
    body = chat_body(**CASES[case], **params)
    answers = [request(f"{base}/v1/embeddings", body) for base in endpoints]
    for (status, answer, _), base in zip(answers, endpoints, strict=True):
        assert status == 200, f"{base}: {answer}"
    (_, from_vllm, _), (_, from_pascal, _) = answers
    a, b = from_vllm["data"][0]["embedding"], from_pascal["data"][0]["embedding"]
    assert len(a) == len(b) == (dimensions or len(a))
    assert cosine(a, b) >= THRESHOLD, f"{case}: cosine {cosine(a, b):.6f}"
    assert from_vllm["usage"]["prompt_tokens"] == from_pascal["usage"]["prompt_tokens"]


def test_plain_input_is_raw_text_on_both(endpoints) -> None:
    """OpenAI-form strings skip the chat template on both backends (vLLM's `input` semantics)."""
    body = {"model": "embedding", "input": ["hello world", "the lazy dog"], "encoding_format": "float"}
    (_, a, _), (_, b, _) = (request(f"{base}/v1/embeddings", body) for base in endpoints)
    for x, y in zip(a["data"], b["data"], strict=True):
        assert cosine(x["embedding"], y["embedding"]) >= THRESHOLD
    assert a["usage"]["prompt_tokens"] == b["usage"]["prompt_tokens"]


def test_same_response_shape(endpoints) -> None:
    """Both carry OpenAI's fields (vLLM adds `id` and `created`, which the gateway drops; ours answers exactly
    OpenAI's CreateEmbeddingResponse)."""
    (_, a, _), (_, b, _) = (request(f"{base}/v1/embeddings", chat_body("shape")) for base in endpoints)
    openai_fields = {"object", "model", "data", "usage"}
    assert openai_fields <= set(a) and set(b) == openai_fields
    assert a["object"] == b["object"] == "list" and a["model"] == b["model"]
    assert set(a["data"][0]) == set(b["data"][0])
    assert {"prompt_tokens", "total_tokens"} <= set(a["usage"]) & set(b["usage"])
