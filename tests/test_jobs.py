"""The one background-job model: Job (Qt-free) and the panels' JobRunner."""

from __future__ import annotations

import gc
import threading
import time

import pytest
from qtpy.QtWidgets import QApplication, QWidget

from napari_medsynth.jobs import ErrorEvent, Job, ProgressEvent, ResultEvent, WarningEvent
from napari_medsynth.widgets._jobs import JobRunner


def test_job_reports_progress_events_and_its_result_in_order():
    release = threading.Event()

    def work(ctx):
        for i in range(3):
            ctx.progress(i + 1, 3, f"part {i + 1}")
        ctx.emit("custom")
        release.wait(5)
        return 42

    job = Job(work).start()
    assert job.running and not job.finished
    release.set()
    assert job.wait(5) and not job.running
    items = job.drain()
    assert [i.done for i in items if isinstance(i, ProgressEvent)] == [1, 2, 3]
    assert items[3] == "custom" and items[-1] == ResultEvent(42) and job.result == 42
    assert items[0].fraction == pytest.approx(1 / 3) and items[2].message == "part 3"
    assert job.drain() == []  # drained once


def test_job_errors_are_messages_and_stop_reaches_the_work():
    failing = Job(lambda ctx: (_ for _ in ()).throw(ValueError("the folder is empty"))).start()
    failing.wait(5)
    (event,) = failing.drain()
    assert isinstance(event, ErrorEvent) and event.message == "the folder is empty"
    assert "ValueError" in event.details and failing.error == "the folder is empty"

    stopped_from_outside = []

    def loop(ctx):
        n = 0
        while not ctx.should_stop():
            n += 1
        return n

    job = Job(loop, on_stop=lambda: stopped_from_outside.append(True)).start()
    assert job.stop(wait=5) and job.result > 0 and stopped_from_outside == [True]


def test_runner_turns_a_job_into_signals_with_coalesced_progress(qtbot):
    panel = QWidget()
    qtbot.addWidget(panel)
    runner = JobRunner(panel, interval_ms=20)
    seen = {"progress": [], "events": [], "ok": [], "failed": [], "finished": 0}
    runner.progress.connect(lambda d, t, m: seen["progress"].append((d, t, m)))
    runner.events.connect(seen["events"].append)
    runner.succeeded.connect(seen["ok"].append)
    runner.failed.connect(seen["failed"].append)
    runner.finished.connect(lambda: seen.__setitem__("finished", seen["finished"] + 1))

    def work(ctx):
        for i in range(100):  # a burst: delivered as the newest progress of each poll
            ctx.progress(i + 1, 100, "step")
        ctx.emit("a")
        ctx.emit("b")
        return "done"

    release = threading.Event()

    def slow(ctx):
        release.wait(5)
        return work(ctx)

    runner.start(Job(slow))
    with pytest.raises(RuntimeError, match="already running"):
        runner.start(Job(work))
    release.set()
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    assert not runner.running
    assert seen["progress"][-1] == (100.0, 100.0, "step") and len(seen["progress"]) < 100
    assert [e for batch in seen["events"] for e in batch] == ["a", "b"]
    assert seen["ok"] == ["done"] and seen["failed"] == []

    runner.start(Job(lambda ctx: 1 / 0))
    qtbot.waitUntil(lambda: seen["failed"] == ["division by zero"], timeout=5000)
    # a job that has ended but whose end was not delivered yet does not block the next one
    runner.start(Job(lambda ctx: "again"))
    qtbot.waitUntil(lambda: seen["ok"] == ["done", "again"], timeout=5000)
    assert seen["finished"] == 3


def test_warnings_raised_in_a_job_reach_its_caller_and_the_panel(qtbot, monkeypatch):
    import warnings

    from napari_medsynth.io.errors import NotSkullStrippedWarning
    from napari_medsynth.widgets import _jobs

    def work(ctx):
        warnings.warn("scan.nii.gz does not look skull-stripped", NotSkullStrippedWarning, stacklevel=1)
        return "done"

    job = Job(work).start()
    job.wait(5)
    items = job.drain()
    assert WarningEvent("scan.nii.gz does not look skull-stripped", "NotSkullStrippedWarning") in items
    # warnings outside a job still reach the normal hook
    with pytest.warns(UserWarning, match="main thread"):
        warnings.warn("main thread", UserWarning, stacklevel=1)
    # a hook installed after ours that hands warnings back to it (as MONAI's does) ends, not loops
    from napari_medsynth import jobs

    ours = jobs._job_showwarning
    seen = []

    def later_hook(message, category, filename, lineno, file=None, line=None):
        seen.append(str(message))
        return ours(message, category, filename, lineno, file, line)

    monkeypatch.setattr(warnings, "showwarning", later_hook)
    jobs._route_warnings()  # a new job starts: ours goes on top again, the later hook below it
    monkeypatch.setattr(jobs, "_ORIGINAL_SHOWWARNING", lambda *a, **k: seen.append("original"))
    warnings.showwarning("loop?", UserWarning, __file__, 1)
    assert seen == ["loop?", "original"]

    shown = []
    monkeypatch.setattr(_jobs, "_notify_warning", shown.append)
    panel = QWidget()
    qtbot.addWidget(panel)
    runner = JobRunner(panel, interval_ms=20)
    warned, events = [], []
    runner.warned.connect(warned.append)
    runner.events.connect(events.append)
    runner.start(Job(lambda ctx: (warnings.warn("second scan is a head", NotSkullStrippedWarning, stacklevel=1),
                                  ctx.emit("x"))))
    qtbot.waitUntil(lambda: not runner.running, timeout=5000)
    assert warned == ["second scan is a head"] == shown
    assert events == [["x"]]


def test_destroying_a_panel_stops_its_job_even_after_its_python_object_is_gone(qtbot):
    """Qt destroys docked panels after Python may have collected them; that must neither crash
    (a slot freed before the signal fires) nor leave the job running."""
    panel = QWidget()
    runner = JobRunner(panel, interval_ms=20)
    def wait_for_stop(ctx):
        while not ctx.should_stop():
            time.sleep(0.01)
        return "stopped"

    job = runner.start(Job(wait_for_stop))
    del runner
    panel.deleteLater()
    del panel
    gc.collect()
    qtbot.waitUntil(lambda: not job.running, timeout=10_000)
    QApplication.processEvents()
    assert job.result == "stopped"
