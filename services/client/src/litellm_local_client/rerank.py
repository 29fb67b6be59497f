"""Reranking (`POST /v1/rerank`, LiteLLM's Cohere-style endpoint): documents ordered by their relevance to a query.

A text document is sent as a plain string; an image document in vLLM's multimodal score format,
`{"content": [{"type": "image_url", "image_url": {"url": "data:..."}}]}`, with paths and bytes turned into data URLs
as for chat and embeddings (media.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import errors, media
from .core import ClientCore
from .results import RankedDocument, RerankResult, Usage

DEFAULT_ALIAS = "rerank"


@dataclass(frozen=True)
class RerankImage:
    """An image document given as a path, bytes, a data URL or an http(s) URL. Bytes and `os.PathLike` paths are
    taken as images without it; a plain `str` document is always text, so a path or URL given as a `str` needs it."""

    image: media.ImageInput

    def to_json(self) -> dict[str, Any]:
        return {"content": [{"type": "image_url", "image_url": {"url": media.image_url(self.image)}}]}


# A text document (str), or an image: bytes, a path (os.PathLike) or a RerankImage.
RerankDocument = str | bytes | os.PathLike[str] | RerankImage
_SINGLE = (str, bytes, bytearray, os.PathLike, RerankImage)


def document_json(document: object, number: int) -> str | dict[str, Any]:
    """What `documents` carries for one document: the text itself, or an image in the multimodal score format."""
    if isinstance(document, str):
        return document
    if isinstance(document, RerankImage):
        return document.to_json()
    if isinstance(document, bytes | bytearray | os.PathLike):
        return RerankImage(bytes(document) if isinstance(document, bytearray) else document).to_json()
    raise errors.InputError(
        f"document {number} is a {type(document).__name__}, neither text nor an image",
        "Pass a str for text; bytes, a pathlib.Path or RerankImage(path or URL) for an image",
    )


class RerankMixin(ClientCore):
    def rerank(
        self,
        query: str,
        documents: RerankDocument | Sequence[RerankDocument],
        *,
        top_n: int | None = None,
        model: str | None = None,
        return_documents: bool = False,
        instruction: str | None = None,
    ) -> RerankResult:
        """`documents` ordered by relevance to `query`, most relevant first; each result's `index` is the
        document's position in `documents`. A `str` document is text; bytes, a `pathlib.Path` or a `RerankImage`
        (path, bytes, data or http(s) URL) is an image. `top_n` keeps the best n. `return_documents` asks the
        gateway to send each text back (`RankedDocument.document`); the caller has them already, so it is off by
        default. `instruction` is the task description for rerankers that take one (vLLM passes it to the
        model's template)."""
        model = model or self.aliases.rerank
        if not isinstance(query, str) or not query.strip():
            raise errors.InputError("the rerank query is empty", "Pass the text to rank the documents against")
        items: list[Any] = [documents] if isinstance(documents, _SINGLE) else list(documents)
        if not items:
            raise errors.InputError("nothing to rerank", "Pass at least one document")
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
            raise errors.InputError(f"top_n must be a whole number of at least 1, not {top_n!r}")
        body: dict[str, Any] = {
            "model": model,
            "query": query,
            "documents": [document_json(d, n) for n, d in enumerate(items)],
            "return_documents": return_documents,
        }
        if top_n is not None:
            body["top_n"] = top_n
        if instruction is not None:
            body["instruction"] = instruction
        with self._errors("rerank", model):
            reply = self.openai.post(
                "/rerank", cast_to=object, body=body, options={"timeout": self._timeout(self.timeouts.rerank)}
            )
        return parse_result(reply, model=model, count=len(items), top_n=top_n)


def parse_result(reply: object, *, model: str, count: int, top_n: int | None) -> RerankResult:
    """A typed result of the gateway's answer, sorted by score (ties in document order), at most `top_n` long;
    ServerError when the answer does not fit the `count` documents sent."""
    if not isinstance(reply, dict) or not isinstance(reply.get("results"), list):
        raise errors.ServerError("rerank: the gateway's answer has no results list", detail=_short(reply))
    ranked: list[RankedDocument] = []
    seen: set[int] = set()
    for item in reply["results"]:
        try:
            index, score = int(item["index"]), float(item["relevance_score"])
        except (KeyError, TypeError, ValueError):
            raise errors.ServerError(
                "rerank: a result of the gateway lacks index or relevance_score", detail=_short(item)
            ) from None
        if not 0 <= index < count or index in seen:
            raise errors.ServerError(
                f"rerank: the gateway ranked document {index} "
                + ("twice" if index in seen else f"but {count} were sent (0 to {count - 1})")
            )
        seen.add(index)
        document = item.get("document")
        text = document.get("text") if isinstance(document, dict) else document  # {"text": ...}, or a bare string
        text = text if isinstance(text, str) and text else None  # an image document comes back as text ""
        ranked.append(RankedDocument(index=index, relevance_score=score, document=text))
    ranked.sort(key=lambda r: (-r.relevance_score, r.index))
    if top_n is not None:
        ranked = ranked[:top_n]  # some backends answer every document whatever top_n says
    meta = reply.get("meta") if isinstance(reply.get("meta"), dict) else {}
    return RerankResult(
        model=str(reply.get("model") or model),
        results=ranked,
        id=reply.get("id"),
        usage=_usage(meta, reply.get("usage")),
        meta=meta,
    )


def _usage(meta: dict[str, Any], usage: object) -> Usage | None:
    """Token counts from LiteLLM's Cohere-style `meta` (tokens.input_tokens, billed_units.total_tokens), else from
    an OpenAI-style `usage` (a backend answering directly)."""
    tokens = meta.get("tokens") if isinstance(meta.get("tokens"), dict) else {}
    billed = meta.get("billed_units") if isinstance(meta.get("billed_units"), dict) else {}
    other = usage if isinstance(usage, dict) else {}
    prompt = tokens.get("input_tokens") or other.get("prompt_tokens") or billed.get("total_tokens")
    total = billed.get("total_tokens") or other.get("total_tokens") or prompt
    if prompt is None and total is None:
        return None
    return Usage(prompt_tokens=int(prompt or 0), total_tokens=int(total or 0))


def _short(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 300 else text[:297] + "..."
