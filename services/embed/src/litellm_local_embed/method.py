"""The Qwen3-VL-Embedding method, as the official embedder does it, in small pure functions.

An input becomes a conversation: a system turn holding the instruction (punctuation added when missing) and a user
turn holding the image(s) before the text. The chat template is applied with add_generation_prompt=True, the batch is
right-padded, and the embedding is the last layer's hidden state at the last non-padding token, L2-normalised.
Matryoshka: keep the leading dimensions, then normalise again.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import torch


def with_punctuation(instruction: str) -> str:
    """Strip the instruction and end it with a full stop unless it already ends with punctuation."""
    instruction = instruction.strip()
    if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
        instruction += "."
    return instruction


def conversation(text: str | None, n_images: int, instruction: str, default_instruction: str) -> list[dict]:
    """The official conversation of one input: system instruction, then images before the text."""
    content: list[dict] = [{"type": "image"} for _ in range(n_images)]
    if text:
        content.append({"type": "text", "text": text})
    return [
        {"role": "system", "content": [{"type": "text", "text": with_punctuation(instruction) or default_instruction}]},
        {"role": "user", "content": content},
    ]


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
