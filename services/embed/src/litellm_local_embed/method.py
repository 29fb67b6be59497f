"""The Qwen3-VL-Embedding method, as the official embedder does it, in small pure functions.

An input becomes the recipe's conversation (litellm_local_common.embedding_recipe, shared with the gateway), here
with `{"type": "image"}` placeholders that the processor fills with the decoded images in order. The chat template is
applied with add_generation_prompt=True, the batch is right-padded, and the embedding is the last layer's hidden
state at the last non-padding token, L2-normalised. Matryoshka: keep the leading dimensions, then normalise again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from litellm_local_common.embedding_recipe import DEFAULT_INSTRUCTION
from litellm_local_common.embedding_recipe import conversation as recipe_conversation

IMAGE_PLACEHOLDER = {"type": "image"}


def conversation(
    text: str | None,
    n_images: int,
    instruction: str | None = None,
    request_instruction: str | None = None,
    default_instruction: str = DEFAULT_INSTRUCTION,
) -> list[dict[str, Any]]:
    """The recipe's conversation of one input with `n_images` image placeholders (before the text)."""
    return recipe_conversation(
        text,
        [IMAGE_PLACEHOLDER] * n_images,
        instruction=instruction,
        request_instruction=request_instruction,
        default_instruction=default_instruction,
    )


def pool_last(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at the last non-padding position of each row (right padding)."""
    last = attention_mask.shape[1] - 1 - attention_mask.flip(dims=[1]).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), p=2, dim=-1)


def matryoshka(vector: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Keep the first `dimensions` values and L2-normalise them again (the full vector when None)."""
    if dimensions is None or dimensions >= vector.shape[-1]:
        return vector
    head = vector[..., :dimensions].astype(np.float32)
    norm = np.linalg.norm(head, axis=-1, keepdims=True)
    return head / np.maximum(norm, 1e-12)
