"""litellm_local_client: a typed client of the litellm_local gateway, built on the official openai client.

from litellm_local_client import Client
client = Client()                       # OPENAI_BASE_URL, OPENAI_API_KEY
print(client.chat("Hello").text)
print(client.rerank("GPU memory", ["about cats", "VRAM sizes"]).indices)
"""

from __future__ import annotations

from .client import OCR_PROMPTS, Aliases, ChatStream, Client, EmbedInput, RerankImage, Timeouts
from .errors import (
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConfigurationError,
    ConnectionFailedError,
    InputError,
    ModelNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)
from .results import (
    ChatResult,
    EmbeddingResult,
    Health,
    ModelInfo,
    OcrPage,
    OcrResult,
    RankedDocument,
    RerankResult,
    Segment,
    Transcript,
    Usage,
    Word,
)

__version__ = "0.1.0"

__all__ = [
    "OCR_PROMPTS",
    "Aliases",
    "AuthenticationError",
    "BadRequestError",
    "ChatResult",
    "ChatStream",
    "Client",
    "ClientError",
    "ConfigurationError",
    "ConnectionFailedError",
    "EmbedInput",
    "EmbeddingResult",
    "Health",
    "InputError",
    "ModelInfo",
    "ModelNotFoundError",
    "OcrPage",
    "OcrResult",
    "RankedDocument",
    "RateLimitError",
    "RequestTimeoutError",
    "RerankImage",
    "RerankResult",
    "Segment",
    "ServerError",
    "Timeouts",
    "Transcript",
    "Usage",
    "Word",
    "__version__",
]
