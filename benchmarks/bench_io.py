"""Read/write speed and peak memory of the NIfTI I/O on BraTS-sized volumes.

Prints a Markdown table; run: ``python benchmarks/bench_io.py``.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
from _machine import cpu_name  # benchmarks/ is on sys.path when a script runs

from napari_medsynth.io import read_case, read_volume, write_volume


def _timed(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    rng = np.random.default_rng(0)
    shape = (240, 240, 155)  # the BraTS grid
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    brain = (zz**2 / 0.6 + yy**2 / 0.8 + xx**2 / 0.7) < 1
    vol = np.where(brain, rng.normal(600, 40, shape), 0).astype(np.int16)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "brats_t1ce.nii.gz"
        nib.save(nib.Nifti1Image(vol, aff), src)
        t_read, v = _timed(lambda: read_volume(src))
        rows.append(("read 240×240×155 int16 .nii.gz (reorient LPS→SPL)", t_read, _peak_mib(lambda: read_volume(src))))
        out = Path(tmp) / "out.nii.gz"
        t_write, _ = _timed(lambda: write_volume(out, v.data, v.metadata()))
        peak = _peak_mib(lambda: write_volume(out, v.data, v.metadata()))
        rows.append(("write it back atomically (.nii.gz)", t_write, peak))
        raw = Path(tmp) / "out.nii"
        t_raw, _ = _timed(lambda: write_volume(raw, v.data, v.metadata()))
        rows.append(("write it back atomically (.nii, uncompressed)", t_raw, float("nan")))
    try:
        from napari_medsynth._sample_data import sample_case_dir

        case = sample_case_dir()
        t_case, _ = _timed(lambda: read_case(case), repeats=3)
        n = len(read_case(case))
        rows.append((f"read sample case folder {case.name} ({n} volumes)", t_case, _peak_mib(lambda: read_case(case))))
    except FileNotFoundError:
        pass
    print(f"Machine: {cpu_name()}, {platform.machine()}, Python {platform.python_version()}, "
          f"nibabel {nib.__version__}, numpy {np.__version__}")
    print()
    print("| operation | median time (s) | peak Python memory (MiB) |")
    print("|---|---:|---:|")
    for name, t, mem in rows:
        print(f"| {name} | {t:.3f} | {mem:.0f} |")


if __name__ == "__main__":
    main()
