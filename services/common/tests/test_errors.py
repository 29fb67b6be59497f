"""OpenAI's error body, its type per status and the Retry-After rule (litellm_local_common.errors)."""

from __future__ import annotations

import json

import pytest
from litellm_local_common.errors import error_body, error_type, retry_after


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "invalid_request_error"),
        (404, "invalid_request_error"),
        (413, "invalid_request_error"),
        (422, "invalid_request_error"),
        (429, "rate_limit_exceeded"),
        (499, "invalid_request_error"),
        (500, "server_error"),
        (503, "server_error"),
        (504, "server_error"),
    ],
)
def test_type_per_status(status: int, kind: str) -> None:
    assert error_type(status) == kind
    assert error_body("m", status)["error"]["type"] == kind


def test_body_has_exactly_openais_four_fields_and_the_status_as_default_code() -> None:
    body = error_body("the model `x` does not exist", 404, param="model")
    assert body["error"] == {
        "message": "the model `x` does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "404",
    }
    assert list(body) == ["error"]
    assert json.loads(json.dumps(body)) == body


def test_a_given_code_and_type_are_kept() -> None:
    body = error_body("too big", 413, code="file_too_large", type_="custom_type")
    assert body["error"] == {"message": "too big", "type": "custom_type", "param": None, "code": "file_too_large"}


@pytest.mark.parametrize(
    ("status", "seconds", "headers"),
    [
        (503, 3, {"Retry-After": "3"}),
        (429, 0.2, {"Retry-After": "1"}),
        (503, 0, {"Retry-After": "1"}),
        (503, 2.5, {"Retry-After": "3"}),
        (500, 3, {}),
        (400, 3, {}),
        (413, 3, {}),
    ],
)
def test_retry_after_only_on_429_and_503_in_whole_seconds(status: int, seconds: float, headers: dict) -> None:
    assert retry_after(status, seconds) == headers
