"""PGGAN speed: label-map sampling throughput and training images per second.

    python benchmarks/bench_pggan.py [--threads 1] [--checkpoint PT]

Prints a Markdown table. Measures, on the CPU (and on CUDA when present):
* maps/s of ``LabelMapSampler.sample`` with the shipped checkpoint (64 x 64 native): native
  size, and nearest-upsampled to 256 x 256 (the renderer's input), 256 maps per call, median of
  three calls after a warm-up;
* training images/s of the ``pggan-labels`` recipe at its default widths (batch 16) at each
  resolution, holding the resolution fixed (growth schedule set to start at the last level);
  12 steps after 3 warm-up steps, on the sample cases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402

from napari_medsynth._sample_data import sample_data_dir  # noqa: E402
from napari_medsynth.pggan.sample import LabelMapSampler  # noqa: E402
from napari_medsynth.train import StepEvent, Trainer, TrainSettings  # noqa: E402


def sampling_rate(sampler: LabelMapSampler, size: int | None, n: int = 256) -> float:
    sampler.sample(16, seed=0, size=size)
    times = []
    for seed in range(3):
        t = time.perf_counter()
        sampler.sample(n, seed=seed, size=size)
        times.append(time.perf_counter() - t)
    return n / statistics.median(times)


def training_rate(resolution: int, device: str, threads: int | None, steps: int = 15, warmup: int = 3) -> float:
    stamps: dict[int, float] = {}

    def stamp(event) -> None:
        if isinstance(event, StepEvent):
            stamps[event.step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        settings = TrainSettings(str(sample_data_dir()), out, steps=steps, checkpoint_every=10 ** 9,
                                 preview_every=0, device=device, threads=threads)
        trainer = Trainer("pggan-labels", settings, {"image_size": resolution, "stable_kimg": 0.0,
                                                     "fade_kimg": 0.0}, listeners=(stamp,))
        trainer.run()
    return 16 * (steps - warmup) / (stamps[steps] - stamps[warmup])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--checkpoint", help="pggan-labels checkpoint (default: shipped)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} thread(s), 1-min load average at start {load:.1f}\n")
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        sampler = LabelMapSampler.load(args.checkpoint, device=device)
        rows.append((f"sample label maps, {sampler.size}x{sampler.size} native ({device})",
                     f"{sampling_rate(sampler, None):.0f} maps/s"))
        rows.append((f"sample label maps, upsampled to 256x256 ({device})",
                     f"{sampling_rate(sampler, 256):.0f} maps/s"))
        for res in (16, 32, 64):
            rows.append((f"train pggan-labels at {res}x{res}, batch 16 ({device})",
                         f"{training_rate(res, device, args.threads):.1f} img/s"))
    print("| measurement | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\n1-min load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
