"""The OpenAI transcription formats: json, text, srt, vtt and verbose_json (words and segments).

Timestamps come from the forced aligner, which strips punctuation and may overshoot the end of the audio: words are
mapped back onto the transcript's own spelling, clamped to [0, duration] and kept in order. Segments are sentences
(or pieces of at most MAX_SEGMENT_SECONDS) built from the words; every segment field OpenAI defines is filled.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("word", "segment")
MAX_SEGMENT_SECONDS = 30.0
SENTENCE_END = re.compile("[.!?\u3002\uff01\uff1f\u2026]+[\"')\\]\u300d\u300f]*$")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Aligned:
    """One unit the aligner timed: its (punctuation-free) text and seconds."""

    text: str
    start: float
    end: float


def words_from_alignment(text: str, items: Sequence[Aligned], duration: float) -> list[Word]:
    """Map aligner items back onto `text` (keeping punctuation and case), clamp and order their times."""
    spans: list[tuple[int, int] | None] = []
    pos = 0
    for item in items:
        span = _find(text, item.text, pos)
        spans.append(span)
        if span is not None:
            pos = span[1]
    words: list[Word] = []
    cut = 0  # text before `cut` belongs to earlier words
    prev_start = 0.0
    prev_end = 0.0
    found = [s for s in spans if s is not None]
    found_iter = iter([*found[1:], None])
    for item, span in zip(items, spans, strict=True):
        if span is None:
            display = item.text
        else:
            nxt = next(found_iter)
            limit = nxt[0] if nxt is not None else len(text)
            end = span[1]
            while end < limit and not text[end].isspace():
                end += 1
            if nxt is None:
                end = len(text)  # trailing punctuation goes to the last word
            display = text[cut:end].strip()
            cut = end
        if not display:
            continue
        start = _clamp(item.start, duration)
        stop = _clamp(item.end, duration)
        start = max(start, prev_start)
        stop = max(stop, start)
        words.append(Word(display, round(start, 3), round(stop, 3)))
        prev_start, prev_end = start, stop
    del prev_end
    return words


def _find(text: str, unit: str, pos: int) -> tuple[int, int] | None:
    """Where the aligner's `unit` is in `text` from `pos`: literally, or with the punctuation it stripped ("pm" in
    "p.m.")."""
    if not unit:
        return None
    idx = text.find(unit, pos)
    if idx >= 0:
        return idx, idx + len(unit)
    pattern = r"[^\w\s]*".join(re.escape(ch) for ch in unit)
    match = re.compile(pattern).search(text, pos)
    return (match.start(), match.end()) if match else None


def _clamp(value: float, duration: float) -> float:
    if not math.isfinite(value):
        return 0.0
    return min(max(float(value), 0.0), max(duration, 0.0))


def _joiner(text: str) -> str:
    """Words of space-delimited languages are joined by spaces; CJK and Thai characters are not."""
    return " " if " " in text.strip() or not text.strip() else ""


def segments_from_words(
    text: str,
    words: Sequence[Word],
    duration: float,
    temperature: float,
    tokenize: Callable[[str], list[int]],
) -> list[dict]:
    """Group words into sentence segments; one segment covering the audio when there are no words."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current and word.end - current[0].start > MAX_SEGMENT_SECONDS:
            groups.append(current)
            current = []
        current.append(word)
        if SENTENCE_END.search(word.word):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    sep = _joiner(text)
    pieces: list[tuple[str, float, float]]
    if groups:
        pieces = [(sep.join(w.word for w in g), g[0].start, g[-1].end) for g in groups]
    elif text.strip():
        pieces = [(text.strip(), 0.0, round(max(duration, 0.0), 3))]
    else:
        pieces = []
    segments = []
    for i, (seg_text, start, end) in enumerate(pieces):
        shown = (" " + seg_text) if sep else seg_text
        segments.append(
            {
                "id": i,
                "seek": round(start * 100),
                "start": float(start),
                "end": float(end),
                "text": shown,
                "tokens": [int(t) for t in tokenize(shown)],
                "temperature": float(temperature),
                "avg_logprob": 0.0,
                "compression_ratio": compression_ratio(seg_text),
                "no_speech_prob": 0.0,
            }
        )
    return segments


def compression_ratio(text: str) -> float:
    """Whisper's measure of repetitiveness: UTF-8 length over zlib-compressed length."""
    raw = text.encode("utf-8")
    if not raw:
        return 0.0
    return round(len(raw) / len(zlib.compress(raw)), 4)


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(max(seconds, 0.0) * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: Sequence[dict]) -> str:
    blocks = [
        f"{i}\n{_timestamp(s['start'], ',')} --> {_timestamp(s['end'], ',')}\n{s['text'].strip()}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(segments: Sequence[dict]) -> str:
    blocks = [f"{_timestamp(s['start'], '.')} --> {_timestamp(s['end'], '.')}\n{s['text'].strip()}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def usage(duration: float) -> dict:
    return {"type": "duration", "seconds": math.ceil(duration)}


def verbose_json(
    text: str,
    language: str,
    duration: float,
    words: Sequence[Word] | None,
    segments: Sequence[dict] | None,
) -> dict:
    body: dict = {
        "task": "transcribe",
        "language": language,
        "duration": round(duration, 3),
        "text": text,
    }
    if words is not None:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in words]
    if segments is not None:
        body["segments"] = list(segments)
    body["usage"] = usage(duration)
    return body
