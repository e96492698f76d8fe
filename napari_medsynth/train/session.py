"""Training in a background thread, for GUIs and notebooks.

:class:`BackgroundRun` runs a :class:`~.trainer.Trainer` in a daemon thread and collects its
events in an :class:`~.events.EventQueue` that the caller drains on its own schedule (the napari
widget polls it with a QTimer). The caller's thread never waits for a training step, so the GUI
stays responsive; no GUI object is touched from the training thread.

Runs still going when the interpreter exits are stopped and checkpointed by an ``atexit`` hook,
so quitting napari mid-run loses at most the step in progress.
"""

from __future__ import annotations

import atexit
import threading

from .events import Event, EventQueue, StepEvent
from .trainer import Trainer

_LIVE: set[BackgroundRun] = set()
_LIVE_LOCK = threading.Lock()


class BackgroundRun:
    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.events = EventQueue()
        trainer.add_listener(self.events)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="napari-medsynth-train", daemon=True)

    def start(self) -> BackgroundRun:
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.trainer.run()
        except BaseException as exc:  # already reported to listeners as DoneEvent(reason="error")
            self.error = exc
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def drain(self) -> list[Event]:
        return self.events.drain()

    def pause(self) -> None:
        self.trainer.pause()

    def unpause(self) -> None:
        self.trainer.unpause()

    def stop(self, wait: float | None = None) -> bool:
        """Ask the run to stop after its current step (it then saves a checkpoint).

        With ``wait`` (seconds), block until the thread has finished; returns True if it has.
        """
        self.trainer.stop()
        if wait is not None and self._thread.ident is not None:
            self._thread.join(wait)
        return not self.running


@atexit.register
def _stop_runs_at_exit() -> None:
    with _LIVE_LOCK:
        runs = list(_LIVE)
    for run in runs:
        run.stop(wait=120)


class LossHistory:
    """Loss curves accumulated from step events: ``steps`` and one list per loss name."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}

    def add(self, event: StepEvent) -> None:
        self.steps.append(event.step)
        for name, value in event.losses.items():
            series = self.values.setdefault(name, [float("nan")] * (len(self.steps) - 1))
            series.append(value)
        for series in self.values.values():  # a loss missing from this step
            if len(series) < len(self.steps):
                series.append(float("nan"))

    def clear(self) -> None:
        self.steps.clear()
        self.values.clear()
