"""Running jobs for request threads: a Batcher for an engine that holds the model, Concurrent for one that batches
on its own (the vllm engine's servers).

Batcher: one model copy per process serves every request thread; requests that arrive together are transcribed
together (up to max_batch_size), which is how a GPU is kept busy without N processes each holding the model. A batch
that fails is run again one job at a time, so a bad request fails alone and the requests batched with it still
succeed.

Concurrent: each job runs on its own, at once, up to max_jobs at a time; a vLLM server batches the requests of all
of them continuously, so no job waits for another's batch to finish.

Both answer 503 when max_queue jobs are already waiting or running, or when a result takes longer than the timeout.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from litellm_local_asr.engine import Engine, Job, Result
from litellm_local_asr.errors import APIError

log = logging.getLogger(__name__)


def _overloaded() -> APIError:
    return APIError("The server is busy; retry shortly.", status=503, code="overloaded")


def _wait(future: Future, timeout_s: float) -> Result:
    try:
        return future.result(timeout=timeout_s)
    except TimeoutError:
        future.cancel()
        raise APIError(f"Transcription did not finish within {timeout_s:g} s.", status=503, code="timeout") from None


class Batcher:
    def __init__(
        self,
        engine: Engine,
        max_batch_size: int,
        batch_wait_s: float,
        max_queue: int,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self._queue: queue.Queue[tuple[Job, Future]] = queue.Queue(maxsize=max_queue)
        self._on_batch = on_batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asr-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Job, timeout_s: float) -> Result:
        """Queue a job and wait for its result; 503 when the queue is full or the result takes too long."""
        future: Future = Future()
        try:
            self._queue.put_nowait((job, future))
        except queue.Full:
            raise _overloaded() from None
        return _wait(future, timeout_s)

    def close(self) -> None:
        self._stop.set()

    def _take_batch(self) -> list[tuple[Job, Future]]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
        return [(job, fut) for job, fut in batch if fut.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if batch:
                self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Job, Future]]) -> None:
        """Transcribe a batch; when it fails, run each of its jobs alone, so only the bad job gets the error."""
        try:
            results = self._transcribe(batch)
        except Exception as exc:  # one bad batch must not kill the thread
            if len(batch) == 1:
                log.exception("job failed")
                batch[0][1].set_exception(exc)
                return
            log.warning("batch of %d failed (%s); running its jobs one at a time", len(batch), exc)
            for item in batch:
                self._run_batch([item])
            return
        for (_, fut), result in zip(batch, results, strict=True):
            fut.set_result(result)

    def _transcribe(self, batch: list[tuple[Job, Future]]) -> list[Result]:
        started = time.monotonic()
        try:
            results = self.engine.transcribe([job for job, _ in batch])
        finally:
            if self._on_batch is not None:
                self._on_batch(len(batch), time.monotonic() - started)
        if len(results) != len(batch):
            raise RuntimeError(f"engine returned {len(results)} results for {len(batch)} jobs")
        return results


class Concurrent:
    """Each job on its own thread at once (up to max_jobs running), for engines whose backend batches."""

    def __init__(
        self,
        engine: Engine,
        max_jobs: int,
        max_queue: int,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="asr-job")
        self._slots = threading.BoundedSemaphore(max_queue)
        self._lock = threading.Lock()
        self._waiting = 0
        self._on_batch = on_batch

    @property
    def depth(self) -> int:
        return self._waiting

    def submit(self, job: Job, timeout_s: float) -> Result:
        if not self._slots.acquire(blocking=False):
            raise _overloaded()
        with self._lock:
            self._waiting += 1
        started = threading.Event()
        try:
            future = self._pool.submit(self._run, job, started)
        except RuntimeError:  # shut down
            self._done(started)
            raise _overloaded() from None
        future.add_done_callback(lambda _: self._done(started))
        return _wait(future, timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()

    def _start(self, started: threading.Event) -> None:
        with self._lock:
            if not started.is_set():
                started.set()
                self._waiting -= 1

    def _done(self, started: threading.Event) -> None:
        self._start(started)  # a job cancelled before it ran leaves the queue too
        self._slots.release()

    def _run(self, job: Job, started: threading.Event) -> Result:
        self._start(started)
        t0 = time.monotonic()
        try:
            results = self.engine.transcribe([job])
        finally:
            if self._on_batch is not None:
                self._on_batch(1, time.monotonic() - t0)
        if len(results) != 1:
            raise RuntimeError(f"engine returned {len(results)} results for 1 job")
        return results[0]
