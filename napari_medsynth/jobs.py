"""Background work: one job model for every slow thing (training, cropping, generation, evaluation,
rendering), and the one progress callback slow functions take.

A :class:`Job` runs ``fn(ctx)`` in a daemon thread. ``fn`` reports through its
:class:`JobContext`: ``ctx.progress(done, total, message)`` for how far it is, ``ctx.emit(obj)``
for anything else the caller wants (a training event, a rendered image), and it asks
``ctx.should_stop()`` between units of work. The caller collects what happened with
:meth:`Job.drain` on its own schedule (a GUI timer, a test) and never waits for the work: a GUI
thread that only drains stays responsive, and no GUI object is touched from the job's thread.
The napari side is one small runner (``widgets/_jobs.py``) that drains a job on a timer and
turns its events into Qt signals.

Warnings raised in a job's thread (``warnings.warn``, e.g. a volume that is not skull-stripped)
become :class:`WarningEvent` reports of that job instead of text on a console nobody reads; the
napari runner shows them as notifications.

Jobs still running when the interpreter exits are asked to stop and given a moment to finish
(a training job then writes its checkpoint), so quitting napari loses at most the step in
progress.

Qt-free: the CLI, notebooks, tests and the widgets use the same class.
"""

from __future__ import annotations

import atexit
import queue
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ``progress(done, total, message)``: the one progress callback of every slow function in the
#: package (``done`` of ``total`` units; ``total`` is 1.0 where work is measured as a fraction).
Progress = Callable[[float, float, str], None]


@dataclass(frozen=True)
class ProgressEvent:
    done: float
    total: float
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(max(self.done / self.total, 0.0), 1.0) if self.total else 0.0


@dataclass(frozen=True)
class ResultEvent:
    """The job's function returned ``value``."""

    value: Any = field(repr=False)


@dataclass(frozen=True)
class ErrorEvent:
    """The job's function raised; ``message`` is for the person, ``details`` the traceback."""

    message: str
    details: str = field(default="", repr=False)


@dataclass(frozen=True)
class WarningEvent:
    """A warning raised in the job's thread; ``category`` is the warning class's name."""

    message: str
    category: str = "UserWarning"


#: Thread ident -> the job running in it, for routing warnings to their job.
_JOB_THREADS: dict[int, Job] = {}


_ORIGINAL_SHOWWARNING = warnings.showwarning
_HOOK_STATE = threading.local()


def _job_showwarning(message, category, filename, lineno, file=None, line=None):
    job = _JOB_THREADS.get(threading.get_ident())
    if job is not None:
        job._events.put(WarningEvent(str(message), getattr(category, "__name__", str(category))))
        return None
    if getattr(_HOOK_STATE, "active", False):
        # another hook installed after ours hands the warning back to us: end the loop here
        return _ORIGINAL_SHOWWARNING(message, category, filename, lineno, file, line)
    _HOOK_STATE.active = True
    try:
        return _job_showwarning.previous(message, category, filename, lineno, file, line)
    finally:
        _HOOK_STATE.active = False


_job_showwarning.previous = warnings.showwarning


def _route_warnings() -> None:
    """(Re)install the routing hook on top of whatever hook is current (napari installs its own)."""
    if warnings.showwarning is not _job_showwarning:
        _job_showwarning.previous = warnings.showwarning
        warnings.showwarning = _job_showwarning


class JobContext:
    """What a job's function gets: report progress, emit events, see whether to stop."""

    def __init__(self, job: Job):
        self._job = job

    def progress(self, done: float, total: float, message: str = "") -> None:
        self._job._events.put(ProgressEvent(float(done), float(total), str(message)))

    def emit(self, event: Any) -> None:
        self._job._events.put(event)

    def should_stop(self) -> bool:
        return self._job._stop.is_set()


_LIVE: set[Job] = set()
_LIVE_LOCK = threading.Lock()
#: Seconds a job still running at interpreter exit is given to stop cleanly.
EXIT_WAIT_S = 120


class Job:
    """``fn(ctx)`` in a daemon thread (see the module docstring). A job runs once.

    ``on_stop`` is called (from the caller's thread) when :meth:`stop` is asked for, for work
    that has its own way of stopping (a trainer). ``result`` / ``error`` are set when it ends.
    """

    def __init__(self, fn: Callable[[JobContext], Any], name: str = "napari-medsynth job",
                 on_stop: Callable[[], None] | None = None):
        self._fn = fn
        self._on_stop = on_stop
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._done = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self.context = JobContext(self)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Job:
        with _LIVE_LOCK:
            _LIVE.add(self)
        _route_warnings()
        self._thread.start()
        return self

    def _run(self) -> None:
        _JOB_THREADS[threading.get_ident()] = self
        try:
            self.result = self._fn(self.context)
        except BaseException as exc:  # reported to the caller as a message; the caller goes on
            self.error = str(exc).strip() or type(exc).__name__
            self._events.put(ErrorEvent(self.error, "".join(traceback.format_exception(exc))))
            traceback.clear_frames(exc.__traceback__)  # free what the failed work held
        else:
            self._events.put(ResultEvent(self.result))
        finally:
            _JOB_THREADS.pop(threading.get_ident(), None)
            self._done.set()
            with _LIVE_LOCK:
                _LIVE.discard(self)

    # --- the caller's side ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True from :meth:`start` until the function has returned or raised."""
        return self._thread.is_alive()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def in_own_thread(self) -> bool:
        """True when called from the job's thread (which must not wait for itself)."""
        return threading.current_thread() is self._thread

    def stop(self, wait: float | None = None) -> bool:
        """Ask the work to stop at its next check; with ``wait`` (seconds) block until it has.
        Returns True when the job is no longer running."""
        self._stop.set()
        if self._on_stop is not None:
            self._on_stop()
        if wait is not None and self.started and not self.in_own_thread():
            self._thread.join(wait)
        return not self.running

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or ``timeout`` seconds passed (False)."""
        return self._done.wait(timeout)

    def drain(self) -> list[Any]:
        """Everything reported since the last call, oldest first; never blocks."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out


@atexit.register
def _stop_jobs_at_exit() -> None:
    with _LIVE_LOCK:
        jobs = list(_LIVE)
    for job in jobs:
        job.stop(wait=EXIT_WAIT_S)
