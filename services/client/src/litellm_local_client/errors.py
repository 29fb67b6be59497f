"""Exceptions that say what failed and what to do, each with the CLI exit code that reports it.

Every error the SDK raises is a `ClientError`. Errors from the gateway are translated from the `openai` client's
exceptions (kept as `__cause__`), after that client has spent its retries.
"""

from __future__ import annotations

import json
from typing import Any

import openai

# Exit codes of the `litellm-local` command; documented in `litellm-local --help` and docs/client.md.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_BAD_REQUEST = 4
EXIT_SERVER = 5
EXIT_CONNECTION = 6


class ClientError(Exception):
    """Base class: `what` failed, `hint` says what to do; `status_code` is the HTTP status when the gateway answered."""

    exit_code = EXIT_FAILURE

    def __init__(self, what: str, hint: str = "", *, status_code: int | None = None, detail: str = "") -> None:
        self.what = what
        self.hint = hint
        self.status_code = status_code
        self.detail = detail
        super().__init__(self._text())

    def _text(self) -> str:
        text = self.what
        if self.detail:
            text += f": {self.detail}"
        if self.hint:
            text = text.rstrip(". ") + f". {self.hint}"
        return text


class ConfigurationError(ClientError):
    """The client cannot be set up: no base URL or no API key."""

    exit_code = EXIT_USAGE


class InputError(ClientError):
    """A local input is unusable: a missing file, an unknown image or audio type, a bad option combination."""

    exit_code = EXIT_USAGE


class AuthenticationError(ClientError):
    """401/403: the key is missing, wrong or not allowed this model."""

    exit_code = EXIT_AUTH


class BadRequestError(ClientError):
    """4xx other than auth and rate limits: the gateway or the model server refused the request as sent."""

    exit_code = EXIT_BAD_REQUEST


class ModelNotFoundError(BadRequestError):
    """404, or a 400 naming an unknown model: the alias is not served by this gateway."""


class RateLimitError(ClientError):
    """429 after every retry."""

    exit_code = EXIT_SERVER


class ServerError(ClientError):
    """5xx after every retry: the gateway or a model server is failing or not ready."""

    exit_code = EXIT_SERVER


class ConnectionFailedError(ClientError):
    """The gateway could not be reached (refused, DNS, reset) after every retry."""

    exit_code = EXIT_CONNECTION


class RequestTimeoutError(ConnectionFailedError):
    """The gateway did not answer within the timeout, after every retry."""


_UNKNOWN_MODEL_WORDS = ("invalid model", "not found", "no deployment", "does not exist")


def _error_type(err: openai.APIStatusError) -> str | None:
    body: Any = err.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    value = inner.get("type") if isinstance(inner, dict) else None
    return str(value) if value is not None else None


def _server_message(err: openai.APIStatusError) -> str:
    """The `error.message` of an OpenAI-shaped body, else the raw body, shortened."""
    body: Any = err.body
    message: Any = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        # LiteLLM nests some messages: {"error": {"message": {"error": "..."}}}
        while isinstance(message, dict):
            message = message.get("message") or message.get("error") or json.dumps(message)
    if not message:
        try:
            message = err.response.text
        except Exception:  # a streamed body that was not read
            message = err.message
    text = " ".join(str(message).split())
    return text if len(text) <= 600 else text[:597] + "..."


def translate(err: openai.OpenAIError, action: str, *, base_url: str, model: str | None = None) -> ClientError:
    """Map an `openai` exception raised while doing `action` (e.g. "transcribe") to one of ours."""
    if isinstance(err, openai.APITimeoutError):
        return RequestTimeoutError(
            f"{action} timed out waiting for {base_url}",
            "The request may still be running on the server; retry with a longer timeout (--timeout)",
        )
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err
        return ConnectionFailedError(
            f"{action} could not reach the gateway at {base_url}",
            "Check OPENAI_BASE_URL (or --base-url), that the gateway runs (`litellm-local health`) and the network",
            detail=f"{type(cause).__name__}: {cause}",
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        detail = _server_message(err)
        if status in (401, 403):
            return AuthenticationError(
                f"{action} was refused (HTTP {status})",
                "Check OPENAI_API_KEY (or --api-key): it must be the gateway's master key or a key it issued",
                status_code=status,
                detail=detail,
            )
        if status == 400 and _error_type(err) == "no_db_connection":
            # LiteLLM without a key database answers a key other than its master key with 400 "No connected db."
            return AuthenticationError(
                f"{action} was refused: the key is not the gateway's master key (HTTP 400)",
                "Check OPENAI_API_KEY (or --api-key); this gateway has no key database, so only its master key works",
                status_code=status,
                detail=detail,
            )
        if status == 429:
            return RateLimitError(
                f"{action} was rate limited (HTTP 429) after all retries",
                "Wait and retry, or lower the request rate",
                status_code=status,
                detail=detail,
            )
        if status >= 500:
            return ServerError(
                f"{action} failed on the server (HTTP {status}) after all retries",
                "The gateway or its model server is failing or still starting; check `litellm-local health` "
                "and the server's logs (journalctl -u litellm)",
                status_code=status,
                detail=detail,
            )
        lowered = detail.lower()
        unknown_model = "model" in lowered and any(w in lowered for w in _UNKNOWN_MODEL_WORDS)
        if model and (status == 404 or unknown_model):
            return ModelNotFoundError(
                f"{action}: the gateway does not serve the model {model!r} (HTTP {status})",
                "List the served aliases with `litellm-local models`",
                status_code=status,
                detail=detail,
            )
        if status == 413:
            return BadRequestError(
                f"{action}: the request is too large (HTTP 413)",
                "Send a smaller file (split long audio or PDFs)",
                status_code=status,
                detail=detail,
            )
        return BadRequestError(
            f"{action} was rejected (HTTP {status})",
            "Fix the request as the message says",
            status_code=status,
            detail=detail,
        )
    return ClientError(f"{action} failed", detail=f"{type(err).__name__}: {err}")
