"""One log line per request (status and latency), health checks left out; JSON lines when asked for."""

from __future__ import annotations

import json
import logging

from litellm_local_common.logs import JsonFormatter


def test_one_access_line_per_request_with_status_and_latency(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="litellm_local_embed.access"):
        assert client.post("/v1/embeddings", json={"model": "embedding", "input": "hi"}).status_code == 200
        assert client.post("/v1/embeddings", json={"model": "embedding"}).status_code == 400
        client.get("/health")
    lines = [r for r in caplog.records if r.name == "litellm_local_embed.access"]
    assert [(r.path, r.status) for r in lines] == [("/v1/embeddings", 200), ("/v1/embeddings", 400)]
    assert all(r.latency_ms >= 0 and "ms" in r.getMessage() for r in lines)


def test_json_format_is_one_object_per_line_with_the_extra_fields() -> None:
    record = logging.LogRecord("litellm_local_embed.access", logging.INFO, __file__, 1, "%s done", ("x",), None)
    record.status, record.latency_ms = 200, 12.5
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "x done" and entry["level"] == "info"
    assert entry["status"] == 200 and entry["latency_ms"] == 12.5 and entry["time"].endswith("Z")
