"""The widget side of :class:`~napari_medsynth.jobs.Job`: one runner, one set of signals.

A :class:`JobRunner` starts a job, drains it on a timer in the GUI thread and turns what it
reports into Qt signals, so a panel only connects slots:

* ``progress(done, total, message)``: the newest progress of each drain (bursts coalesce);
* ``events(list)``: everything else the job emitted since the last drain, in order;
* ``warned(message)``: a warning raised in the job's thread (also shown as a napari warning
  notification, unless ``notify_warnings`` is False);
* ``succeeded(result)`` or ``failed(message)``, then ``finished()`` once the thread has ended
  and everything it reported has been delivered.

Slots run in the GUI thread; one that raises reaches napari's error notification, not the
runner, so panels catch what they can explain. When the panel is destroyed or the application
quits, the running job is asked to stop and given ``close_wait``
seconds to finish (a training job then writes its checkpoint).
"""

from __future__ import annotations

import time

from qtpy.QtCore import QObject, QTimer, Signal

from ..jobs import ErrorEvent, Job, ProgressEvent, ResultEvent, WarningEvent
from ._lifetime import when_destroyed

POLL_MS = 100
#: Seconds without reports or new work after which a long-lived job is polled at ``idle_ms``.
IDLE_AFTER_S = 2.0


class _Holder:
    """The runner's job, reachable from shutdown hooks that must not keep the panel alive."""

    def __init__(self, wait: float) -> None:
        self.job: Job | None = None
        self.wait = wait

    def shutdown(self) -> None:
        if self.job is not None and self.job.running:
            self.job.stop(wait=self.wait)


class JobRunner(QObject):
    progress = Signal(float, float, str)
    events = Signal(list)
    succeeded = Signal(object)
    failed = Signal(str)
    warned = Signal(str)
    finished = Signal()

    def __init__(self, parent: QObject, interval_ms: int = POLL_MS, close_wait: float = 5.0,
                 idle_ms: int | None = None, notify_warnings: bool = True):
        super().__init__(parent)
        self._notify = notify_warnings
        self._holder = _Holder(close_wait)
        self._interval = interval_ms
        #: A long-lived job (a renderer waiting for requests) is polled less often once it has been
        #: quiet for IDLE_AFTER_S: every ``idle_ms`` instead of ``interval_ms``. :meth:`poke`
        #: (new work handed to the job) and anything delivered bring the fast polling back.
        self._idle = idle_ms or interval_ms
        self._active_at = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)
        when_destroyed(parent, self._holder.shutdown)

    @property
    def job(self) -> Job | None:
        return self._holder.job

    @property
    def running(self) -> bool:
        """True while a job runs or has reports not yet delivered."""
        return self._timer.isActive()

    @property
    def busy(self) -> bool:
        """True while the job's work is still going on (a panel may start the next job otherwise)."""
        return self.job is not None and self.job.running

    def start(self, job: Job, replace: bool = False) -> Job:
        """Start ``job`` (unless started already) and deliver its reports; one job at a time.
        With ``replace`` a job still running is left to end on its own and no longer reported."""
        if self.running and self.job is not None and self.job.finished:
            self.poll()  # the last job has ended but its reports were not delivered yet: deliver them now
        if self.running and not replace:
            raise RuntimeError("a job is already running in this panel")
        self._timer.setInterval(self._interval)
        self._active_at = time.monotonic()
        self._holder.job = job
        if not job.started:
            job.start()
        self._timer.start()
        return job

    def poke(self) -> None:
        """Poll at the base interval again (new work was just handed to the job)."""
        self._active_at = time.monotonic()
        if self._timer.interval() != self._interval:
            self._timer.setInterval(self._interval)

    def stop(self, wait: float | None = None) -> None:
        if self.job is not None:
            self.job.stop(wait=wait)

    def poll(self) -> None:
        job = self.job
        if job is None:
            self._timer.stop()
            return
        ended = not job.running  # before draining: whatever it reported is in the queue now
        items = job.drain()
        if items:
            self._active_at = time.monotonic()
        quiet = time.monotonic() - self._active_at > IDLE_AFTER_S
        wanted = self._idle if quiet else self._interval
        if wanted != self._timer.interval():
            self._timer.setInterval(wanted)
        progress = [i for i in items if isinstance(i, ProgressEvent)]
        others = [i for i in items if not isinstance(i, (ProgressEvent, ResultEvent, ErrorEvent, WarningEvent))]
        for item in items:
            if isinstance(item, WarningEvent):
                self.warned.emit(item.message)
                if self._notify:
                    _notify_warning(item.message)
        if progress:
            self.progress.emit(progress[-1].done, progress[-1].total, progress[-1].message)
        if others:
            self.events.emit(others)
        for item in items:
            if isinstance(item, ResultEvent):
                self.succeeded.emit(item.value)
            elif isinstance(item, ErrorEvent):
                self.failed.emit(item.message)
        if ended:
            self._timer.stop()
            self.finished.emit()


def _notify_warning(message: str) -> None:
    """A napari warning notification (GUI thread), or nothing outside napari."""
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # pragma: no cover - the widgets always run inside napari
        return
    show_warning(message)
