"""Decode an uploaded audio file (the containers OpenAI lists) to 16 kHz mono float32.

PyAV ships its own FFmpeg libraries, so no system ffmpeg is needed. FFmpeg reads only the uploaded bytes, and only
through the demuxers of the accepted containers: playlists and descriptions that make FFmpeg open other files or the
network (HLS, ffconcat, SDP/RTP, ...) are refused before their demuxer runs, and no protocol is allowed for nested
opens. Decoding stops as soon as the audio passes the length limit or the decode passes its time limit, so a long or
costly upload costs no more than the limits.

A file that is truncated or corrupt is refused (400), never transcribed in part: a decode error anywhere, a WAV data
chunk or Ogg page that the file ends inside, or less audio than the container's header declares (FLAC STREAMINFO,
MP4 sample tables, Matroska/WebM Duration, an MP3 Xing/Info/VBRI frame count) is an error naming the file.
"""

from __future__ import annotations

import errno
import io
import struct
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
# Demuxers whose header states the length exactly (not estimated from the bit rate or the last timestamp).
DECLARED_LENGTH = ("flac", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
# Decoded audio may fall short of the declared length by encoder delay and rounding, not more.
LENGTH_SLACK_S = 0.2
LENGTH_SLACK_RATIO = 0.002


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
        raise APIError(f"The audio file '{filename}' is empty.", param="file", code="empty_file")
    deadline = _Deadline(timeout_s, filename)
    container = _open(data, filename, deadline)
    demuxer = container.format.name
    chunks, total, declared = _read(container, data, filename, max_seconds, deadline)
    if total > int(max_seconds * SAMPLE_RATE):
        _too_long(max_seconds)
    if total == 0:
        raise APIError(f"'{filename}' contains no audio samples.", param="file", code="empty_audio")
    _check_complete(data, demuxer, filename, total / SAMPLE_RATE, declared)
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
    container: av.container.InputContainer, data: bytes, filename: str, max_seconds: float, deadline: _Deadline
) -> tuple[list[np.ndarray], int, float | None]:
    """Decode the first audio stream, resampled; stop past the length limit or the deadline, refuse a decode error.
    Also returns the length in seconds the header declares (None where it states none exactly)."""
    max_samples = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with container:
            if not container.streams.audio:
                raise APIError(f"'{filename}' has no audio stream.", param="file", code="invalid_audio")
            stream = container.streams.audio[0]
            declared = _declared_seconds(container, stream, data)
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
    except (av.FFmpegError, ValueError, OSError, EOFError, RuntimeError) as exc:
        where = f" after {total / SAMPLE_RATE:.2f} s" if total else ""
        raise APIError(
            f"Could not decode '{filename}'{where} ({_reason(exc)}): the file is truncated or corrupt.",
            param="file",
            code="invalid_audio",
        ) from None
    return chunks, total, declared


def _declared_seconds(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, data: bytes
) -> float | None:
    """The audio length the header states exactly: the stream's, or the container's when it holds only this stream."""
    name = container.format.name
    if name == "mp3":
        if not _mp3_has_frame_count(data):
            return None  # FFmpeg estimated the length from the bit rate
    elif name not in DECLARED_LENGTH:
        return None
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if len(container.streams) == 1 and container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


def _mp3_first_frame(data: bytes) -> int:
    """Where the first MPEG audio frame starts, past ID3v2 tags; -1 when no frame sync is near."""
    pos = 0
    while data[pos : pos + 3] == b"ID3" and len(data) >= pos + 10:
        size = 0
        for byte in data[pos + 6 : pos + 10]:
            size = (size << 7) | (byte & 0x7F)
        pos += 10 + size + (10 if data[pos + 5] & 0x10 else 0)
    for i in range(pos, min(len(data) - 1, pos + 65536)):
        if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0:
            return i
    return -1


def _mp3_has_frame_count(data: bytes) -> bool:
    """Whether the first MPEG audio frame is a Xing/Info or VBRI header: the frame count FFmpeg takes the length
    from (without one, FFmpeg estimates it from the bit rate)."""
    sync = _mp3_first_frame(data)
    if sync < 0:
        return False
    head = data[sync : sync + 64]
    return b"Xing" in head or b"Info" in head or head[36:40] == b"VBRI"


# Bit rates in kb/s by (MPEG-1?, layer) and bit rate index; sample rates by version bits and index.
_MPEG_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(header: bytes) -> int:
    """The length of the MPEG audio frame with this 4-byte header; 0 when it is no frame header."""
    b1, b2 = header[1], header[2]
    if header[0] != 0xFF or b1 & 0xE0 != 0xE0:
        return 0
    version, layer = (b1 >> 3) & 3, 4 - ((b1 >> 1) & 3)
    rate_index, kbps_index = (b2 >> 2) & 3, b2 >> 4
    if version == 1 or layer == 4 or rate_index == 3 or kbps_index in (0, 15):
        return 0
    mpeg1 = version == 3
    bps = _MPEG_KBPS[(mpeg1, layer)][kbps_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    pad = (b2 >> 1) & 1
    if layer == 1:
        return (12 * bps // rate + pad) * 4
    return (144 if layer == 2 or mpeg1 else 72) * bps // rate + pad


def _mp3_truncation(data: bytes) -> str | None:
    """Whether the last MPEG audio frame ends past the end of the file (walking frame by frame from the first; junk
    or a tag such as ID3v1 after a complete frame ends the walk)."""
    pos = _mp3_first_frame(data)
    if pos < 0:
        return None
    while pos + 4 <= len(data):
        length = _mp3_frame_length(data[pos : pos + 4])
        if length == 0:
            return None
        if pos + length > len(data):
            return "its last MPEG audio frame is cut off"
        pos += length
    return None


def _check_complete(data: bytes, demuxer: str, filename: str, decoded_s: float, declared_s: float | None) -> None:
    """Refuse a truncated file: its header declares more than it holds."""
    problem = None
    if demuxer == "wav":
        problem = _wav_truncation(data)
    elif demuxer == "ogg":
        problem = _ogg_truncation(data)
    elif demuxer == "mp3":
        problem = _mp3_truncation(data)
    elif demuxer == "mpeg":
        problem = _mpeg_ps_truncation(data)
    elif demuxer == "matroska,webm":
        problem = _matroska_truncation(data)
    short = declared_s is not None and decoded_s < declared_s * (1 - LENGTH_SLACK_RATIO) - LENGTH_SLACK_S
    if problem is None and short:
        problem = f"its header declares {declared_s:.2f} s of audio, only {decoded_s:.2f} s decode"
    if problem is not None:
        raise APIError(
            f"'{filename}' is truncated ({problem}). Upload the complete file.", param="file", code="truncated_audio"
        )


def _mpeg_ps_truncation(data: bytes) -> str | None:
    """Whether the last pack or packet of an MPEG program stream ends past the end of the file (walking from the
    first pack header; anything else ends the walk)."""
    pos = 0
    while pos + 4 <= len(data) and data[pos : pos + 3] == b"\0\0\x01":
        code = data[pos + 3]
        if code == 0xB9:  # program end
            return None
        if code == 0xBA:  # pack header: MPEG-2 (14 bytes and stuffing) or MPEG-1 (12 bytes)
            if pos + 5 > len(data):
                return "its last pack header is cut off"
            mpeg2 = data[pos + 4] >> 6 == 1
            if mpeg2 and pos + 14 > len(data):
                return "its last pack header is cut off"
            length = 14 + (data[pos + 13] & 7) if mpeg2 else 12
        elif code >= 0xBB:  # system header or PES packet: a 16-bit length follows the start code
            if pos + 6 > len(data):
                return "its last packet header is cut off"
            length = 6 + int.from_bytes(data[pos + 4 : pos + 6], "big")
        else:
            return None
        if pos + length > len(data):
            return "its last packet is cut off"
        pos += length
    return None


def _ebml_number(data: bytes, pos: int) -> tuple[int, int, bool] | None:
    """An EBML variable-length number at `pos`: (value without the length marker, its length, all value bits set)."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 9 - data[pos].bit_length()
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    return value, length, value == (1 << (7 * length)) - 1


def _matroska_truncation(data: bytes) -> str | None:
    """Whether the Segment (after the EBML header) declares more bytes than the file holds; a live recording's
    Segment of unknown size declares none."""
    pos = 0
    for expected in (0x1A45DFA3, 0x18538067):  # the EBML header, then the Segment
        ident = _ebml_number(data, pos)
        if ident is None:
            return None
        ident_value = int.from_bytes(data[pos : pos + ident[1]], "big")
        size = _ebml_number(data, pos + ident[1])
        if ident_value != expected or size is None:
            return None
        pos += ident[1] + size[1]
        if expected == 0x18538067:
            if not size[2] and pos + size[0] > len(data):
                return f"its Segment declares {size[0]} bytes, {len(data) - pos} are there"
            return None
        pos += size[0]
    return None


# A WAV data size this large is a placeholder of a streaming writer (0xFFFFFFFF, 0x7FFFF000, ...), not a length.
_WAV_UNKNOWN_SIZE = 0x7FFF0000


def _wav_truncation(data: bytes) -> str | None:
    """Whether the RIFF/WAVE data chunk ends past the end of the file (by more than 20 ms of audio)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None  # RF64/BW64, RIFX: no 32-bit little-endian sizes to check
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt " and size >= 16 and pos + 24 <= len(data):
            byte_rate = struct.unpack_from("<I", data, pos + 16)[0]
        if chunk == b"data":
            if size == 0 or size >= _WAV_UNKNOWN_SIZE:
                return None
            missing = pos + 8 + size - len(data)
            if missing > 0 and (byte_rate <= 0 or missing / byte_rate > 0.02):
                return f"its data chunk declares {size} bytes, {size - missing} are there"
            return None
        pos += 8 + size + (size & 1)
    return None


def _ogg_truncation(data: bytes) -> str | None:
    """Whether the last Ogg page ends past the end of the file."""
    pos = 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        count = data[pos + 26]
        if pos + 27 + count > len(data):
            return "its last Ogg page is cut off"
        end = pos + 27 + count + sum(data[pos + 27 : pos + 27 + count])
        if end > len(data):
            return "its last Ogg page is cut off"
        pos = end
    if 0 < len(data) - pos < 27 and data[pos : pos + 4] == b"OggS"[: len(data) - pos]:
        return "its last Ogg page is cut off"
    return None


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
