#!/usr/bin/env python3
"""Time and memory to add one patient to a tumor-crop dataset of 1, 10, 50, 100, 200 patients.

    python benchmarks/bench_crop_dataset.py [--sizes 1,10,50,100,200] [--crops 100] [--phi 60] [--dir DIR]

Each patient is synthetic and sized like a real one (default: 100 tumor crops of 64x64 and 60
tumor-free slices of 256x256, about 18 MB). One dataset grows to the largest size (200 patients:
about 3.6 GB on disk, in a temporary folder under ``--dir`` that is deleted at the end). At each
size, a fresh Python process does what ``napari-medsynth crops`` does for one patient: open the
dataset, add the patient, save. The table gives the open time, the add + save time, the process's
peak resident memory (``ru_maxrss``; "baseline" is its value just before opening: interpreter, numpy
and the new patient's arrays) and the peak of the allocations traced during open + add + save
(tracemalloc, numpy's included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _machine import cpu_name  # benchmarks/ is on sys.path when a script runs

from napari_medsynth.sage.dataset import CropDataset, CropRecord, CropSettings, PhiRecord


def synthetic_patient(pid: str, n_crops: int, n_phi: int, settings: CropSettings, seed: int = 0):
    rng = np.random.default_rng(seed)
    c, p = settings.crop_size, settings.phi_size
    btc = (rng.random((n_crops, c, c), np.float32) > 0.5).astype(np.uint8)
    tc = rng.random((n_crops, c, c), np.float32) * btc
    crops = [CropRecord(pid, i, "tumor", (10, 40, 12, 44), (float(rng.random()), float(rng.random())),
                        float(rng.random() / 10), float(rng.uniform(-90, 90)), int(btc[i].sum()))
             for i in range(n_crops)]
    phi = rng.random((n_phi, p, p), np.float32)
    return tc, btc, crops, phi, (phi > 0.2).astype(np.uint8), [PhiRecord(pid, 20 + j) for j in range(n_phi)]


def measure(args) -> None:
    """In a fresh process: open the dataset, add one patient, save; print the numbers as JSON."""
    import resource
    import tracemalloc

    settings = CropSettings(crop_size=args.crop_size, phi_size=args.phi_size)
    data = synthetic_patient(args.patient, args.crops, args.phi, settings, seed=1)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    ds = CropDataset.open_or_create(args.measure, settings)
    t1 = time.perf_counter()
    ds.add_patient(args.patient, {"class": "tumor"}, *data)
    ds.save()
    t2 = time.perf_counter()
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"open_s": t1 - t0, "add_save_s": t2 - t1, "peak_rss_mib": peak / 1024,
                      "baseline_rss_mib": baseline / 1024, "traced_mib": traced / 2**20}))


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,10,50,100,200", help="dataset sizes (patients) to add one patient to")
    ap.add_argument("--crops", type=int, default=100, help="tumor crops per patient (default 100)")
    ap.add_argument("--phi", type=int, default=60, help="tumor-free slices per patient (default 60)")
    ap.add_argument("--crop-size", type=int, default=64)
    ap.add_argument("--phi-size", type=int, default=256)
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the temporary dataset goes")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--patient", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        return measure(args)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    settings = CropSettings(crop_size=args.crop_size, phi_size=args.phi_size)
    per_patient = (args.crops * args.crop_size**2 * 5 + args.phi * args.phi_size**2 * 5) / 2**20
    need = per_patient * (sizes[-1] + 1) * 1.1
    free = shutil.disk_usage(args.dir).free / 2**20
    if need > free:
        sys.exit(f"needs about {need / 1024:.1f} GiB in {args.dir}, {free / 1024:.1f} GiB free; pass --dir or "
                 "smaller --sizes")
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}, numpy {np.__version__}; dataset in {args.dir}")
    print(f"Per patient: {args.crops} crops of {args.crop_size}x{args.crop_size}, {args.phi} tumor-free slices of "
          f"{args.phi_size}x{args.phi_size} ({per_patient:.1f} MiB)\n")
    rows = []
    fill = synthetic_patient("fill", args.crops, args.phi, settings)
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here.parent), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="bench-crops-", dir=args.dir) as tmp:
        root = Path(tmp) / "ds"
        ds = CropDataset.empty(root, settings)
        for n in sizes:
            while len(ds.patients) < n:  # grow (untimed); each save writes one patient
                pid = f"P{len(ds.patients):04d}"
                tc, btc, crops, phi, mask, phis = fill
                ds.add_patient(pid, {"class": "tumor"}, tc, btc, [replace(r, patient=pid) for r in crops],
                               phi, mask, [PhiRecord(pid, r.slice) for r in phis])
                ds.save()
            cmd = [sys.executable, __file__, "--measure", str(root), "--patient", f"NEW{n}", "--crops",
                   str(args.crops), "--phi", str(args.phi), "--crop-size", str(args.crop_size), "--phi-size",
                   str(args.phi_size)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
            rows.append((len(ds.patients), json.loads(out.strip().splitlines()[-1]), folder_mib(root)))
            ds = CropDataset.load(root)  # the measured patient stays: the next size grows from n + 1
    print("| patients before | open (s) | add + save (s) | peak RSS (MiB) | baseline RSS (MiB) "
          "| Python peak (MiB) | dataset after (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r, size in rows:
        print(f"| {n} | {r['open_s']:.3f} | {r['add_save_s']:.3f} | {r['peak_rss_mib']:.0f} | "
              f"{r['baseline_rss_mib']:.0f} | {r['traced_mib']:.1f} | {size:.0f} |")


if __name__ == "__main__":
    main()
