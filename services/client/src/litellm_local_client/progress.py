"""Progress on stderr for the CLI: upload percentage, then elapsed time while the server works. Off when disabled
(the CLI disables it when stderr is not a terminal), so pipes and logs stay clean."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class Progress:
    """`upload(sent, total)` is the SDK's progress callback; `wait(label)` shows a ticking elapsed time until
    `done()`; `step(text)` shows one line of status (e.g. "page 2/5")."""

    def __init__(self, enabled: bool, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interval = interval
        self._started = time.monotonic()
        self._waiting: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last_upload = -1
        self._label = ""
        self.prefix = ""  # e.g. "piece 2/5: "

    def _show(self, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()

    def step(self, text: str) -> None:
        self._show(text)

    def piece(self, number: int, count: int) -> None:
        """A new piece of a long file: stop the ticker of the previous one and label what follows."""
        self._stop_ticker()
        self._last_upload = -1
        self.prefix = f"piece {number}/{count}: "
        self._show(self.prefix + "preparing")

    def upload(self, sent: int, total: int) -> None:
        percent = int(sent * 100 / total) if total else 100
        if percent == self._last_upload:
            return
        if self._waiting is not None:  # a retried upload starts over
            self._stop_ticker()
        self._last_upload = percent
        self._show(f"{self.prefix}uploading {percent:3d}%  {_size(sent)} / {_size(total)}")
        if sent >= total:
            self.wait(self.prefix + "waiting for the server")

    def wait(self, label: str) -> None:
        if not self.enabled or self._waiting is not None:
            return
        self._label = label
        began = time.monotonic()

        def tick() -> None:
            while not self._stop.wait(self.interval):
                self._show(f"{self._label}  {time.monotonic() - began:.0f} s")

        self._show(f"{label}  0 s")
        self._waiting = threading.Thread(target=tick, name="litellm-local-progress", daemon=True)
        self._waiting.start()

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._waiting is not None:
            self._waiting.join()
            self._waiting = None
        self._stop.clear()

    def done(self) -> None:
        """Stop the ticker and clear the line."""
        self._stop_ticker()
        self._last_upload = -1
        if self.enabled:
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()
