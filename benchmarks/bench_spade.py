"""SPADE label -> MR speed: render latency of one 256x256 label map and training throughput.

    python benchmarks/bench_spade.py [--checkpoint models/spade.pt] [--threads 1] [--repeats 30]

* Render latency: ``SpadeRenderer.render`` on one 256x256 7-class label map (a held-out sample
  slice padded to 256), end to end (pad/resize to the trained size, generator, resize back); median
  and 95th percentile over ``--repeats`` calls after two warm-up calls.
* Training throughput: images per second of the ``spade`` recipe's ``train_step`` at its default
  configuration (batch 8, trained size), generator + discriminator updates, after two warm-up steps.

CPU only: this machine has no GPU, so there is no GPU row. The numbers depend on what else runs on
the machine; the 1-minute load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--train-steps", type=int, default=8)
    args = ap.parse_args(argv)

    import torch

    from napari_medsynth.data.paired import PairedSliceDataset
    from napari_medsynth.geometry import center_on_square
    from napari_medsynth.spade import SpadeRenderer
    from napari_medsynth.spade.recipe import SpadeConfig, SpadeRecipe
    from napari_medsynth.train.device import Precision

    torch.set_num_threads(args.threads)
    renderer = SpadeRenderer.load(args.checkpoint)
    ds = PairedSliceDataset(ROOT / "sample_data", 256, include="MSYN-007")
    labels = center_on_square(ds.labels[len(ds) // 2], 256, 0)
    for _ in range(2):
        renderer.render(labels)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        renderer.render(labels)
        times.append(time.perf_counter() - t)
    times_ms = 1000 * np.array(times)

    cpu = torch.device("cpu")
    config = SpadeConfig(**{k: v for k, v in renderer.config.to_dict().items()})
    recipe = SpadeRecipe(config, cpu, Precision("fp32", cpu), seed=0)
    recipe.build()
    train = PairedSliceDataset(ROOT / "sample_data", config.image_size, include="MSYN-001")
    rng = np.random.default_rng(0)
    def batch():
        idx = rng.choice(len(train), config.batch_size, replace=False)
        return train.batch([(int(i), ()) for i in idx])
    for _ in range(2):
        recipe.train_step(batch())
    t = time.perf_counter()
    for _ in range(args.train_steps):
        recipe.train_step(batch())
    rate = args.train_steps * config.batch_size / (time.perf_counter() - t)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, Python "
          f"{platform.python_version()}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}")
    print(f"SPADE render of one 256x256 label map (trained size {renderer.size}): median "
          f"{np.median(times_ms):.1f} ms, p95 {np.percentile(times_ms, 95):.1f} ms ({args.repeats} calls)")
    print(f"SPADE training: {rate:.1f} img/s (batch {config.batch_size}, {config.image_size}x{config.image_size}, "
          f"{args.train_steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
