"""Decode any audio container PyAV reads (wav, flac, ogg, mp3, m4a, webm, ...) to 16 kHz mono float32.

PyAV ships its own FFmpeg libraries, so no system ffmpeg is needed. Decoding stops as soon as the audio passes the
length limit, so a long upload costs no more than the limit.
"""

from __future__ import annotations

import io

import av
import numpy as np

from litellm_local_asr.errors import APIError

SAMPLE_RATE = 16000


def decode(data: bytes, max_seconds: float, filename: str = "audio") -> np.ndarray:
    """Return the audio as float32 samples in [-1, 1] at 16 kHz, mono; APIError(400) when it cannot."""
    if not data:
        raise APIError("The audio file is empty.", param="file", code="empty_file")
    max_samples = int(max_seconds * SAMPLE_RATE)
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise APIError(
            f"Could not read '{filename}' as audio ({_reason(exc)}). Supported formats include wav, flac, ogg, mp3, "
            "m4a and webm.",
            param="file",
            code="invalid_audio",
        ) from None
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with container:
            if not container.streams.audio:
                raise APIError(f"'{filename}' has no audio stream.", param="file", code="invalid_audio")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    total += _append(chunks, out)
                if total > max_samples:
                    _too_long(max_seconds)
            for out in resampler.resample(None):
                total += _append(chunks, out)
    except APIError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        if total == 0:
            raise APIError(
                f"Could not decode '{filename}' ({_reason(exc)}).", param="file", code="invalid_audio"
            ) from None
        # A truncated file: keep what decoded cleanly.
    if total > max_samples:
        _too_long(max_seconds)
    if total == 0:
        raise APIError(f"'{filename}' contains no audio samples.", param="file", code="empty_audio")
    audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    if not np.all(np.isfinite(audio)):
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


def _append(chunks: list[np.ndarray], frame: av.AudioFrame) -> int:
    samples = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
    if samples.size:
        chunks.append(samples)
    return int(samples.size)


def _too_long(max_seconds: float) -> None:
    raise APIError(
        f"The audio is longer than the limit of {max_seconds:g} seconds; split it into shorter files.",
        param="file",
        code="audio_too_long",
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
