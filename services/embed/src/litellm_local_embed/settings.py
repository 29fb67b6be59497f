"""Settings, read from the environment (prefix EMBED_) by a cached get_settings(); nothing happens at import time."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_INSTRUCTION = "Represent the user's input."


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMBED_", extra="ignore")

    # What to serve.
    model: str = Field(description="Hub id (with revision) or local directory of a Qwen3-VL-Embedding checkpoint.")
    revision: str | None = Field(None, description="Hub revision (a 40-hex commit) when model is a hub id.")
    served_model_name: str = Field("embedding", description="Model name in requests and /v1/models.")

    # Where and how to run it.
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=1, le=65535)
    device: str = Field("auto", description="auto (cuda when available), cpu, cuda or cuda:N.")
    # float32 is the safe choice on Pascal sm_61 cards (GTX 10xx, P40): their float16 arithmetic runs at a small
    # fraction of the float32 rate. See docs/embeddings.md.
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    attention: Literal["sdpa", "eager"] = "sdpa"
    gpu_memory_gb: float = Field(0, ge=0, description="VRAM cap in GB on CUDA (0: no cap).")
    torch_threads: int = Field(0, ge=0, description="CPU threads of torch (0: torch's default).")
    inference_process: bool = Field(
        False,
        description="Run the forward pass in a child process with its own interpreter lock (remote.py): on an H200, "
        "+34% texts/s at 64 clients, -19% images/s (docs/benchmarks.md); false: on a thread of the server's process.",
    )

    # The method.
    default_instruction: str = DEFAULT_INSTRUCTION
    image_min_pixels: int | None = Field(None, ge=1, description="Resize floor of images (default: the processor's).")
    image_max_pixels: int | None = Field(None, ge=1, description="Resize cap of images (default: the processor's).")

    # Limits: each breach is a 400 with a message.
    max_inputs_per_request: int = Field(256, ge=1)
    max_tokens_per_input: int = Field(8192, ge=1)
    max_images_per_input: int = Field(4, ge=0)
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Largest decoded image (width x height).")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest encoded image.")
    max_request_bytes: int = Field(64 * 1024 * 1024, ge=1, description="Largest request body (413 above).")

    # Remote images: off unless hosts are listed. Entries are host names, or `*.example.org` for its subdomains.
    remote_image_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    remote_image_timeout_s: float = Field(10.0, gt=0)

    # Batching across requests.
    max_batch_size: int = Field(32, ge=1, description="Inputs per forward pass.")
    max_batch_tokens: int = Field(16384, ge=1, description="Padded tokens per forward pass.")
    max_wait_ms: float = Field(5.0, ge=0, description="How long the first input waits for company.")
    max_queue: int = Field(1024, ge=1, description="Inputs waiting at most; more get 503 with Retry-After.")
    retry_after_s: int = Field(1, ge=1)
    preprocess_threads: int = Field(
        0, ge=0, description="Threads that decode and process images and long texts (0: the CPU count, 4 to 16)."
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # text, or one JSON object per line (journald keeps either; JSON suits log shippers).
    log_format: Literal["text", "json"] = "text"

    @field_validator("remote_image_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.replace(",", " ").split() if h.strip()]
        return value

    @field_validator("remote_image_hosts")
    @classmethod
    def _no_wildcard_everything(cls, value: list[str]) -> list[str]:
        for host in value:
            if host in {"*", "*."} or not host.replace("*.", "", 1).strip("."):
                raise ValueError(f"remote_image_hosts entry {host!r} would allow every host; list host names")
        return [h.lower() for h in value]


@functools.cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # model comes from EMBED_MODEL
