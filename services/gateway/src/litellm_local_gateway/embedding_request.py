"""The backend request of one embedding input: the Qwen3-VL-Embedding recipe (litellm_local_common.embedding_recipe)
in vLLM's chat form, which both backends take (vLLM `--runner pooling` and our server, services/embed).

An input item is a string or an object `{"text"?, "image"?, "instruction"?}` (the image a data: URL, or an http(s)
URL of a host in LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS); the request becomes the recipe's conversation with the image
as an `image_url` part, and `add_generation_prompt`. An item this refuses raises ItemRefused (a 400 the provider
answers). This module does not import LiteLLM: the embedding server's tests build the same request, to check that
both paths give the model the same tokens.
"""

from __future__ import annotations

from typing import Any

from litellm_local_common.embedding_recipe import ADD_GENERATION_PROMPT, conversation

from .media import media_url_problem, refusal_message

ITEM_KEYS = frozenset({"text", "image", "instruction"})


class ItemRefused(ValueError):
    """An input item, or the request's instruction, that the provider refuses with a 400."""


def chat_request(
    model: str,
    item: Any,
    instruction: Any,
    params: dict[str, Any],
    *,
    allowed_media_domains: frozenset[str] = frozenset(),
    param: str = "input",
) -> dict[str, Any]:
    """vLLM's chat-form embedding request for one input item; `instruction` is the request's (None: the default),
    `param` names the item in error messages (`input[3]`)."""
    if instruction is not None and not isinstance(instruction, str):
        raise ItemRefused(f"`instruction` must be a string; got {type(instruction).__name__}")
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict):
        raise ItemRefused(
            "each `input` item must be a string, a list of token ids, or an object with `text` and/or `image` "
            f"(and optionally `instruction`); got {type(item).__name__}"
        )
    unknown = set(item) - ITEM_KEYS
    if unknown:
        raise ItemRefused(
            f"unknown key(s) {sorted(unknown)} in an `input` object; use `text`, `image` (a data URL) and `instruction`"
        )
    text, image, own = item.get("text"), item.get("image"), item.get("instruction")
    if any(value is not None and not isinstance(value, str) for value in (text, image, own)):
        raise ItemRefused("`text`, `image` and `instruction` must be strings (`image`: a data URL)")
    if not text and not image:
        raise ItemRefused(f"`{param}` needs a non-empty `text` or `image`")
    images = []
    if image:
        problem = media_url_problem(image, allowed_media_domains)
        if problem:
            raise ItemRefused(refusal_message(f"{param}.image", problem, allowed_media_domains))
        images.append({"type": "image_url", "image_url": {"url": image}})
    return {
        "model": model,
        "messages": conversation(text, images, instruction=own, request_instruction=instruction),
        "add_generation_prompt": ADD_GENERATION_PROMPT,
        **params,
    }
