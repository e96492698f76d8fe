#!/usr/bin/env python3
"""Timings of tumor-crop extraction and seeded region growing on a sample case (240x240x155).

    python benchmarks/bench_crops.py [--case sample_data/MSYN-001]

Prints the median of repeated runs; region growing should stay well under ~0.2 s to follow a
tolerance slider.
"""
import argparse
import time
from pathlib import Path

import numpy as np

from napari_medsynth.io import read_volume
from napari_medsynth.sage.crops import extract_patient
from napari_medsynth.sage.segment import grow_region, robust_range


def timed(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default=str(Path(__file__).resolve().parents[1] / "sample_data" / "MSYN-001"))
    args = ap.parse_args()
    case = Path(args.case)
    img = read_volume(next(case.glob("*_t1ce.nii.gz")))
    seg = read_volume(next(case.glob("*_seg.nii.gz"))).data
    print(f"volume {img.data.shape}, voxel {img.spacing} mm")
    t, width = timed(lambda: robust_range(img.data), 3)
    print(f"robust_range (once per image):        {t * 1000:7.1f} ms")
    enh = np.argwhere(seg == 4)
    seed = tuple(enh[np.argmin(((enh - enh.mean(0)) ** 2).sum(1))])
    for mode, radius in (("2d", 40), ("3d", 25), ("3d", 40)):
        t, mask = timed(lambda mode=mode, radius=radius: grow_region(img.data, seed, 0.15 * width, mode=mode,
                                                                     roi_radius_mm=radius, spacing=img.spacing))
        print(f"grow_region {mode} radius {radius:2d} mm:       {t * 1000:7.1f} ms  ({int(mask.sum())} voxels)")
    t, found = timed(lambda: extract_patient(img.data, seg, spacing=img.spacing), 1)
    print(f"extract_patient (whole volume):       {t * 1000:7.1f} ms  ({len(found.crops)} crops, "
          f"{len(found.phi_records)} tumor-free slices)")


if __name__ == "__main__":
    main()
