"""Batching across requests: inputs of concurrent requests share one forward pass.

Requests put their prepared inputs into a bounded queue and await one future per input. A single worker task takes
the oldest input, waits at most `max_wait_s` for company, fills a batch up to `max_batch_size` inputs and
`max_batch_tokens` padded tokens, and runs the forward pass on a dedicated inference thread, so the event loop never
blocks. When the queue holds `max_queue` inputs, new requests get Overloaded (503 with Retry-After) at once instead
of waiting in a growing queue. A failing batch is retried one input at a time, so one bad input fails only its own
request.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .engine import Prepared
from .errors import Overloaded
from .metrics import Metrics

log = logging.getLogger(__name__)


@dataclass
class _Job:
    prepared: Prepared
    future: asyncio.Future
    queued_at: float


class Batcher:
    def __init__(
        self,
        embed: Callable[[list[Prepared]], np.ndarray],
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queue: int,
        retry_after_s: int,
        metrics: Metrics,
    ) -> None:
        self._embed_fn = embed
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self._queue: collections.deque[_Job] = collections.deque()
        self._wakeup = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._task: asyncio.Task | None = None
        self.batches = 0

    def _embed(self, batch: list[Prepared]) -> np.ndarray:
        try:
            return self._embed_fn(batch)
        except StopIteration as exc:  # cannot cross into an asyncio future: it would hang the requests
            raise RuntimeError(f"StopIteration in the forward pass: {exc}") from exc

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(Overloaded("the server is shutting down", self.retry_after_s))
        self._queue.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, prepared: list[Prepared]) -> np.ndarray:
        """Embed the inputs of one request (all queued together, or none); returns (n, hidden) rows in order."""
        if not self.running:
            raise Overloaded("the inference worker is not running", self.retry_after_s)
        if len(self._queue) + len(prepared) > self.max_queue:
            self.metrics.rejected.labels(reason="overloaded").inc()
            raise Overloaded(
                f"the server is busy ({len(self._queue)} inputs queued, at most {self.max_queue}); retry shortly",
                self.retry_after_s,
            )
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        jobs = [_Job(p, loop.create_future(), now) for p in prepared]
        self._queue.extend(jobs)
        self.metrics.queue_depth.set(len(self._queue))
        self._wakeup.set()
        try:
            rows = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:
            for job in jobs:  # the client went away or a sibling failed: drop what has not run yet
                job.future.cancel()
            raise
        return np.stack(rows)

    def _take_batch(self) -> list[_Job]:
        batch: list[_Job] = []
        width = 0
        while self._queue and len(batch) < self.max_batch_size:
            job = self._queue[0]
            if job.future.done():  # cancelled: its request is gone
                self._queue.popleft()
                continue
            new_width = max(width, job.prepared.n_tokens)
            if batch and new_width * (len(batch) + 1) > self.max_batch_tokens:
                break
            batch.append(self._queue.popleft())
            width = new_width
        self.metrics.queue_depth.set(len(self._queue))
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Let the oldest input wait up to max_wait_s for others, unless a full batch is already there.
            deadline = self._queue[0].queued_at + self.max_wait_s
            while len(self._queue) < self.max_batch_size and (delay := deadline - time.monotonic()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                except TimeoutError:
                    break
            batch = self._take_batch()
            if not batch:
                continue
            started = time.monotonic()
            for job in batch:
                self.metrics.queue_wait.observe(started - job.queued_at)
            try:
                rows = await loop.run_in_executor(self._executor, self._embed, [j.prepared for j in batch])
            except Exception as exc:
                log.exception("forward pass of a batch of %d failed", len(batch))
                if len(batch) == 1:
                    if not batch[0].future.done():
                        batch[0].future.set_exception(exc)
                    continue
                await self._one_by_one(batch)
                continue
            self.batches += 1
            self.metrics.batch_size.observe(len(batch))
            self.metrics.batch_tokens.observe(sum(j.prepared.n_tokens for j in batch))
            self.metrics.forward_seconds.observe(time.monotonic() - started)
            for job, row in zip(batch, rows, strict=True):
                if not job.future.done():
                    job.future.set_result(row)

    async def _one_by_one(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        for job in batch:
            if job.future.done():
                continue
            try:
                rows = await loop.run_in_executor(self._executor, self._embed, [job.prepared])
            except Exception as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
                continue
            if not job.future.done():
                job.future.set_result(rows[0])
