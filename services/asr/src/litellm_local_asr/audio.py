"""Decode an uploaded audio file (the containers OpenAI lists) to 16 kHz mono float32.

PyAV ships its own FFmpeg libraries, so no system ffmpeg is needed. FFmpeg reads only the uploaded bytes, and only
through the demuxers of the accepted containers: playlists and descriptions that make FFmpeg open other files or the
network (HLS, ffconcat, SDP/RTP, ...) are refused before their demuxer runs, and no protocol is allowed for nested
opens. Decoding stops as soon as the audio passes the length limit or the decode passes its time limit, so a long or
costly upload costs no more than the limits.
"""

from __future__ import annotations

import errno
import io
import time

import av
import numpy as np

from litellm_local_asr.errors import APIError

SAMPLE_RATE = 16000
DEFAULT_TIMEOUT_S = 30.0

# The containers OpenAI's transcription endpoint lists, and the FFmpeg demuxers (PyAV's `container.format.name`)
# that read them: wav; mp3 and mpga (MPEG audio, also layer II) -> mp3; flac; ogg (opus, vorbis, flac);
# mp4 and m4a -> mov,mp4,m4a,3gp,3g2,mj2; webm -> matroska,webm; mpeg (MPEG program stream) -> mpeg.
ACCEPTED_CONTAINERS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")
DEMUXERS = ("wav", "mp3", "flac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpeg")
# AVFormatContext options. FFmpeg checks format_whitelist after probing and before the demuxer reads its header
# (where sdp binds UDP ports and hls fetches segments). The upload comes through PyAV's in-memory I/O, which is no
# protocol, so allowing no protocol ("none" names none) refuses every nested open: files, http, rtp, udp, ...
OPEN_OPTIONS = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "none"}


class _Deadline:
    """The time limit of one decode, checked between packets and frames (time.monotonic, no threads)."""

    def __init__(self, seconds: float, filename: str) -> None:
        self.seconds = seconds
        self.filename = filename
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise self.error()

    def error(self) -> APIError:
        # 400, not 413: the upload is within the size limit; it is this file that is too costly to decode.
        return APIError(
            f"Decoding '{self.filename}' took longer than the limit of {self.seconds:g} seconds: the file is "
            "malformed or too costly to decode. Re-encode it (for example as 16 kHz mono FLAC or WAV) or split it.",
            param="file",
            code="decode_timeout",
        )


def decode(
    data: bytes, max_seconds: float, filename: str = "audio", timeout_s: float = DEFAULT_TIMEOUT_S
) -> np.ndarray:
    """Return the audio as float32 samples in [-1, 1] at 16 kHz, mono; APIError(400) when it cannot."""
    if not data:
        raise APIError("The audio file is empty.", param="file", code="empty_file")
    deadline = _Deadline(timeout_s, filename)
    container = _open(data, filename, deadline)
    chunks, total = _read(container, filename, max_seconds, deadline)
    if total > int(max_seconds * SAMPLE_RATE):
        _too_long(max_seconds)
    if total == 0:
        raise APIError(f"'{filename}' contains no audio samples.", param="file", code="empty_audio")
    audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    if not np.all(np.isfinite(audio)):
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


def _open(data: bytes, filename: str, deadline: _Deadline) -> av.container.InputContainer:
    """Open the bytes with the accepted demuxers only; FFmpeg's interrupt callback bounds the open (PyAV timeout)."""
    try:
        return av.open(
            io.BytesIO(data),
            mode="r",
            container_options=dict(OPEN_OPTIONS),
            metadata_errors="ignore",
            timeout=(deadline.seconds, deadline.seconds),
        )
    except av.ExitError:
        raise deadline.error() from None
    except (av.FFmpegError, ValueError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.EINVAL:  # FFmpeg's answer to a demuxer not on format_whitelist
            raise APIError(
                f"'{filename}' is not audio in an accepted container: use one of {', '.join(ACCEPTED_CONTAINERS)}.",
                param="file",
                code="unsupported_format",
            ) from None
        raise APIError(
            f"Could not read '{filename}' as audio ({_reason(exc)}). Accepted containers: "
            f"{', '.join(ACCEPTED_CONTAINERS)}.",
            param="file",
            code="invalid_audio",
        ) from None


def _read(
    container: av.container.InputContainer, filename: str, max_seconds: float, deadline: _Deadline
) -> tuple[list[np.ndarray], int]:
    """Decode the first audio stream, resampled; stop past the length limit or the deadline."""
    max_samples = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with container:
            if not container.streams.audio:
                raise APIError(f"'{filename}' has no audio stream.", param="file", code="invalid_audio")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for packet in container.demux(stream):
                deadline.check()
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        total += _append(chunks, out)
                    if total > max_samples:
                        _too_long(max_seconds)
                    deadline.check()
            for out in resampler.resample(None):
                total += _append(chunks, out)
    except APIError:
        raise
    except av.ExitError:  # FFmpeg's interrupt callback: a read ran past the time limit
        raise deadline.error() from None
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        if total == 0:
            raise APIError(
                f"Could not decode '{filename}' ({_reason(exc)}).", param="file", code="invalid_audio"
            ) from None
        # A truncated file: keep what decoded cleanly.
    return chunks, total


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
