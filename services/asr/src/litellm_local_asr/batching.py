"""Batching across concurrent requests: request threads queue jobs, one inference thread runs them in batches.

One model copy per process serves every request thread; requests that arrive together are transcribed together
(up to max_batch_size), which is how a GPU is kept busy without N processes each holding the model. A batch that
fails is run again one job at a time, so a bad request fails alone and the requests batched with it still succeed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from litellm_local_asr.engine import Engine, Job, Result
from litellm_local_asr.errors import APIError

log = logging.getLogger(__name__)


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
            raise APIError("The server is busy; retry shortly.", status=503, code="overloaded") from None
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            future.cancel()
            raise APIError(
                f"Transcription did not finish within {timeout_s:g} s.", status=503, code="timeout"
            ) from None

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
