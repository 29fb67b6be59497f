"""The batcher: a job that makes its batch fail fails alone; the jobs batched with it get their own results."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
from litellm_local_asr.batching import Batcher
from litellm_local_asr.engine import Job, Result


class PoisonEngine:
    """Fails any batch holding a job whose context is "poison"; a "gate" job blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.at_gate = threading.Event()

    def transcribe(self, jobs: Sequence[Job]) -> list[Result]:
        self.batches.append([job.context for job in jobs])
        if any(job.context == "gate" for job in jobs):
            self.at_gate.set()
            assert self.gate.wait(10)
        if any(job.context == "poison" for job in jobs):
            raise RuntimeError("poisoned batch")
        return [Result(language="English", text=f"text of {job.context}") for job in jobs]

    def tokenize(self, text: str) -> list[int]:
        return []


def _job(context: str) -> Job:
    return Job(audio=np.zeros(1600, dtype=np.float32), context=context)


def _submit_all(batcher: Batcher, contexts: list[str]) -> tuple[dict[str, str | BaseException], list[threading.Thread]]:
    outcomes: dict[str, str | BaseException] = {}

    def one(context: str) -> None:
        try:
            outcomes[context] = batcher.submit(_job(context), timeout_s=10).text
        except Exception as exc:
            outcomes[context] = exc

    threads = [threading.Thread(target=one, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    return outcomes, threads


def _wait_for_depth(batcher: Batcher, depth: int) -> None:
    deadline = time.monotonic() + 10
    while batcher.depth < depth and time.monotonic() < deadline:
        time.sleep(0.005)
    assert batcher.depth == depth


def test_a_poisoned_job_fails_alone() -> None:
    engine = PoisonEngine()
    sizes: list[int] = []
    batcher = Batcher(engine, max_batch_size=8, batch_wait_s=0.0, max_queue=16, on_batch=lambda n, s: sizes.append(n))
    gate_outcome, gate_threads = _submit_all(batcher, ["gate"])
    assert engine.at_gate.wait(10)
    # While the gate job holds the inference thread, five jobs queue up: they become one batch.
    contexts = ["a", "b", "poison", "c", "d"]
    outcomes, threads = _submit_all(batcher, contexts)
    _wait_for_depth(batcher, len(contexts))
    engine.gate.set()
    for t in threads + gate_threads:
        t.join(10)
    batcher.close()

    assert gate_outcome == {"gate": "text of gate"}
    for context in ("a", "b", "c", "d"):
        assert outcomes[context] == f"text of {context}"
    assert isinstance(outcomes["poison"], RuntimeError) and str(outcomes["poison"]) == "poisoned batch"
    # One failed batch of five, then each of its jobs alone (in queue order).
    batch = sorted(engine.batches[1])
    assert batch == sorted(contexts)
    assert engine.batches[2:] == [[c] for c in engine.batches[1]]
    assert sizes == [1, 5, 1, 1, 1, 1, 1]


def test_a_single_failing_job_is_not_retried() -> None:
    engine = PoisonEngine()
    batcher = Batcher(engine, max_batch_size=8, batch_wait_s=0.0, max_queue=16)
    with pytest.raises(RuntimeError, match="poisoned batch"):
        batcher.submit(_job("poison"), timeout_s=10)
    assert batcher.submit(_job("next"), timeout_s=10).text == "text of next"
    batcher.close()
    assert engine.batches == [["poison"], ["next"]]


def test_a_wrong_result_count_reruns_the_jobs_alone() -> None:
    class Short(PoisonEngine):
        def transcribe(self, jobs: Sequence[Job]) -> list[Result]:
            return super().transcribe(jobs)[:1]

    engine = Short()
    batcher = Batcher(engine, max_batch_size=8, batch_wait_s=0.0, max_queue=16)
    gate_outcome, gate_threads = _submit_all(batcher, ["gate"])
    assert engine.at_gate.wait(10)
    outcomes, threads = _submit_all(batcher, ["x", "y"])
    _wait_for_depth(batcher, 2)
    engine.gate.set()
    for t in threads + gate_threads:
        t.join(10)
    batcher.close()
    assert outcomes == {"x": "text of x", "y": "text of y"} and gate_outcome == {"gate": "text of gate"}
