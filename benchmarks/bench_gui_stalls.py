"""GUI-thread stalls when a panel opens: the longest gap between ticks of a 10 ms QTimer.

Each panel is opened in a fresh process (so every import is a first import, as for a user), in a
napari window of 1400x1000 under the current display (run under ``xvfb-run -a -s "-screen 0
1400x1000x24"``). The clock runs from the click (``add_plugin_dock_widget``) until the panel is
built (heavy panels load their modules off the GUI thread first) plus one second. Also printed:
the time until the panel is usable, its size hint, and whether the window kept its 1400x1000.

    python benchmarks/bench_gui_stalls.py [--panels "Train,SAGE studio"]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

PANELS = ("MR volume", "Label → MR", "SAGE studio", "Train", "Tumor crops", "Evaluate synthetic images",
          "Create reader study", "Reader session", "Reader study results", "StyleGAN2 explorer")

CHILD = r'''
import json, sys, time
import napari
import napari._qt.qt_main_window as _qmw
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication
_qmw.SHOW_QT_WARNING = False
name = sys.argv[1]
viewer = napari.Viewer(show=True)
viewer.window._qt_window.resize(1400, 1000)
app = QApplication.instance()
for _ in range(30):
    app.processEvents()
gaps, last = [], [time.perf_counter()]
def tick():
    now = time.perf_counter(); gaps.append(now - last[0]); last[0] = now
timer = QTimer(); timer.setInterval(10); timer.timeout.connect(tick); timer.start()
state = {}
def click():
    state["t0"] = time.perf_counter()
    _, w = viewer.window.add_plugin_dock_widget("napari-medsynth", name)
    state["w"] = w
QTimer.singleShot(100, click)
deadline = time.perf_counter() + 120
while time.perf_counter() < deadline:
    app.processEvents(); time.sleep(0.001)
    w = state.get("w")
    if w is not None and getattr(w, "ready", True) and "ready_s" not in state:
        state["ready_s"] = time.perf_counter() - state["t0"]
        deadline = time.perf_counter() + 1.0
w = state["w"]
hint = getattr(w, "native", w).sizeHint()
win = viewer.window._qt_window
start = next(i for i, g in enumerate(gaps) if sum(gaps[:i + 1]) >= 0.1) if gaps else 0
print(json.dumps({"panel": name, "max_stall_ms": round(1000 * max(gaps[start:]), 1),
                  "ready_s": round(state["ready_s"], 2), "hint": [hint.width(), hint.height()],
                  "window": [win.width(), win.height()]}))
viewer.close()
'''


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", default=",".join(PANELS))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import os
    import platform

    from _machine import cpu_name

    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("\n| panel | longest GUI-thread stall (ms) | usable after (s) | size hint (px) | window (px) |")
    print("|---|---:|---:|---|---|")
    for name in args.panels.split(","):
        out = subprocess.run([sys.executable, "-c", CHILD, name], capture_output=True, text=True, timeout=300)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
        if line is None:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else '?'} | | | |")
            continue
        r = json.loads(line)
        print(f"| {name} | {r['max_stall_ms']:.0f} | {r['ready_s']:.2f} | {r['hint'][0]}×{r['hint'][1]} | "
              f"{r['window'][0]}×{r['window'][1]} |")


if __name__ == "__main__":
    main()
