"""Errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class APIError(Exception):
    """An error the client gets as-is, with its HTTP status."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code

    @property
    def type(self) -> str:
        if self.status == 413:
            return "invalid_request_error"
        if self.status >= 500:
            return "server_error"
        return "invalid_request_error"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def register(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(exc: APIError):
        return jsonify(error_body(exc.message, exc.type, exc.param, exc.code)), exc.status

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
        type_ = "server_error" if status >= 500 else "invalid_request_error"
        return jsonify(error_body(message, type_, None, code)), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unexpected error: %s", exc)
        return jsonify(error_body("Internal error while transcribing; see the server log.", "server_error")), 500
