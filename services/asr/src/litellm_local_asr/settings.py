"""Settings from the environment (prefix ASR_), read when the app is created, never at import.

Names shared with the other services mean the same there (services/embed, services/gateway): host, port, log_level,
log_format, model_revision, max_batch_size, batch_wait_ms, max_queue, retry_after_s, max_upload_bytes.
"""

from __future__ import annotations

import functools
from typing import Literal

from litellm_local_common.logs import LogFormat, LogLevel
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASR_", extra="ignore")

    # Models: a local directory or a hub id (pinned by revision; the hub stays offline at run time).
    model: str = "Qwen/Qwen3-ASR-0.6B"
    model_revision: str | None = None
    aligner: str | None = "Qwen/Qwen3-ForcedAligner-0.6B"
    aligner_revision: str | None = None
    served_model_name: str = "asr"

    # Where inference runs. "transformers": both models load in this process (qwen-asr's transformers backend).
    # "vllm": recognition runs in a vLLM server serving `model` and alignment in one serving `aligner` as a pooling
    # model; this process loads only the processor (tokenizer, chat template) of `model` and the config of `aligner`.
    engine: Literal["transformers", "vllm"] = "transformers"
    # Audio longer than this is cut at its quietest 100 ms within 5 s of every multiple (qwen-asr's splitter), and the
    # pieces are decoded together (with timestamps or without): at most chunk_seconds + 5 s each.
    chunk_seconds: float = Field(default=30.0, ge=5, le=175)

    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    # VRAM share of this process in GB (0: no cap); enforced with torch.cuda.set_per_process_memory_fraction.
    gpu_memory_gb: float = Field(default=0.0, ge=0)

    # Batching across concurrent requests: one model copy, one inference thread, up to max_batch_size per batch.
    max_batch_size: int = Field(default=8, ge=1)
    batch_wait_ms: float = Field(default=10.0, ge=0)
    max_queue: int = Field(default=256, ge=1)
    # A full queue, or a transcription past request_timeout_s, is a 503 with Retry-After of this many seconds.
    retry_after_s: int = Field(default=1, ge=1)
    request_timeout_s: float = Field(default=600.0, gt=0)

    log_level: LogLevel = "info"
    # text, or one JSON object per line (journald keeps either; JSON suits log shippers).
    log_format: LogFormat = "text"

    # Generated tokens: enough for the audio (tokens per second of audio, plus a floor), never more than the cap.
    max_new_tokens: int = Field(default=4096, ge=1)
    min_new_tokens_budget: int = Field(default=64, ge=1)
    new_tokens_per_second: float = Field(default=12.0, gt=0)

    # The vllm engine: each server's base URL (without /v1) and served model name. Without an aligner URL (or
    # without `aligner`) there are no word timestamps, as with the transformers engine without an aligner.
    vllm_asr_url: str = ""
    vllm_asr_model: str = "qwen3-asr"
    vllm_aligner_url: str = ""
    vllm_aligner_model: str = "qwen3-forced-aligner"
    # Requests in flight to each server (the pieces of every job share them); vLLM batches them on its own.
    vllm_max_concurrency: int = Field(default=32, ge=1)
    vllm_connect_timeout_s: float = Field(default=5.0, gt=0)
    # One piece's recognition or alignment; past it the server counts as unavailable (503).
    vllm_timeout_s: float = Field(default=300.0, gt=0)
    # Retry-After of the 503 a client gets while a vLLM server cannot be reached.
    vllm_retry_after_s: int = Field(default=10, ge=1)

    # Limits on input. The upload limit in bytes (LITELLM_LOCAL_MAX_UPLOAD_BYTES is the gateway's, the same number);
    # ASR_MAX_UPLOAD_MB, its former name in MB (10^6 bytes), still sets it when ASR_MAX_UPLOAD_BYTES is not set.
    max_upload_bytes: int = Field(default=25_000_000, ge=1)
    max_upload_mb: float | None = Field(default=None, gt=0, description="Deprecated: max_upload_bytes in MB.")
    max_audio_seconds: float = Field(default=1200.0, gt=0)
    # Wall-clock limit of decoding one upload (open, demux, decode, resample); past it the request gets a 400.
    decode_timeout_s: float = Field(default=30.0, gt=0)

    # Subtitle cues (srt, vtt) and segments: at most this many characters each (two lines of 42).
    max_cue_chars: int = Field(default=84, ge=8)

    # Gunicorn (gunicorn_conf.py): one worker process holding the model, threads serving requests.
    host: str = "127.0.0.1"
    port: int = Field(default=8103, ge=1, le=65535)
    threads: int = Field(default=16, ge=1)

    @model_validator(mode="after")
    def _upload_limit_in_mb(self) -> Settings:
        if self.max_upload_mb is not None and "max_upload_bytes" not in self.model_fields_set:
            self.max_upload_bytes = int(self.max_upload_mb * 1_000_000)
        return self


@functools.cache
def get_settings() -> Settings:
    return Settings()
