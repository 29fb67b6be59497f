"""Property-based API testing: schemathesis generates requests from the app's OpenAPI schema, valid and invalid, and
sends them to the real server (Uvicorn, the tiny model on the CPU). No request may get a server error, and every
answer must match the schema (documented status codes, content types and bodies)."""

from __future__ import annotations

import collections
import socket
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from litellm_local_embed.app import create_app
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_url(tiny_settings, tiny_engine):
    port = _free_port()
    app = create_app(tiny_settings.model_copy(update={"port": port}), engine_factory=lambda _: tiny_engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def api_schema(live_url):
    return schemathesis.openapi.from_url(f"{live_url}/openapi.json")


POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
CASES = [
    ("GET", "/health", POSITIVE),
    ("GET", "/v1/models", POSITIVE),
    ("GET", "/metrics", POSITIVE),
    ("POST", "/v1/embeddings", POSITIVE),
    ("POST", "/v1/embeddings", NEGATIVE),  # requests that break the schema: all must be 4xx, never 5xx
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# schemathesis's own pytest plugin does not load under pytest 9, so hypothesis drives its strategies here.
@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_no_server_error_and_answers_match_the_schema(api_schema, method, path, mode) -> None:
    operation = api_schema[path][method]
    examples = 300 if path == "/v1/embeddings" else 10
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        seen.append(response.status_code)

    run()
    print(path, mode.value, sorted(collections.Counter(seen).items()))
    assert seen
    if path == "/v1/embeddings" and mode == GenerationMode.POSITIVE:
        assert 200 in seen, "no generated valid request was embedded"
