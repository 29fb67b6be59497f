"""The gateway's per-request limits, read once from the environment (the role's env file) when a plug-in starts.

Nothing is read at import time: `GatewaySettings()` holds the defaults and `GatewaySettings.from_env()` the
deployed values. A value that is not a positive integer (or a domain list entry that is not a host name) stops the
gateway at start, naming the variable, rather than running with a limit nobody meant.

Names shared with the other services mean the same there (services/asr, services/embed): max_body_bytes,
max_embedding_inputs, max_upload_bytes. A dataclass rather than pydantic-settings: the guard's tests run it in the
control node's venv, which has neither LiteLLM nor pydantic-settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

MAX_BODY_BYTES = "LITELLM_LOCAL_MAX_BODY_BYTES"
MAX_JSON_DEPTH = "LITELLM_LOCAL_MAX_JSON_DEPTH"
MAX_JSON_CONTAINERS = "LITELLM_LOCAL_MAX_JSON_CONTAINERS"
MAX_EMBEDDING_INPUTS = "LITELLM_LOCAL_MAX_EMBEDDING_INPUTS"
MAX_N = "LITELLM_LOCAL_MAX_N"
MAX_TOKENS = "LITELLM_LOCAL_MAX_TOKENS"
MAX_IMAGES = "LITELLM_LOCAL_MAX_IMAGES"
EMBED_CONCURRENCY = "LITELLM_LOCAL_EMBED_CONCURRENCY"
ALLOWED_MEDIA_DOMAINS = "LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS"
MAX_UPLOAD_BYTES = "LITELLM_LOCAL_MAX_UPLOAD_BYTES"

# A host name (or an IPv4 address) as urllib's `hostname` gives it: lower case, no port.
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")


@dataclass(frozen=True)
class GatewaySettings:
    """Limits of one request, each named by the environment variable that sets it."""

    max_body_bytes: int = field(default=16 * 1024 * 1024, metadata={"env": MAX_BODY_BYTES})
    max_json_depth: int = field(default=32, metadata={"env": MAX_JSON_DEPTH})
    # Arrays and objects in one body: bounds the CPU time one body costs to parse (parsing blocks the event loop).
    max_json_containers: int = field(default=100_000, metadata={"env": MAX_JSON_CONTAINERS})
    max_embedding_inputs: int = field(default=256, metadata={"env": MAX_EMBEDDING_INPUTS})
    max_n: int = field(default=8, metadata={"env": MAX_N})
    max_tokens: int = field(default=8192, metadata={"env": MAX_TOKENS})
    max_images: int = field(default=8, metadata={"env": MAX_IMAGES})
    embed_concurrency: int = field(default=16, metadata={"env": EMBED_CONCURRENCY})
    # The ASR servers' upload limit (roles/litellm sets it from asr_max_upload_mb): a larger audio file is a 413 here.
    max_upload_bytes: int = field(default=25_000_000, metadata={"env": MAX_UPLOAD_BYTES})
    allowed_media_domains: frozenset[str] = field(default=frozenset(), metadata={"env": ALLOWED_MEDIA_DOMAINS})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        """The settings of `environ` (default: the process environment); unset or empty variables keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"], "").strip()
            if not raw:
                continue
            if f.name == "allowed_media_domains":
                values[f.name] = parse_domains(raw)
            else:
                values[f.name] = _positive_int(f.metadata["env"], raw)
        return cls(**values)  # type: ignore[arg-type]


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be at least 1")
    return value


def parse_domains(raw: str) -> frozenset[str]:
    """Host names from a comma-separated list, lower case; exact names only (no scheme, port, path or wildcard)."""
    hosts = set()
    for entry in raw.split(","):
        host = entry.strip().lower()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            continue
        if not _HOST.fullmatch(host) and not _is_ipv6(host):
            raise ValueError(
                f"{ALLOWED_MEDIA_DOMAINS}: {entry.strip()!r} is not a host name "
                "(give bare host names such as images.example.com, comma-separated: no scheme, port, path or '*')"
            )
        hosts.add(host)
    return frozenset(hosts)


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
