"""Loading Qwen3-VL-Embedding the way the official code does: a wrapper that holds Qwen3VLModel under `.model`.

The checkpoint's weights are named `model.language_model.*` and `model.visual.*`. Loading it with AutoModel or
Qwen3VLModel.from_pretrained can leave every weight freshly initialised with nothing but a warning (the names do not
line up); this wrapper's parameter names are the checkpoint's, and the tests check that loaded weights equal the
saved ones.
"""

from __future__ import annotations

import torch
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel, Qwen3VLPreTrainedModel


class Qwen3VLForEmbedding(Qwen3VLPreTrainedModel):
    _checkpoint_conversion_mapping: dict = {}  # noqa: RUF012  # the parent's class attribute, overridden empty
    accepts_loss_kwargs = False

    def __init__(self, config) -> None:
        super().__init__(config)
        self.model = Qwen3VLModel(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value) -> None:
        self.model.set_input_embeddings(value)

    def forward(self, **inputs) -> torch.Tensor:
        """The last layer's hidden states, (batch, tokens, hidden)."""
        # Qwen3VLModel caches rope deltas between calls for generation; every embedding batch starts afresh.
        self.model.rope_deltas = None
        return self.model(**inputs, use_cache=False).last_hidden_state
