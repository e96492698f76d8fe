"""Training-engine benchmark: speed of the reference recipe, checkpoint I/O, napari responsiveness.

    xvfb-run -a python benchmarks/bench_train.py          # Linux without a screen
    python benchmarks/bench_train.py --no-gui             # skip the napari measurement

Prints a Markdown table. Measures:
* steps/s of the "dcgan" recipe at its default config (batch 16, 32x32 crops, width 32) on the
  CPU, and on CUDA when present (warm-up steps excluded);
* checkpoint save and load time (median of several) for that recipe;
* the largest napari event-loop stall while the Train panel trains: a QTimer asks to tick every
  5 ms and the longest gap between ticks is recorded, idle vs. training (goal: <= 50 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402 (benchmarks/ is on sys.path when a script runs)

from napari_medsynth.train import StepEvent, Trainer, TrainSettings, load_checkpoint  # noqa: E402
from napari_medsynth.train.checkpoint import checkpoint_path, model_card, save_checkpoint  # noqa: E402


def make_data(folder: Path, n: int = 64, size: int = 96) -> Path:
    """Smooth random blobs: content does not matter for speed, only sizes do."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    imgs = np.stack([np.exp(-((yy - rng.uniform(20, 76)) ** 2 + (xx - rng.uniform(20, 76)) ** 2) / 300.0)
                     for _ in range(n)]).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "blobs.npy", imgs)
    return folder


def steps_per_second(data: Path, out: Path, device: str, steps: int, threads: int | None = None,
                     warmup: int = 10) -> float:
    stamps: dict[int, float] = {}
    trainer = Trainer("dcgan", TrainSettings(str(data), str(out), steps=steps, checkpoint_every=10**9,
                                             preview_every=0, device=device, threads=threads))

    def stamp(event) -> None:
        if isinstance(event, StepEvent):
            stamps[event.step] = time.perf_counter()

    trainer.add_listener(stamp)
    trainer.run()
    return (steps - warmup) / (stamps[steps] - stamps[warmup])


def checkpoint_io(out: Path, repeats: int = 5) -> tuple[float, float, int]:
    """Median save and load seconds of the dcgan checkpoint just written to ``out``."""
    from napari_medsynth.train import latest_checkpoint

    state = load_checkpoint(latest_checkpoint(out))
    payload = {k: v for k, v in state.items() if k not in ("format", "format_version")}
    saves, loads = [], []
    for i in range(repeats):
        path = checkpoint_path(out / "bench", i + 1)
        t0 = time.perf_counter()
        save_checkpoint(path, payload, model_card(payload))
        saves.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        load_checkpoint(path)
        loads.append(time.perf_counter() - t0)
    return statistics.median(saves), statistics.median(loads), path.stat().st_size


def event_loop_stall(data: Path, out: Path, seconds: float, threads: int) -> tuple[float, float, float, int]:
    """(idle max gap ms, training max gap ms, training p99 gap ms, steps trained)."""
    import napari
    from qtpy.QtCore import QElapsedTimer, QEventLoop, QTimer

    from napari_medsynth.widgets.train import TrainWidget

    viewer = napari.Viewer(show=True)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.recipe.value = "dcgan"  # the panel lists generators first; this measures the reference recipe

    def run_loop(duration: float) -> None:  # the real Qt event loop, as in napari.run()
        loop = QEventLoop()
        QTimer.singleShot(int(duration * 1000), loop.quit)
        loop.exec_()

    def measure(duration: float) -> list[float]:
        gaps: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def tick():
            now = clock.nsecsElapsed()
            gaps.append((now - last[0]) / 1e6)
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        timer.start()
        run_loop(duration)
        timer.stop()
        return gaps[1:]

    measure(1.0)  # let the window settle
    idle = measure(min(seconds, 3.0))
    widget.data_dir.value, widget.out_dir.value = data, out
    widget.steps.value, widget.preview_every.value, widget.checkpoint_every.value = 10**6, 20, 200
    widget.device.value = "cpu"
    widget.threads.value = threads
    widget.start()
    while widget.progress.value() < 1:  # dataset loaded, steps running
        run_loop(0.05)
    busy = measure(seconds)
    steps = widget.progress.value()
    widget.run.stop(wait=60)
    viewer.close()
    return max(idle), max(busy), float(np.percentile(busy, 99)), steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=110, help="steps per speed measurement (10 are warm-up)")
    ap.add_argument("--stall-seconds", type=float, default=10.0, help="seconds of training watched in napari")
    ap.add_argument("--no-gui", action="store_true", help="skip the napari event-loop measurement")
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_data(tmp / "data")
        cores = os.cpu_count() or 1
        for threads in sorted({1, cores}):
            cpu = steps_per_second(data, tmp / f"cpu{threads}", "cpu", args.steps, threads)
            rows.append((f"dcgan steps/s, CPU, {threads} thread(s) (batch 16, 32x32 crops, width 32)", f"{cpu:.1f}"))
        if torch.cuda.is_available():
            gpu = steps_per_second(data, tmp / "gpu", "cuda", args.steps * 3)
            rows.append((f"dcgan steps/s, {torch.cuda.get_device_name()}", f"{gpu:.1f}"))
        save_s, load_s, size = checkpoint_io(tmp / "cpu1")
        rows.append((f"checkpoint save (atomic + fsync + card), {size / 1e6:.2f} MB", f"{save_s * 1e3:.1f} ms"))
        rows.append(("checkpoint load (weights_only=True)", f"{load_s * 1e3:.1f} ms"))
        if not args.no_gui:
            threads = max(1, cores - 1)  # the panel's default
            idle, busy, p99, steps = event_loop_stall(data, tmp / "gui", args.stall_seconds, threads)
            rows.append(("napari event loop, largest gap between 5 ms ticks, idle", f"{idle:.1f} ms"))
            rows.append((f"... while the Train panel trains ({threads} thread(s), preview every 20 steps; "
                         f"{steps} steps in {args.stall_seconds:g} s)", f"{busy:.1f} ms (p99 {p99:.1f} ms)"))

    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"Python {platform.python_version()}; load average after the run: {load}")
    print()
    print("| measurement | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
