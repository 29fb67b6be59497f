"""The forward pass in a process of its own.

The model's forward pass is launched from Python, kernel by kernel; on a fast GPU it is bound by that Python work, and
in the server's process it shares one interpreter lock with HTTP parsing, validation, tokenising and responses. Under
load each slows the other (on an H200 a batch's forward pass took twice as long in the server as offline). Here the
server's process keeps the processor and prepares inputs; a child process, started with `spawn` (CUDA cannot be
forked), loads the weights and runs `embed` on the batches it is sent through a pipe, with its own interpreter lock.

The child exits when the pipe closes (the server stopped or was killed). If the child dies, the server cannot embed
anything: `embed` raises ForwardProcessGone and the app exits non-zero so that systemd restarts both.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing.connection
import threading
import time

import numpy as np
import torch.multiprocessing

from .engine import EmbedInput, Prepared, QwenVLEmbeddingEngine
from .errors import APIError
from .settings import Settings

log = logging.getLogger(__name__)


def _to_wire(batch: list[Prepared]) -> list[Prepared]:
    """Tensors as numpy arrays: pickled as bytes (one copy), cheaper than torch's shared-memory file per tensor."""
    out = []
    for p in batch:
        t = p.data
        if t.pixel_values is not None:
            pixels = t.pixel_values
            wire = pixels.view(torch.int16).numpy() if pixels.dtype == torch.bfloat16 else pixels.numpy()
            t = dataclasses.replace(t, pixel_values=(str(pixels.dtype), wire), image_grid_thw=t.image_grid_thw.numpy())
        out.append(Prepared(p.n_tokens, t))
    return out


def _from_wire(batch: list[Prepared]) -> list[Prepared]:
    for p in batch:
        t = p.data
        if t.pixel_values is not None:
            dtype, wire = t.pixel_values
            pixels = torch.from_numpy(wire)
            t.pixel_values = pixels.view(torch.bfloat16) if dtype == "torch.bfloat16" else pixels
            t.image_grid_thw = torch.from_numpy(t.image_grid_thw)
    return batch


class ForwardProcessGone(APIError):
    """The child process that runs the forward pass is not there any more (503: the server is restarting)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; the server restarts, retry shortly", status=503)


def _serve(settings: Settings, conn: multiprocessing.connection.Connection, log_level: int) -> None:
    """The child: load the weights, say ready, then embed every batch received until the pipe closes."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        engine = QwenVLEmbeddingEngine(settings)
    except Exception as exc:  # reported to the parent, which fails its start with the reason
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", engine.embed(_from_wire(batch))))
        except Exception as exc:  # one batch's failure goes back to its requests; the child keeps serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessEngine:
    """The Engine interface: `prepare` here, `embed` in a child process that holds the weights."""

    def __init__(self, settings: Settings, start_timeout_s: float = 3600.0) -> None:
        self._local = QwenVLEmbeddingEngine(settings, load_weights=False)
        self.name = self._local.name
        self.hidden_size = self._local.hidden_size
        self.max_model_len = self._local.max_model_len
        context = torch.multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(settings, child_conn, logging.getLogger().getEffectiveLevel()),
            name="embed-forward",
            daemon=True,
        )
        started = time.monotonic()
        self._process.start()
        child_conn.close()
        self._lock = threading.Lock()
        while not self._conn.poll(1.0):
            if not self._process.is_alive():
                raise ForwardProcessGone(f"the forward process exited with {self._process.exitcode} while loading")
            if time.monotonic() - started > start_timeout_s:
                self.close()
                raise ForwardProcessGone(f"the forward process did not load the model in {start_timeout_s:.0f}s")
        status, detail = self._conn.recv()
        if status != "ready":
            self.close()
            raise ForwardProcessGone(f"the forward process could not load the model: {detail}")
        log.info("forward pass in process %d", self._process.pid)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def prepare(self, item: EmbedInput) -> Prepared:
        return self._local.prepare(item)

    def embed(self, batch: list[Prepared]) -> np.ndarray:
        with self._lock:
            try:
                self._conn.send(_to_wire(batch))
                status, payload = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                raise ForwardProcessGone(f"the forward process is gone (exit code {self._process.exitcode})") from exc
        if status != "ok":
            raise RuntimeError(payload)
        return payload

    def close(self) -> None:
        self._conn.close()
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
