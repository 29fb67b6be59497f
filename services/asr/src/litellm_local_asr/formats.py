"""The OpenAI transcription formats: json, text, srt, vtt and verbose_json (words and segments).

Timestamps come from the forced aligner, which strips punctuation and may overshoot the end of the audio or go
backwards: words are mapped back onto the transcript's own spelling and their times go through `monotonic_times`
(clamped to [0, duration], starts and ends each non-decreasing, end >= start). Segments are sentences (or pieces of
at most MAX_SEGMENT_SECONDS and `max_chars` characters) built from the words; without timed words the transcript is
cut into pieces of at most `max_chars` characters with times spread over the audio in proportion to their length.
Every segment field OpenAI defines is filled. SRT and VTT cue text is sanitised (`cue_lines`) so that no transcript
can break the file's structure.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("word", "segment")
MAX_SEGMENT_SECONDS = 30.0
MAX_CUE_CHARS = 84  # two subtitle lines of 42 characters (ASR_MAX_CUE_CHARS)
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
    kept: list[tuple[str, float, float]] = []
    cut = 0  # text before `cut` belongs to earlier words
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
        if display:
            kept.append((display, item.start, item.end))
    times = monotonic_times([(start, end) for _, start, end in kept], duration)
    return [Word(display, start, end) for (display, _, _), (start, end) in zip(kept, times, strict=True)]


def monotonic_times(spans: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The one repair of timestamps: each time clamped to [0, duration] (non-finite ones to the previous time), starts
    and ends each non-decreasing, every end >= its start; rounded to milliseconds (which keeps the order)."""
    out: list[tuple[float, float]] = []
    prev_start = prev_end = 0.0
    for raw_start, raw_end in spans:
        start = max(_clamp(raw_start, duration, prev_start), prev_start)
        end = max(_clamp(raw_end, duration, start), start, prev_end)
        out.append((round(start, 3), round(end, 3)))
        prev_start, prev_end = start, end
    return out


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


def _clamp(value: float, duration: float, fallback: float = 0.0) -> float:
    limit = max(duration, 0.0) if math.isfinite(duration) else 0.0
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        value = fallback
    return min(max(value, 0.0), limit)


def _joiner(text: str) -> str:
    """Words of space-delimited languages are joined by spaces; CJK and Thai characters are not."""
    stripped = text.strip()
    return " " if not stripped or any(ch.isspace() for ch in stripped) else ""


def segments_from_words(
    text: str,
    words: Sequence[Word],
    duration: float,
    temperature: float,
    tokenize: Callable[[str], list[int]],
    max_chars: int = MAX_CUE_CHARS,
) -> list[dict]:
    """Group words into sentence segments of at most MAX_SEGMENT_SECONDS and `max_chars` characters; without words,
    cut the text into pieces of at most `max_chars` with times in proportion to their length."""
    max_chars = max(int(max_chars), 1)
    sep = _joiner(text)
    groups: list[list[Word]] = []
    current: list[Word] = []
    length = 0
    for word in words:
        too_long = length + len(sep) + len(word.word) > max_chars
        if current and (word.end - current[0].start > MAX_SEGMENT_SECONDS or too_long):
            groups.append(current)
            current, length = [], 0
        length += (len(sep) if current else 0) + len(word.word)
        current.append(word)
        if SENTENCE_END.search(word.word):
            groups.append(current)
            current, length = [], 0
    if current:
        groups.append(current)
    if groups:
        pieces = [(sep.join(w.word for w in g), g[0].start, g[-1].end) for g in groups]
    else:
        pieces = _untimed_pieces(text, sep, duration, max_chars)
    times = monotonic_times([(start, end) for _, start, end in pieces], duration)
    segments = []
    prev_end = 0.0
    for i, ((seg_text, _, _), (start, end)) in enumerate(zip(pieces, times, strict=True)):
        start = max(start, prev_end)  # ends are non-decreasing, so this keeps start <= end: cues do not overlap
        prev_end = end
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


def _untimed_pieces(text: str, sep: str, duration: float, max_chars: int) -> list[tuple[str, float, float]]:
    """Sentences of at most `max_chars` characters (words, or CJK characters with their punctuation; a longer unit is
    cut), timed in proportion to their length over [0, duration]."""
    units = text.split() if sep else re.findall(r"\S[^\w\s]*", text)
    pieces: list[str] = []
    current = ""
    for unit in units:
        while len(unit) > max_chars:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(unit[:max_chars])
            unit = unit[max_chars:]
        if not unit:
            continue
        if current and len(current) + len(sep) + len(unit) > max_chars:
            pieces.append(current)
            current = ""
        current = current + sep + unit if current else unit
        if SENTENCE_END.search(unit):
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    total = sum(len(p) for p in pieces)
    span = max(duration, 0.0) if math.isfinite(duration) else 0.0
    out = []
    done = 0
    for piece in pieces:
        start = span * done / total
        done += len(piece)
        out.append((piece, start, span * done / total))
    return out


def compression_ratio(text: str) -> float:
    """Whisper's measure of repetitiveness: UTF-8 length over zlib-compressed length."""
    raw = text.encode("utf-8")
    if not raw:
        return 0.0
    return round(len(raw) / len(zlib.compress(raw)), 4)


def _timestamp(seconds: float, sep: str) -> str:
    return _format_ms(_ms(seconds), sep)


def _ms(seconds: float) -> int:
    return round(seconds * 1000) if math.isfinite(seconds) and seconds > 0 else 0


def _format_ms(ms: int, sep: str) -> str:
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


_ARROW = re.compile(r"-{2,}>")


def cue_lines(text: str, vtt: bool = False) -> list[str]:
    """A cue's text as lines that cannot break an SRT or VTT file: line breaks of any kind (\r, \r\n, U+2028, ...)
    split lines, control characters go, each line is stripped, empty lines are dropped (a blank line ends a cue), and
    no "-->" is left (it would read as a timing line). For VTT, "&" and "<" are escaped as the WebVTT syntax wants;
    a keyword such as NOTE or STYLE cannot start a block, since every block starts with its timing line."""
    out = []
    for raw in text.splitlines():
        line = "".join(" " if ch == "\t" else ch for ch in raw if ch == "\t" or unicodedata.category(ch) != "Cc")
        line = _ARROW.sub("->", line).strip()
        if vtt:
            line = line.replace("&", "&amp;").replace("<", "&lt;")
        if line:
            out.append(line)
    return out


def _cues(segments: Sequence[dict], sep: str, vtt: bool) -> list[tuple[str, list[str]]]:
    """(timing line, text lines) for each segment with text left after sanitising; end >= start in milliseconds."""
    cues = []
    for seg in segments:
        lines = cue_lines(str(seg.get("text", "")), vtt)
        if not lines:
            continue
        start = _ms(float(seg["start"]))
        end = max(_ms(float(seg["end"])), start)
        cues.append((f"{_format_ms(start, sep)} --> {_format_ms(end, sep)}", lines))
    return cues


def to_srt(segments: Sequence[dict]) -> str:
    """SubRip: cues numbered from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, each followed by a blank line."""
    blocks = [
        f"{i}\n{timing}\n" + "\n".join(lines) + "\n"
        for i, (timing, lines) in enumerate(_cues(segments, ",", vtt=False), start=1)
    ]
    return "\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(segments: Sequence[dict]) -> str:
    """WebVTT: the header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm` separated by blank lines."""
    blocks = [f"{timing}\n" + "\n".join(lines) + "\n" for timing, lines in _cues(segments, ".", vtt=True)]
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
