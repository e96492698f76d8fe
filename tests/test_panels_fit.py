"""Every panel fits a 1400x1000 screen and opens without freezing napari.

The stall bound here is generous (a loaded CI machine, imports already cached by earlier tests);
benchmarks/bench_gui_stalls.py measures first opens in fresh processes.
"""

from __future__ import annotations

import time

import pytest
from qtpy.QtCore import QTimer

PANELS = ("MR volume", "Label → MR", "SAGE studio", "Train", "Tumor crops", "Evaluate synthetic images",
          "Create reader study", "Reader session", "Reader study results", "StyleGAN2 explorer")
#: Generous: the product's aim is 200 ms (see benchmarks/RESULTS.md for the measured stalls).
STALL_BOUND_S = 1.5


class _StallClock:
    """Longest gap between ticks of a 10 ms QTimer: how long the GUI thread was busy at once."""

    def __init__(self):
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self):
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def stop(self) -> float:
        self._timer.stop()
        return max(self.gaps, default=0.0)


@pytest.mark.parametrize("name", PANELS)
def test_panel_opens_without_a_stall_and_fits_the_screen(make_napari_viewer, qtbot, name):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1400, 1000)
    qtbot.wait(50)
    clock = _StallClock()
    _, widget = viewer.window.add_plugin_dock_widget("napari-medsynth", name)
    qtbot.waitUntil(lambda: getattr(widget, "ready", True) or getattr(widget, "error", None), timeout=120_000)
    assert getattr(widget, "error", None) is None
    qtbot.wait(300)  # the panel's first events (timers, model checks) run too
    stall = clock.stop()
    assert stall < STALL_BOUND_S, f"{name}: the GUI thread was blocked for {stall:.2f} s"
    hint = getattr(widget, "native", widget).sizeHint()  # a magicgui form wraps its Qt widget
    assert hint.height() <= 900 and hint.width() <= 700, (name, hint.width(), hint.height())
    assert window.height() <= 1000 and window.width() <= 1400, (window.width(), window.height())
