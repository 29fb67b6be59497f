"""The gateway through the official openai client: chat, streaming, an image, errors."""

from __future__ import annotations

import openai
import pytest

from tests.api.conftest import png_data_url

pytestmark = pytest.mark.lab


def test_models_lists_the_aliases(client: openai.OpenAI) -> None:
    assert "completions" in {m.id for m in client.models.list()}


def test_chat_completion(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="completions", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8
    )
    assert reply.choices[0].message.role == "assistant"
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_chat_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="completions", messages=[{"role": "user", "content": "Count to five."}], max_tokens=8, stream=True
    )
    chunks = list(stream)
    assert len(chunks) >= 2
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_chat_with_an_image(client: openai.OpenAI) -> None:
    text_only = client.chat.completions.create(
        model="completions", messages=[{"role": "user", "content": "Describe."}], max_tokens=4
    )
    reply = client.chat.completions.create(
        model="completions",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": png_data_url()}},
                    {"type": "text", "text": "Describe."},
                ],
            }
        ],
        max_tokens=4,
    )
    # The image's tokens reached the model: the prompt is longer than the same text alone.
    assert reply.usage.prompt_tokens > text_only.usage.prompt_tokens + 4


def test_unknown_model_is_a_client_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert 400 <= err.value.status_code < 500


def test_no_key_is_401(client: openai.OpenAI) -> None:
    anonymous = openai.OpenAI(
        base_url=str(client.base_url),
        api_key="unused",
        max_retries=0,
        timeout=30,
        default_headers={"Authorization": ""},
    )
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()


def test_wrong_key_is_401_with_a_message(client: openai.OpenAI) -> None:
    wrong = openai.OpenAI(base_url=str(client.base_url), api_key="sk-not-the-key-0123456789", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as err:
        wrong.chat.completions.create(model="completions", messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    assert err.value.status_code == 401
    assert "invalid API key" in str(err.value)
