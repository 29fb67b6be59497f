"""The shared core of `Client`: configuration, the one `openai.OpenAI` client underneath, timeouts and error
translation. Each capability (chat, ocr, embeddings, transcription, rerank, the gateway's own endpoints) is a mixin
of `ClientCore` in its own module; `client.Client` puts them together.

Retries (connection errors, 408/409/429 and 5xx, honouring Retry-After, exponential backoff with jitter) are the
openai client's own, set by `max_retries`; a failure after them is raised as one of `errors.ClientError`.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import httpx2
import openai

from . import errors
from .results import Usage

if TYPE_CHECKING:
    from .client import Aliases

DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class Timeouts:
    """Seconds. The read timeout is the longest silence allowed while waiting for the answer, so it is sized per
    capability: a transcription of a long file answers only once the whole file is done."""

    connect: float = 10.0
    chat: float = 300.0
    ocr: float = 300.0  # per page
    embed: float = 120.0
    transcribe: float = 1800.0
    models: float = 30.0
    health: float = 10.0
    rerank: float = 120.0

    def scaled(self, seconds: float) -> Timeouts:
        """Every capability's read timeout set to `seconds` (what --timeout does)."""
        return Timeouts(self.connect, seconds, seconds, seconds, seconds, seconds, seconds, seconds)


def to_usage(raw: Any) -> Usage | None:
    """Token counts of an openai response object (or None when it has none)."""
    if raw is None:
        return None
    return Usage(
        prompt_tokens=getattr(raw, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(raw, "completion_tokens", 0) or 0,
        total_tokens=getattr(raw, "total_tokens", 0) or 0,
    )


class ClientCore:
    """What every capability uses: `openai` (the `openai.OpenAI` client), `aliases`, `timeouts`, `_timeout(read)`
    and `_errors(action, model)`, which turns the openai client's exceptions into ours."""

    aliases: Aliases

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        max_retries: int,
        timeouts: Timeouts | None,
        http_client: httpx2.Client | None,
        ca_file: str | None,
    ) -> None:
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").strip().rstrip("/")
        if not url:
            raise errors.ConfigurationError(
                "no gateway address",
                "Set OPENAI_BASE_URL=https://<gateway>:8200/v1 or pass base_url (--base-url)",
            )
        if not url.startswith(("http://", "https://")):
            raise errors.ConfigurationError(
                f"the gateway address {url!r} is not an http(s) URL", "Use https://<gateway>:8200/v1"
            )
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise errors.ConfigurationError(
                "no API key", "Set OPENAI_API_KEY to the gateway's key or pass api_key (--api-key)"
            )
        ca = ca_file or os.environ.get("LITELLM_LOCAL_CA_FILE")
        if http_client is None and ca:
            if not os.path.isfile(ca):
                raise errors.ConfigurationError(
                    f"the CA file {ca!r} does not exist",
                    "Point --ca-file (LITELLM_LOCAL_CA_FILE) at the CA the deploy printed, e.g. .pki/ca.crt",
                )
            http_client = httpx2.Client(verify=ssl.create_default_context(cafile=ca))
        self.base_url = url
        self.timeouts = timeouts or Timeouts()
        self.max_retries = max_retries
        self.openai = openai.OpenAI(
            base_url=url,
            api_key=key,
            max_retries=max_retries,
            timeout=self._timeout(self.timeouts.chat),
            http_client=http_client,
        )

    def _timeout(self, read: float) -> httpx2.Timeout:
        return httpx2.Timeout(read, connect=self.timeouts.connect)

    @contextlib.contextmanager
    def _errors(self, action: str, model: str | None = None) -> Iterator[None]:
        try:
            yield
        except openai.OpenAIError as err:
            raise errors.translate(err, action, base_url=str(self.base_url), model=model) from err

    def close(self) -> None:
        self.openai.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
