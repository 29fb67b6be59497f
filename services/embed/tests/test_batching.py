"""Batching across requests: concurrent requests share forward passes; overload is a 503 with Retry-After."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import numpy as np
import pytest
from litellm_local_embed.batching import Batcher
from litellm_local_embed.engine import Prepared
from litellm_local_embed.errors import Overloaded
from litellm_local_embed.metrics import Metrics


def post_concurrently(client, bodies: list[dict]) -> list:
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: client.post("/v1/embeddings", json=b), bodies))


def test_concurrent_requests_share_a_forward_pass(make_client) -> None:
    client, engine = make_client(batch_wait_ms=300, max_batch_size=64)
    responses = post_concurrently(client, [{"input": f"text number {i}"} for i in range(8)])
    assert all(r.status_code == 200 for r in responses)
    assert sum(engine.batches) == 8
    assert max(engine.batches) > 1, engine.batches
    # Each request got its own vector, whatever batch it rode in.
    alone = client.post("/v1/embeddings", json={"input": "text number 3"}).json()["data"][0]["embedding"]
    np.testing.assert_allclose(responses[3].json()["data"][0]["embedding"], alone)


def test_batches_respect_max_batch_size_and_tokens(make_client) -> None:
    client, engine = make_client(batch_wait_ms=200, max_batch_size=3, max_batch_tokens=1000)
    response = client.post("/v1/embeddings", json={"input": [f"w{i}" for i in range(10)]})
    assert response.status_code == 200
    assert engine.batches == [3, 3, 3, 1]

    client, engine = make_client(batch_wait_ms=200, max_batch_size=64, max_batch_tokens=12)
    response = client.post("/v1/embeddings", json={"input": ["a b c d", "a", "a b c d", "a b c d"]})
    assert response.status_code == 200
    assert all(size * width <= 12 for size, width in zip(engine.batches, engine.batch_widths, strict=True))
    assert sum(engine.batches) == 4


def test_a_single_input_waits_at_most_max_wait(make_client) -> None:
    client, _ = make_client(batch_wait_ms=50)
    started = time.monotonic()
    assert client.post("/v1/embeddings", json={"input": "x"}).status_code == 200
    assert time.monotonic() - started < 2


def test_overload_is_503_with_retry_after(make_client) -> None:
    client, engine = make_client(max_queue=4, batch_wait_ms=0, max_batch_size=1, retry_after_s=3)
    engine.gate = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(client.post, "/v1/embeddings", json={"input": f"q{i}"}) for i in range(12)]
        deadline = time.monotonic() + 10
        while sum(f.done() for f in futures) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        engine.gate.set()
        responses = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(503) >= 6, statuses
    assert set(statuses) <= {200, 503}
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "3"
    assert busy.json()["error"]["type"] == "server_error"
    assert "busy" in busy.json()["error"]["message"]
    assert client.post("/v1/embeddings", json={"input": "later"}).status_code == 200
    assert 'embed_rejected_total{reason="overloaded"}' in client.get("/metrics").text


def test_a_failing_input_fails_only_its_own_request(make_client) -> None:
    client, _ = make_client(batch_wait_ms=300)
    bodies = [{"input": "fine one"}, {"input": "boom"}, {"input": "fine two"}]
    responses = post_concurrently(client, bodies)
    assert [r.status_code for r in responses] == [200, 500, 200]
    assert responses[1].json()["error"]["type"] == "server_error"


@pytest.mark.parametrize("text", ["stopiter", "stopforward"])
def test_stop_iteration_fails_the_request_instead_of_hanging_it(make_client, text) -> None:
    client, _ = make_client(batch_wait_ms=0)
    response = client.post("/v1/embeddings", json={"input": text})
    assert response.status_code == 500
    assert client.post("/v1/embeddings", json={"input": "fine"}).status_code == 200


def test_the_event_loop_stays_free_during_inference(make_client) -> None:
    client, engine = make_client(batch_wait_ms=0)
    engine.delay_s = 1.0
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(client.post, "/v1/embeddings", json={"input": "slow"})
        time.sleep(0.2)
        started = time.monotonic()
        assert client.get("/health").status_code == 200
        assert time.monotonic() - started < 0.5
        assert slow.result().status_code == 200


def test_batcher_directly() -> None:
    calls: list[int] = []

    def embed(batch: list[Prepared]) -> np.ndarray:
        calls.append(len(batch))
        return np.array([[float(p.data)] for p in batch])

    async def scenario() -> None:
        batcher = Batcher(
            embed,
            max_batch_size=4,
            max_batch_tokens=100,
            max_wait_s=0.05,
            max_queue=10,
            retry_after_s=1,
            metrics=Metrics(),
        )
        with pytest.raises(Overloaded):  # not started
            await batcher.submit([Prepared(1, 0)])
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([Prepared(1, i), Prepared(1, i + 0.5)]) for i in range(4)))
        assert [r[:, 0].tolist() for r in results] == [[i, i + 0.5] for i in range(4)]
        assert sum(calls) == 8 and max(calls) == 4
        with pytest.raises(Overloaded):
            await batcher.submit([Prepared(1, 0)] * 11)
        await batcher.stop()

    asyncio.run(scenario())
