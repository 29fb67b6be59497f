"""Fixtures: test audio (espeak-ng speech, generated tones, every container PyAV writes) and apps on a fake engine."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from litellm_local_asr.app import create_app
from litellm_local_asr.engine import Job, Result
from litellm_local_asr.formats import Aligned
from litellm_local_asr.settings import Settings

LAB_MODELS = Path(os.environ.get("ASR_TEST_MODELS_DIR", "/var/cache/litellm-local-lab/models"))

# container -> (codec, file extension)
CONTAINERS = {
    "wav": ("pcm_s16le", "wav"),
    "flac": ("flac", "flac"),
    "ogg": ("libopus", "ogg"),
    "mp3": ("libmp3lame", "mp3"),
    "ipod": ("aac", "m4a"),
    "webm": ("libopus", "webm"),
}


def tone(seconds: float, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(
    samples: np.ndarray, rate: int, container: str = "wav", channels: int = 1, codec: str | None = None
) -> bytes:
    """Encode float32 mono samples into `container` (a PyAV muxer) at `rate` with `channels` channels."""
    codec = codec or CONTAINERS[container][0]
    if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
        rate_out = 48000
        samples = np.interp(
            np.arange(int(len(samples) * rate_out / rate)) * rate / rate_out, np.arange(len(samples)), samples
        ).astype(np.float32)
        rate = rate_out
    layout = "mono" if channels == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "vorbis":  # FFmpeg's own Vorbis encoder is marked experimental (and takes stereo only)
            stream.codec_context.options = {"strict": "experimental"}
        fmt = stream.codec_context.codec.audio_formats[0].name
        data = np.tile(samples, (channels, 1)) if channels > 1 else samples[None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data, dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        frame_size = stream.codec_context.frame_size or 1024
        fifo = av.AudioFifo()
        for f in resampler.resample(frame):
            fifo.write(f)
        while fifo.samples >= frame_size:
            for packet in stream.encode(fifo.read(frame_size)):
                out.mux(packet)
        rest = fifo.read()
        if rest is not None:
            for packet in stream.encode(rest):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> bytes:
    """A spoken English sentence from espeak-ng (a tone when espeak-ng is missing and not required)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
            pytest.fail("espeak-ng is missing: scripts/deploy installs it")
        return encode(tone(2.0), 16000)
    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    subprocess.run([exe, "-w", str(path), "Hello world. This is a test, of the speech server."], check=True)
    return path.read_bytes()


class FakeEngine:
    """The engine interface with canned results: words spread over the audio, some past its end (clamped)."""

    def __init__(self, text: str = "Hello, world. This is a test!", fail: bool = False) -> None:
        self.text = text
        self.fail = fail
        self.batches: list[int] = []

    def transcribe(self, jobs: Sequence[Job]) -> list[Result]:
        self.batches.append(len(jobs))
        if self.fail:
            raise RuntimeError("engine failure")
        results = []
        for job in jobs:
            words = [w.strip(",.!?") for w in self.text.split()]
            step = job.seconds / max(len(words), 1)
            aligned = (
                [
                    Aligned(w, i * step, (i + 1) * step + (0.5 if i == len(words) - 1 else 0.0))
                    for i, w in enumerate(words)
                ]
                if job.timestamps
                else None
            )
            results.append(Result(language=job.language or "English", text=self.text, aligned=aligned))
        return results

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) % 1000 for c in text]


@pytest.fixture
def settings() -> Settings:
    return Settings(model="fake", aligner=None, max_upload_bytes=1_000_000, max_audio_seconds=30.0, batch_wait_ms=20)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(settings, engine):
    app = create_app(settings, engine=engine)
    app.testing = True
    with app.test_client() as c:
        yield c
    app.extensions["asr"]["batcher"].close()


def post(client, data: bytes, filename: str = "a.wav", **fields):
    form = {"file": (io.BytesIO(data), filename), "model": "asr"}
    for key, value in fields.items():
        form[key] = value
    return client.post("/v1/audio/transcriptions", data=form, content_type="multipart/form-data")
