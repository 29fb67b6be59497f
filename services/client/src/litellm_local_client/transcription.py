"""Transcription (`POST /v1/audio/transcriptions`, the asr alias): every OpenAI response format, word and segment
timestamps, and long files split at pauses, sent piece by piece and merged (audio.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, cast

from . import audio as long_audio
from . import errors, media
from .core import ClientCore
from .results import Granularity, Segment, Transcript, TranscriptFormat, Word

DEFAULT_ALIAS = "asr"
DEFAULT_MAX_CHUNK_BYTES = 24 * 1024 * 1024  # under the ASR server's default upload limit of 25 MB
TRANSCRIPT_FORMATS: tuple[str, ...] = ("json", "text", "srt", "verbose_json", "vtt")


class TranscriptionMixin(ClientCore):
    def transcribe(
        self,
        audio: media.AudioInput,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        response_format: TranscriptFormat | None = None,
        timestamps: Sequence[Granularity] = (),
        filename: str | None = None,
        progress: media.ProgressCallback | None = None,
        chunk_seconds: float | None = None,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        on_piece: Callable[[int, int], None] | None = None,
    ) -> Transcript:
        """Speech to text. `audio`: a path (streamed from disk), bytes or a binary file. `response_format` defaults
        to verbose_json when `timestamps` ("word", "segment") are asked for, else json. `progress(sent, total)` is
        called as the upload is read.

        Long files: with `chunk_seconds`, audio longer than that (or larger than `max_chunk_bytes`) is split into
        pieces cut at pauses, each piece transcribed in turn (`on_piece(number, count)` before each), and the
        transcripts merged with timestamps on the whole file's clock; srt and vtt are then rendered from the merged
        segments. Without it, the server's own limits apply (a 400 or 413 says which)."""
        model = model or self.aliases.asr
        fmt = response_format or ("verbose_json" if timestamps else "json")
        if fmt not in TRANSCRIPT_FORMATS:
            raise errors.InputError(f"unknown response format {fmt!r}", "Use one of: " + ", ".join(TRANSCRIPT_FORMATS))
        bad = [g for g in timestamps if g not in ("word", "segment")]
        if bad:
            raise errors.InputError(f"unknown timestamp granularity {bad[0]!r}", "Use word and/or segment")
        if timestamps and fmt != "verbose_json":
            raise errors.InputError(
                f"timestamps need response_format verbose_json, not {fmt}",
                "Drop the response format (verbose_json is then used) or the timestamps",
            )
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            raise errors.InputError(
                f"language {language!r} is not an ISO-639-1 code", "Use a two-letter code such as en, de or zh"
            )
        if chunk_seconds is not None and chunk_seconds <= 0:
            raise errors.InputError(f"chunk_seconds must be positive, not {chunk_seconds}")
        params: dict[str, Any] = {}
        if language is not None:
            params["language"] = language
        if prompt is not None:
            params["prompt"] = prompt
        if temperature is not None:
            params["temperature"] = temperature
        granularities = list(dict.fromkeys(timestamps))
        if chunk_seconds is None:
            return self._transcribe_once(audio, model, fmt, granularities, params, filename, progress)

        with media.open_audio(audio, filename=filename) as upload:
            data, name = upload.reader.read(), upload.name
        pcm = long_audio.decode(data, name)
        if pcm.seconds <= chunk_seconds and len(data) <= max_chunk_bytes:
            return self._transcribe_once(data, model, fmt, granularities, params, name, progress)
        pieces = list(long_audio.split(pcm, chunk_seconds=chunk_seconds, max_bytes=max_chunk_bytes))
        # Pieces come back as verbose_json when timestamps are needed (asked for, or to build srt/vtt).
        piece_granularities = granularities + (["segment"] if fmt in ("srt", "vtt") and not granularities else [])
        piece_fmt = "verbose_json" if piece_granularities else "json"
        parts = []
        for number, piece in enumerate(pieces, 1):
            if on_piece is not None:
                on_piece(number, len(pieces))
            part = self._transcribe_once(
                piece.wav,
                model,
                piece_fmt,
                piece_granularities,
                params,
                f"piece{number}.wav",
                progress,
                action=f"transcribe (piece {number} of {len(pieces)}, from {piece.start:.1f} s)",
            )
            parts.append((piece, part))
        return long_audio.merge(parts, cast(TranscriptFormat, fmt))

    def _transcribe_once(
        self,
        audio: media.AudioInput,
        model: str,
        fmt: str,
        granularities: list[Granularity],
        params: dict[str, Any],
        filename: str | None,
        progress: media.ProgressCallback | None,
        action: str = "transcribe",
    ) -> Transcript:
        extra: dict[str, Any] = {"response_format": fmt, **params}
        if granularities:
            extra["timestamp_granularities"] = granularities
        with media.open_audio(audio, filename=filename, progress=progress) as upload, self._errors(action, model):
            reply: Any = self.openai.audio.transcriptions.create(
                model=model,
                file=upload.as_file(),
                timeout=self._timeout(self.timeouts.transcribe),
                **extra,
            )
        return _transcript(fmt, reply)


def _transcript(fmt: str, reply: Any) -> Transcript:
    if isinstance(reply, str):
        text = reply
        return Transcript(
            response_format=cast(TranscriptFormat, fmt), text=text.strip() if fmt == "text" else text, body=text
        )
    words = [Word(word=w.word, start=float(w.start), end=float(w.end)) for w in (getattr(reply, "words", None) or [])]
    segments = [
        Segment(
            id=s.id,
            start=float(s.start),
            end=float(s.end),
            text=s.text,
            seek=s.seek,
            tokens=list(s.tokens),
            temperature=s.temperature,
            avg_logprob=s.avg_logprob,
            compression_ratio=s.compression_ratio,
            no_speech_prob=s.no_speech_prob,
        )
        for s in (getattr(reply, "segments", None) or [])
    ]
    return Transcript(
        response_format=cast(TranscriptFormat, fmt),
        text=reply.text,
        language=getattr(reply, "language", None),
        duration=getattr(reply, "duration", None),
        words=words,
        segments=segments,
    )
