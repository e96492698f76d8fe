"""Run :func:`~.report.evaluate` in a background thread; the caller polls progress (no Qt here)."""

from __future__ import annotations

import queue
import threading

from .report import EvaluationSettings, evaluate


class EvaluationJob:
    """``start()``, then ``poll()`` returns the (done, total, message) progress items since the last
    call; ``running`` turns False when finished, with ``numbers`` or ``error`` (a message) set."""

    def __init__(self, real_dir, synthetic_dir, out_dir, settings: EvaluationSettings):
        self.args = (real_dir, synthetic_dir, out_dir, settings)
        self.numbers: dict | None = None
        self.error: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="napari-medsynth-evaluate", daemon=True)

    def start(self) -> "EvaluationJob":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.numbers = evaluate(*self.args, progress=lambda d, t, m: self._queue.put((d, t, m)))
        except Exception as exc:  # reported to the caller, who shows it
            self.error = str(exc) or type(exc).__name__

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def poll(self) -> list[tuple[int, int, str]]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items
