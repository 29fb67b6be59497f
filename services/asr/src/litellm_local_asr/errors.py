"""Flask's side of OpenAI's error shape: APIError for the client, and the handlers that answer every failure with
the body of litellm_local_common.errors (and Retry-After on a 503)."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from litellm_local_common.errors import error_body, error_type, retry_after
from werkzeug.exceptions import HTTPException


class APIError(Exception):
    """An error the client gets as-is, with its HTTP status and OpenAI's `param` and `code`."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code
        self.retry_after = retry_after  # seconds of this 503's Retry-After, instead of the server's retry_after_s

    @property
    def type(self) -> str:
        return error_type(self.status)


def _answer(
    message: str, status: int, param: str | None = None, code: str | None = None, retry_after_s: float = 1.0
) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error_body(message, status, param=param, code=code)), status, retry_after(status, retry_after_s)


def register(app: Flask, retry_after_s: float = 1.0) -> None:
    """Answer APIError, Werkzeug's HTTP errors and anything unexpected in OpenAI's shape; a 503 (the queue is full,
    a transcription timed out) tells the client to retry after `retry_after_s` seconds."""

    @app.errorhandler(APIError)
    def _api_error(exc: APIError):
        # An error may name its own wait (a vLLM server down: ASR_VLLM_RETRY_AFTER_S); else the server's.
        wait = exc.retry_after if exc.retry_after is not None else retry_after_s
        return _answer(exc.message, exc.status, exc.param, exc.code, wait)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        code = None
        if status == 413:  # MAX_CONTENT_LENGTH, checked on Content-Length and on the bytes read without one
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            fields = app.config.get("MAX_FORM_MEMORY_SIZE") or 0
            message = f"The request is too large: the limit is {limit / 1e6:g} MB"
            message += f" ({fields / 1e6:g} MB for each form field besides the file)." if fields else "."
            code = "request_too_large"
        return _answer(message, status, code=code, retry_after_s=retry_after_s)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unexpected error: %s", exc)
        return _answer("Internal error while transcribing; see the server log.", 500)
