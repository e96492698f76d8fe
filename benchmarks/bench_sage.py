"""SAGE models benchmark: how long one synthetic shape / texture takes on this machine.

    python benchmarks/bench_sage.py [--threads 1] [--crops /path/to/crop/dataset]

Prints a Markdown table. Measures (median over repeats, after one warm-up call):
* ShapeModel.sample: one Syn-BTC from noise with the shipped LMS-GAN;
* TextureModel.texturize with the default random multi-scale features, at its default number of
  iterations and a few others (the steering panel's interactive budget is about 1-3 s);
* one iteration of the same optimisation with a VGG19-architecture extractor (random weights:
  the speed does not depend on the values), the paper's choice, for comparison.
Without --crops the texture source and shape are synthetic blobs of the same size.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402

from napari_medsynth.sage.shapes import ShapeModel  # noqa: E402
from napari_medsynth.sage.texture import DEFAULT_STEPS, TextureModel  # noqa: E402
from napari_medsynth.sage.texture_features import VGG19Features, state_sha256  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crops", help="a tumor-crop dataset folder to take a real shape and texture from")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    shapes = ShapeModel.load()
    if args.crops:
        from napari_medsynth.sage.dataset import CropDataset
        ds = CropDataset.load(args.crops)
        source = ds.tc[int(np.argmax(ds.btc.reshape(len(ds), -1).sum(1)))]
    else:
        yy, xx = np.mgrid[:64, :64]
        blob = (yy - 32) ** 2 + (xx - 32) ** 2 < 24 ** 2
        source = (blob * (0.5 + 0.3 * np.sin(xx / 2.0))).astype(np.float32)
    shape = shapes.sample(0)
    textures = TextureModel.load()
    vgg = TextureModel(VGG19Features().eval().requires_grad_(False), state_sha256(VGG19Features()), "VGG19")

    rows = [("ShapeModel.sample (one 64x64 Syn-BTC)", median_time(lambda: shapes.sample(1), args.repeats))]
    for steps in (50, DEFAULT_STEPS, 200):
        label = f"TextureModel.texturize, random multi-scale features, {steps} iterations"
        if steps == DEFAULT_STEPS:
            label += " (default)"
        rows.append((label, median_time(lambda s=steps: textures.texturize(shape, source, 0, steps=s), args.repeats)))
    per_iter = median_time(lambda: vgg.texturize(shape, source, 0, steps=5), max(2, args.repeats // 2)) / 5
    rows.append(("  ... one iteration with VGG19 relu3_1/4_1/5_1 features (paper's choice)", per_iter))
    rows.append((f"  ... {DEFAULT_STEPS} iterations with VGG19 features (extrapolated)", per_iter * DEFAULT_STEPS))

    print(f"Machine: {cpu_name()}, {platform.machine()}, Python {platform.python_version()}, "
          f"torch {torch.__version__}, {args.threads} thread(s)")
    print()
    print("| operation | median time (s) |")
    print("|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
