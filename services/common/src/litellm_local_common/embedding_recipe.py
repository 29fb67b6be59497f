"""The Qwen3-VL-Embedding recipe: the conversation one input becomes before the model's chat template tokenises it.

As the official embedder (Qwen3VLEmbedder.format_model_input) builds it: a system turn holding the instruction,
stripped and ended with a full stop unless its last character is already punctuation (Unicode category P*), the
default instruction when none is given; then a user turn holding the image(s) before the text (no text part for an
empty text). The template is applied with the generation prompt added.

Both embedding paths build it here, so that they embed the same tokens: the gateway (services/gateway, vLLM's chat
form with images as `image_url` parts, for vLLM or our server) and our embedding server (services/embed, its
multimodal form with images as `{"type": "image"}` placeholders).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_INSTRUCTION = "Represent the user's input."
ADD_GENERATION_PROMPT = True


def with_punctuation(instruction: str) -> str:
    """The instruction stripped, with a full stop added unless it ends with punctuation; "" stays ""."""
    instruction = instruction.strip()
    if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
        instruction += "."
    return instruction


def system_instruction(
    instruction: str | None, request_instruction: str | None = None, default: str = DEFAULT_INSTRUCTION
) -> str:
    """The system turn's text: the item's instruction, else the request's, else `default` (also when the one given
    is blank), punctuated."""
    chosen = with_punctuation(instruction or request_instruction or "")
    return chosen or with_punctuation(default) or DEFAULT_INSTRUCTION


def conversation(
    text: str | None,
    images: Sequence[Mapping[str, Any]] = (),
    *,
    instruction: str | None = None,
    request_instruction: str | None = None,
    default_instruction: str = DEFAULT_INSTRUCTION,
) -> list[dict[str, Any]]:
    """The conversation of one input: `images` are its image content parts in the caller's form, before the text."""
    content: list[dict[str, Any]] = [dict(part) for part in images]
    if text:
        content.append({"type": "text", "text": text})
    if not content:
        raise ValueError("an embedding input needs a non-empty text or an image")
    system = system_instruction(instruction, request_instruction, default_instruction)
    return [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {"role": "user", "content": content},
    ]
