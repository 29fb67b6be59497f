"""Prometheus metrics, in a registry of each app (so several apps in one process, as in tests, do not clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("embed_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.inputs = Counter("embed_inputs", "Inputs embedded, by kind (text, tokens, chat)", ["kind"], registry=r)
        self.prompt_tokens = Counter("embed_prompt_tokens", "Tokens of embedded inputs", registry=r)
        self.rejected = Counter("embed_rejected", "Requests refused, by reason", ["reason"], registry=r)
        self.queue_depth = Gauge("embed_queue_depth", "Inputs waiting for a forward pass", registry=r)
        self.batch_size = Histogram(
            "embed_batch_size", "Inputs per forward pass", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r
        )
        self.batch_tokens = Histogram(
            "embed_batch_tokens",
            "Tokens per forward pass",
            buckets=(16, 64, 256, 1024, 4096, 16384, 65536),
            registry=r,
        )
        self.queue_wait = Histogram("embed_queue_wait_seconds", "Time from queueing to the forward pass", registry=r)
        self.forward_seconds = Histogram("embed_forward_seconds", "Duration of a forward pass", registry=r)
        self.request_seconds = Histogram("embed_request_seconds", "Duration of /v1/embeddings requests", registry=r)
