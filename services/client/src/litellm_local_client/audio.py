"""Long audio: split into pieces the server accepts, cut at the quietest moment near each boundary, and merge the
pieces' transcripts back into one, timestamps shifted by each piece's start.

WAV (PCM) is split with the standard library. Other formats are decoded to 16 kHz mono with PyAV when it is installed
(`pip install 'litellm-local-client[audio]'`); without it they must be converted to WAV first."""

from __future__ import annotations

import array
import io
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass, replace

from .errors import InputError
from .results import Segment, Transcript, TranscriptFormat, Word

QUIET_SEARCH_SECONDS = 5.0  # how far before a boundary to look for a pause
QUIET_WINDOW_SECONDS = 0.1


@dataclass(frozen=True)
class Pcm:
    frames: bytes
    rate: int
    channels: int
    width: int  # bytes per sample

    @property
    def frame_size(self) -> int:
        return self.channels * self.width

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.frame_size / self.rate


@dataclass(frozen=True)
class Piece:
    start: float  # seconds into the whole audio
    seconds: float
    wav: bytes


def decode(data: bytes, name: str) -> Pcm:
    """PCM of a WAV file (standard library), or of any format PyAV decodes, resampled to 16 kHz mono."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data), "rb") as src:
                return Pcm(src.readframes(src.getnframes()), src.getframerate(), src.getnchannels(), src.getsampwidth())
        except (wave.Error, EOFError):
            pass  # float or extensible WAV: let PyAV try
    try:
        import av
    except ImportError:
        raise InputError(
            f"splitting {name!r} needs PyAV to decode it",
            "Install it (pip install 'litellm-local-client[audio]') or convert the file to WAV first",
        ) from None
    try:
        with av.open(io.BytesIO(data)) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
            out = bytearray()
            for frame in container.decode(audio=0):
                for resampled in resampler.resample(frame):
                    out += bytes(resampled.planes[0])[: resampled.samples * 2]
            for resampled in resampler.resample(None):
                out += bytes(resampled.planes[0])[: resampled.samples * 2]
    except av.FFmpegError as err:
        raise InputError(f"{name!r} cannot be decoded", detail=str(err)) from None
    return Pcm(bytes(out), 16000, 1, 2)


def _quietest(pcm: Pcm, lo: int, hi: int) -> int:
    """The frame index in [lo, hi) that starts the quietest window (16-bit audio only; else hi)."""
    if pcm.width != 2 or hi - lo < 2:
        return hi
    window = max(1, int(pcm.rate * QUIET_WINDOW_SECONDS))
    samples = array.array("h")
    samples.frombytes(pcm.frames[lo * pcm.frame_size : hi * pcm.frame_size])
    if sys.byteorder == "big":
        samples.byteswap()
    step = window * pcm.channels
    best, best_energy = hi, None
    for offset in range(0, len(samples) - step + 1, step):
        energy = sum(abs(s) for s in samples[offset : offset + step : pcm.channels])
        if best_energy is None or energy <= best_energy:  # ties: the latest, nearest the boundary
            best, best_energy = lo + offset // pcm.channels + window // 2, energy
    return best


def split(pcm: Pcm, *, chunk_seconds: float, max_bytes: int) -> Iterator[Piece]:
    """Pieces of at most chunk_seconds and max_bytes (as WAV), each cut at a pause near its end."""
    per_piece = min(int(chunk_seconds * pcm.rate), (max_bytes - 1024) // pcm.frame_size)
    if per_piece < pcm.rate:
        raise InputError("pieces would be shorter than a second", "Use a longer chunk or a larger upload limit")
    total = len(pcm.frames) // pcm.frame_size
    search = int(min(QUIET_SEARCH_SECONDS, chunk_seconds / 4) * pcm.rate)
    start = 0
    while start < total:
        end = min(start + per_piece, total)
        if end < total:
            end = _quietest(pcm, max(start + 1, end - search), end)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(pcm.channels)
            out.setsampwidth(pcm.width)
            out.setframerate(pcm.rate)
            out.writeframes(pcm.frames[start * pcm.frame_size : end * pcm.frame_size])
        yield Piece(start=start / pcm.rate, seconds=(end - start) / pcm.rate, wav=buf.getvalue())
        start = end


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def subtitles(segments: list[Segment], fmt: str) -> str:
    """SRT or WebVTT cues of segments, as OpenAI writes them."""
    sep = "," if fmt == "srt" else "."
    cues = []
    for number, s in enumerate(segments, 1):
        timing = f"{_clock(s.start, sep)} --> {_clock(s.end, sep)}"
        cue = f"{timing}\n{s.text.strip()}\n"
        cues.append(f"{number}\n{cue}" if fmt == "srt" else cue)
    body = "\n".join(cues)
    return body if fmt == "srt" else "WEBVTT\n\n" + body


def merge(parts: list[tuple[Piece, Transcript]], fmt: TranscriptFormat) -> Transcript:
    """One transcript of the pieces' transcripts: text joined, words and segments shifted to the whole audio's time,
    segments renumbered; srt and vtt rendered from the merged segments."""
    words: list[Word] = []
    segments: list[Segment] = []
    for piece, t in parts:
        words += [replace(w, start=w.start + piece.start, end=w.end + piece.start) for w in t.words]
        piece_segments = t.segments or (
            [Segment(id=0, start=0.0, end=piece.seconds, text=t.text)] if fmt in ("srt", "vtt") and t.text else []
        )
        segments += [
            replace(
                s,
                id=len(segments) + i,
                start=s.start + piece.start,
                end=s.end + piece.start,
                seek=s.seek + round(piece.start * 100),
            )
            for i, s in enumerate(piece_segments)
        ]
    text = " ".join(t.text.strip() for _, t in parts if t.text.strip())
    language = next((t.language for _, t in parts if t.language), None)
    duration = sum(piece.seconds for piece, _ in parts)
    if fmt in ("srt", "vtt"):
        body = subtitles(segments, fmt)
        return Transcript(response_format=fmt, text=body, body=body, language=language, duration=duration)
    if fmt == "text":
        return Transcript(response_format=fmt, text=text, body=text + "\n")
    if fmt == "json":
        return Transcript(response_format=fmt, text=text)
    return Transcript(
        response_format=fmt, text=text, language=language, duration=duration, words=words, segments=segments
    )
