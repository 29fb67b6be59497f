"""Settings, read from the environment (prefix EMBED_) by a cached get_settings(); nothing happens at import time.

Names shared with the other services mean the same there (services/asr, services/gateway): host, port, log_level,
log_format, model_revision, max_batch_size, batch_wait_ms, max_queue, retry_after_s, max_body_bytes,
max_embedding_inputs. A renamed setting keeps its former environment name as an alias (validation_alias: the new
name first, which wins when both are set); in code it is set by its field name (populate_by_name).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Annotated, Literal

from litellm_local_common.embedding_recipe import DEFAULT_INSTRUCTION
from litellm_local_common.logs import LogFormat, LogLevel
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# An entry of remote_image_hosts: a host name or IPv4 address, or `*.` and a domain (IPv6 addresses apart).
_HOST_ENTRY = re.compile(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMBED_", extra="ignore", populate_by_name=True)

    # What to serve.
    model: str = Field(description="Hub id (with revision) or local directory of a Qwen3-VL-Embedding checkpoint.")
    model_revision: str | None = Field(
        None,
        description="Hub revision (a 40-hex commit) when model is a hub id.",
        validation_alias=AliasChoices("EMBED_MODEL_REVISION", "EMBED_REVISION"),
    )
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
    max_embedding_inputs: int = Field(
        256, ge=1, validation_alias=AliasChoices("EMBED_MAX_EMBEDDING_INPUTS", "EMBED_MAX_INPUTS_PER_REQUEST")
    )
    max_tokens_per_input: int = Field(8192, ge=1)
    max_images_per_input: int = Field(4, ge=0)
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Largest decoded image (width x height).")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest encoded image.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="Largest request body (413 above).",
        validation_alias=AliasChoices("EMBED_MAX_BODY_BYTES", "EMBED_MAX_REQUEST_BYTES"),
    )

    # Remote images (images.py): off unless hosts are listed; every image must then be a data URL. Entries (commas or
    # spaces between them) are host names or IP addresses, matched exactly and case-insensitively, or
    # `*.example.org` for that domain's subdomains. Never paths, never another scheme, never redirects.
    remote_image_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Hosts whose http(s) image URLs may be fetched (empty: data URLs only)."
    )
    remote_image_timeout_s: float = Field(5.0, gt=0, le=60, description="Deadline of one remote image fetch, whole.")

    # Batching across requests.
    max_batch_size: int = Field(32, ge=1, description="Inputs per forward pass.")
    max_batch_tokens: int = Field(16384, ge=1, description="Padded tokens per forward pass.")
    batch_wait_ms: float = Field(
        5.0,
        ge=0,
        description="How long the first input waits for company.",
        validation_alias=AliasChoices("EMBED_BATCH_WAIT_MS", "EMBED_MAX_WAIT_MS"),
    )
    max_queue: int = Field(1024, ge=1, description="Inputs waiting at most; more get 503 with Retry-After.")
    retry_after_s: int = Field(1, ge=1)
    preprocess_threads: int = Field(
        0, ge=0, description="Threads that decode and process images and long texts (0: the CPU count, 4 to 16)."
    )

    log_level: LogLevel = "info"
    # text, or one JSON object per line (journald keeps either; JSON suits log shippers).
    log_format: LogFormat = "text"

    @field_validator("remote_image_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.replace(",", " ").split() if h.strip()]
        return value

    @field_validator("remote_image_hosts")
    @classmethod
    def _no_wildcard_everything(cls, value: list[str]) -> list[str]:
        hosts = []
        for host in value:
            host = host.strip().lower().rstrip(".")
            if host in {"*", "*."} or not host.replace("*.", "", 1).strip("."):
                raise ValueError(f"remote_image_hosts entry {host!r} would allow every host; list host names")
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            if not (_HOST_ENTRY.fullmatch(host) or _is_ipv6(host)):
                raise ValueError(
                    f"remote_image_hosts entry {host!r} is not a host name: list bare host names or IP addresses "
                    "(images.example.org, *.cdn.example.org, 192.0.2.7), without scheme, user, port or path"
                )
            hosts.append(host)
        return hosts


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


@functools.cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # model comes from EMBED_MODEL
