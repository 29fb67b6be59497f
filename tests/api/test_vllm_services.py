"""OCR and vLLM embeddings through the gateway, with the documented request shape; start order on the GPU host."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest

from tests.api.conftest import png_data_url

pytestmark = pytest.mark.lab


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


@pytest.mark.parametrize("task", ["Text Recognition:", "Table Recognition:", "Formula Recognition:"])
def test_ocr_through_the_gateway(client: openai.OpenAI, task: str) -> None:
    reply = client.chat.completions.create(
        model="ocr",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": png_data_url(224, 64)}},
                    {"type": "text", "text": task},
                ],
            }
        ],
        max_tokens=8,
        temperature=0,
        extra_body={"repetition_penalty": 1.05},
    )
    assert reply.usage.completion_tokens > 0
    assert isinstance(reply.choices[0].message.content, str)
    text_only = client.chat.completions.create(
        model="ocr", messages=[{"role": "user", "content": task}], max_tokens=1, temperature=0
    )
    assert reply.usage.prompt_tokens > text_only.usage.prompt_tokens  # the image reached GLM-OCR


def test_ocr_is_greedy(client: openai.OpenAI) -> None:
    """temperature 0 gives the same answer twice (the recommended OCR sampling)."""
    message = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": png_data_url(160, 48)}},
                {"type": "text", "text": "Text Recognition:"},
            ],
        }
    ]
    answers = {
        client.chat.completions.create(model="ocr", messages=message, max_tokens=6, temperature=0)
        .choices[0]
        .message.content
        for _ in range(2)
    }
    assert len(answers) == 1


def test_text_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="embedding", input=["a red square", "a blue circle"], encoding_format="float"
    )
    assert [d.index for d in result.data] == [0, 1]
    assert all(abs(norm(d.embedding) - 1) < 1e-3 for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0


def test_image_and_image_text_embeddings(client: openai.OpenAI) -> None:
    image = png_data_url()
    result = client.embeddings.create(
        model="embedding",
        input=[{"image": image}, {"image": image, "text": "a caption"}, "a caption"],  # type: ignore[list-item]
        encoding_format="float",
    )
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and all(abs(norm(v) - 1) < 1e-3 for v in vectors)
    assert len({tuple(v) for v in vectors}) == 3  # image, image+text and text differ


def test_same_input_same_embedding_across_replicas(client: openai.OpenAI) -> None:
    """Whichever backend answers (vLLM or the Pascal server), the same input gives the same vector."""
    vectors = [
        client.embeddings.create(model="embedding", input="stable", encoding_format="float").data[0].embedding
        for _ in range(6)
    ]
    assert all(cosine(vectors[0], v) > 0.999 for v in vectors[1:])


def test_dimensions_matryoshka(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model="embedding", input="matryoshka", encoding_format="float").data[0].embedding
    short = (
        client.embeddings.create(model="embedding", input="matryoshka", dimensions=16, encoding_format="float")
        .data[0]
        .embedding
    )
    assert len(short) == 16 and abs(norm(short) - 1) < 1e-3
    head = full[:16]
    assert cosine(short, head) > 0.999  # slice, then re-normalise


def test_encoding_format_base64(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="embedding", input="packed", encoding_format="float").data[0].embedding
    raw = client.embeddings.with_raw_response.create(model="embedding", input="packed", encoding_format="base64")
    packed = raw.http_response.json()["data"][0]["embedding"]
    assert isinstance(packed, str)
    decoded = struct.unpack(f"<{len(floats)}f", base64.b64decode(packed))
    assert cosine(list(decoded), floats) > 0.9999


def test_openai_client_default_encoding_works(client: openai.OpenAI) -> None:
    """The official client asks for base64 by default and decodes it itself."""
    vector = client.embeddings.create(model="embedding", input="default").data[0].embedding
    assert abs(norm(vector) - 1) < 1e-3


@pytest.mark.parametrize(
    "bad_input",
    [[{"colour": "red"}], [{}], [{"text": 3}], []],
    ids=["unknown-key", "empty-object", "wrong-type", "empty-list"],
)
def test_bad_embedding_input_is_a_clear_400(client: openai.OpenAI, bad_input: list) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="embedding", input=bad_input, encoding_format="float")  # type: ignore[arg-type]
    assert err.value.status_code == 400
