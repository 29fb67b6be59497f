"""Typed results: plain dataclasses, independent of the `openai` client's models, each with `to_dict()` for JSON."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

OcrTask = Literal["text", "table", "formula"]
TranscriptFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
Granularity = Literal["word", "segment"]


class _Dict:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(cast(Any, self))


@dataclass(frozen=True)
class Usage(_Dict):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class ChatResult(_Dict):
    text: str
    model: str
    finish_reason: str | None
    usage: Usage | None = None


@dataclass(frozen=True)
class OcrPage(_Dict):
    page: int  # 1-based; 1 for a single image
    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class OcrResult(_Dict):
    task: OcrTask
    model: str
    pages: list[OcrPage]

    @property
    def text(self) -> str:
        """Every page's text, pages separated by a blank line."""
        return "\n\n".join(p.text.strip("\n") for p in self.pages)


@dataclass(frozen=True)
class EmbeddingResult(_Dict):
    model: str
    vectors: list[list[float]]
    usage: Usage | None = None

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0

    def __len__(self) -> int:
        return len(self.vectors)

    def __getitem__(self, index: int) -> list[float]:
        return self.vectors[index]

    def cosine(self, i: int, j: int) -> float:
        """Cosine similarity of two of the returned vectors."""
        a, b = self.vectors[i], self.vectors[j]
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        return dot / norm if norm else 0.0


@dataclass(frozen=True)
class Word(_Dict):
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment(_Dict):
    id: int
    start: float
    end: float
    text: str
    seek: int = 0
    tokens: list[int] = field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript(_Dict):
    """A transcription. `text` is the plain text for json/verbose_json/text; for srt and vtt, `body` holds the
    subtitle file exactly as the server sent it and `text` the same."""

    response_format: TranscriptFormat
    text: str
    body: str | None = None
    language: str | None = None
    duration: float | None = None
    words: list[Word] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class ModelInfo(_Dict):
    id: str
    owned_by: str | None = None
    created: int | None = None


@dataclass(frozen=True)
class Health(_Dict):
    """`live`: /health/liveliness answered 200; `ready`: /health/readiness answered 200 and reports healthy."""

    live: bool
    ready: bool
    version: str | None = None
    readiness: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.live and self.ready


@dataclass(frozen=True)
class RankedDocument(_Dict):
    """One document's place in a ranking: `index` is its position in the documents sent, `relevance_score` the
    model's score (higher is more relevant), `document` the text the gateway sent back for it (with
    return_documents; None for an image document or when not asked for)."""

    index: int
    relevance_score: float
    document: str | None = None


@dataclass(frozen=True)
class RerankResult(_Dict):
    """The documents ordered by relevance to the query, most relevant first (the best `top_n` when given).
    `meta` is the gateway's `meta` object as sent (billed units, tokens)."""

    model: str
    results: list[RankedDocument]
    id: str | None = None
    usage: Usage | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def indices(self) -> list[int]:
        """The documents' positions, most relevant first."""
        return [r.index for r in self.results]

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, rank: int) -> RankedDocument:
        return self.results[rank]

    def __iter__(self) -> Iterator[RankedDocument]:
        return iter(self.results)
