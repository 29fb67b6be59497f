"""The Qwen3-VL-Embedding recipe (litellm_local_common.embedding_recipe): the official embedder's instruction rule
and conversation, which the gateway and the embedding server both build."""

from __future__ import annotations

import pytest
from litellm_local_common.embedding_recipe import (
    DEFAULT_INSTRUCTION,
    conversation,
    system_instruction,
    with_punctuation,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Represent the query", "Represent the query."),
        ("  Find it!  ", "Find it!"),
        ("Find 图片。", "Find 图片。"),
        ("Ends with a quote'", "Ends with a quote'"),
        # Unicode punctuation that string.punctuation lacks, and symbols (category S) that it holds.
        ("Ends with an ellipsis\u2026", "Ends with an ellipsis\u2026"),
        ("Quoted \u300cthis\u300d", "Quoted \u300cthis\u300d"),
        ("Closing \u00bb", "Closing \u00bb"),
        ("Ends with a tilde~", "Ends with a tilde~."),
        ("Ends with a plus+", "Ends with a plus+."),
        ("Ends with a dollar$", "Ends with a dollar$."),
        ("", ""),
        ("   ", ""),
    ],
)
def test_punctuation_is_added_only_when_the_last_character_is_not_punctuation(given: str, expected: str) -> None:
    assert with_punctuation(given) == expected


def test_the_item_instruction_wins_then_the_request_then_the_default() -> None:
    assert system_instruction("Find the product", "Retrieve passages") == "Find the product."
    assert system_instruction(None, "Retrieve passages") == "Retrieve passages."
    assert system_instruction("", "Retrieve passages") == "Retrieve passages."
    assert system_instruction(None, None) == DEFAULT_INSTRUCTION
    assert system_instruction("   ", "Retrieve passages") == DEFAULT_INSTRUCTION  # a blank one given is the default
    assert system_instruction(None, None, default="Represent this") == "Represent this."
    assert system_instruction(None, None, default=" ") == DEFAULT_INSTRUCTION


def test_the_conversation_is_the_system_instruction_then_images_before_the_text() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    got = conversation("a caption", [image, {"type": "image"}], instruction="Find it")
    assert got == [
        {"role": "system", "content": [{"type": "text", "text": "Find it."}]},
        {"role": "user", "content": [image, {"type": "image"}, {"type": "text", "text": "a caption"}]},
    ]
    assert got[1]["content"][0] is not image  # the caller's parts are copied, never shared


def test_an_empty_text_has_no_part_and_nothing_at_all_is_refused() -> None:
    assert conversation("", [{"type": "image"}])[1]["content"] == [{"type": "image"}]
    assert conversation("text")[0]["content"][0]["text"] == DEFAULT_INSTRUCTION
    with pytest.raises(ValueError, match="non-empty text or an image"):
        conversation("", [])
    with pytest.raises(ValueError, match="non-empty text or an image"):
        conversation(None)
