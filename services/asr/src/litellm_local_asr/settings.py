"""Settings from the environment (prefix ASR_), read when the app is created, never at import."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASR_", extra="ignore")

    # Models: a local directory or a hub id (pinned by revision; the hub stays offline at run time).
    model: str = "Qwen/Qwen3-ASR-0.6B"
    model_revision: str | None = None
    aligner: str | None = "Qwen/Qwen3-ForcedAligner-0.6B"
    aligner_revision: str | None = None
    served_model_name: str = "asr"

    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    # VRAM share of this process in GB (0: no cap); enforced with torch.cuda.set_per_process_memory_fraction.
    gpu_memory_gb: float = Field(default=0.0, ge=0)

    # Batching across concurrent requests: one model copy, one inference thread, up to max_batch_size per batch.
    max_batch_size: int = Field(default=8, ge=1)
    batch_wait_ms: float = Field(default=10.0, ge=0)
    max_queue: int = Field(default=256, ge=1)
    # text, or one JSON object per line (journald keeps either; JSON suits log shippers).
    log_format: Literal["text", "json"] = "text"
    request_timeout_s: float = Field(default=600.0, gt=0)

    # Generated tokens: enough for the audio (tokens per second of audio, plus a floor), never more than the cap.
    max_new_tokens: int = Field(default=4096, ge=1)
    min_new_tokens_budget: int = Field(default=64, ge=1)
    new_tokens_per_second: float = Field(default=12.0, gt=0)

    # Limits on input.
    max_upload_mb: float = Field(default=25.0, gt=0)
    max_audio_seconds: float = Field(default=1200.0, gt=0)
    # Wall-clock limit of decoding one upload (open, demux, decode, resample); past it the request gets a 400.
    decode_timeout_s: float = Field(default=30.0, gt=0)

    # Subtitle cues (srt, vtt) and segments: at most this many characters each (two lines of 42).
    max_cue_chars: int = Field(default=84, ge=8)

    # Gunicorn (gunicorn_conf.py): one worker process holding the model, threads serving requests.
    host: str = "127.0.0.1"
    port: int = 8103
    threads: int = Field(default=16, ge=1)


@functools.cache
def get_settings() -> Settings:
    return Settings()
