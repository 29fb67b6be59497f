"""Embeddings (`POST /v1/embeddings`): plain strings in the OpenAI request, images and mixed items in the
multimodal one ({"text", "image", "instruction"} items)."""

from __future__ import annotations

import array
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from . import errors, media
from .core import ClientCore, to_usage
from .results import EmbeddingResult

DEFAULT_ALIAS = "embedding"


@dataclass(frozen=True)
class EmbedInput:
    """One item of a multimodal embedding request: text, an image (path, bytes, data or http URL), or both."""

    text: str | None = None
    image: media.ImageInput | None = None
    instruction: str | None = None

    def to_json(self) -> dict[str, str]:
        if self.text is None and self.image is None:
            raise errors.InputError("an embedding input needs text, an image or both")
        item: dict[str, str] = {}
        if self.text is not None:
            item["text"] = self.text
        if self.image is not None:
            item["image"] = media.image_url(self.image)
        if self.instruction is not None:
            item["instruction"] = self.instruction
        return item


class EmbeddingsMixin(ClientCore):
    def embed(
        self,
        inputs: str | Sequence[str | EmbedInput | Mapping[str, Any]],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        instruction: str | None = None,
        encoding_format: str | None = None,
    ) -> EmbeddingResult:
        """Vectors, in input order. Plain strings use the OpenAI request; any `EmbedInput` (or dict with text/image/
        instruction) or an `instruction` uses the multimodal request. `dimensions` truncates (Matryoshka);
        `encoding_format` ("float", the default, or "base64") is the wire format only: vectors come back as floats
        either way."""
        model = model or self.aliases.embedding
        items = [inputs] if isinstance(inputs, str) else list(inputs)
        if not items:
            raise errors.InputError("nothing to embed", "Pass at least one text or image")
        if encoding_format not in (None, "float", "base64"):
            raise errors.InputError(f"unknown encoding format {encoding_format!r}", "Use float or base64")
        if dimensions is not None and dimensions < 1:
            raise errors.InputError(f"dimensions must be positive, not {dimensions}")
        multimodal = instruction is not None or any(not isinstance(i, str) for i in items)
        payload: list[Any] = (
            [
                i if isinstance(i, str) else (i if isinstance(i, EmbedInput) else EmbedInput(**i)).to_json()
                for i in items
            ]
            if multimodal
            else items
        )
        # The openai client asks for base64 unless told otherwise; not every backend behind a LiteLLM gateway accepts
        # that, so the SDK asks for floats unless the caller chose.
        kwargs: dict[str, Any] = {"encoding_format": encoding_format or "float"}
        if dimensions is not None:
            kwargs["dimensions"] = dimensions
        with self._errors("embed", model):
            reply = self.openai.embeddings.create(
                model=model,
                input=cast(Any, payload),
                extra_body={"instruction": instruction} if instruction is not None else None,
                timeout=self._timeout(self.timeouts.embed),
                **kwargs,
            )
        ordered = sorted(reply.data, key=lambda d: d.index)
        vectors = [_vector(d.embedding) for d in ordered]
        if len(vectors) != len(items):
            raise errors.ServerError(f"embed: the gateway returned {len(vectors)} vectors for {len(items)} inputs")
        return EmbeddingResult(model=reply.model, vectors=vectors, usage=to_usage(reply.usage))


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # base64 of little-endian float32, when asked for explicitly
        return array.array("f", base64.b64decode(value)).tolist()
    return [float(x) for x in value]
