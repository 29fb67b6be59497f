"""The SDK: `Client` wraps one `openai.OpenAI` client and gives each gateway capability a typed method.

Each capability lives in its own module, a mixin of `core.ClientCore` that owns its default alias (`DEFAULT_ALIAS`):
chat.py, ocr.py, embeddings.py, transcription.py, rerank.py; gateway.py has the model list and health. `Client`
puts them together. The names this module has always exported (Timeouts, EmbedInput, OCR_PROMPTS, ...) still
import from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from . import chat, embeddings, ocr, rerank, transcription
from .chat import ChatMixin, ChatStream, Message
from .core import DEFAULT_MAX_RETRIES, ClientCore, Timeouts
from .embeddings import EmbeddingsMixin, EmbedInput
from .gateway import GatewayMixin
from .ocr import OCR_PROMPTS, OcrMixin
from .rerank import RerankImage, RerankMixin
from .transcription import DEFAULT_MAX_CHUNK_BYTES, TRANSCRIPT_FORMATS, TranscriptionMixin

__all__ = [
    "DEFAULT_MAX_CHUNK_BYTES",
    "DEFAULT_MAX_RETRIES",
    "OCR_PROMPTS",
    "TRANSCRIPT_FORMATS",
    "Aliases",
    "ChatStream",
    "Client",
    "EmbedInput",
    "Message",
    "RerankImage",
    "Timeouts",
]


@dataclass(frozen=True)
class Aliases:
    """The gateway aliases each capability uses unless a call names another model (defaults: each capability
    module's DEFAULT_ALIAS)."""

    chat: str = chat.DEFAULT_ALIAS
    ocr: str = ocr.DEFAULT_ALIAS
    embedding: str = embeddings.DEFAULT_ALIAS
    asr: str = transcription.DEFAULT_ALIAS
    rerank: str = rerank.DEFAULT_ALIAS


class Client(ChatMixin, OcrMixin, EmbeddingsMixin, TranscriptionMixin, RerankMixin, GatewayMixin, ClientCore):
    """A client of the litellm_local gateway.

    `base_url` and `api_key` default to OPENAI_BASE_URL and OPENAI_API_KEY; `ca_file` (default: LITELLM_LOCAL_CA_FILE,
    else SSL_CERT_FILE, else the system's CAs) is the CA that verifies the gateway's TLS certificate — the deploy
    prints its path. Verification is never turned off. `max_retries` is handed to the openai
    client, which retries connection errors, 408, 409, 429 and 5xx with exponential backoff. `http_client` (an
    `httpx2.Client`, the HTTP library of openai 3.x) lets tests and proxies supply the transport. The underlying
    `openai.OpenAI` client is `client.openai`, for anything this SDK does not wrap."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeouts: Timeouts | None = None,
        aliases: Aliases | None = None,
        http_client: httpx2.Client | None = None,
        ca_file: str | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key, max_retries=max_retries, timeouts=timeouts, http_client=http_client, ca_file=ca_file
        )
        self.aliases = aliases or Aliases()
