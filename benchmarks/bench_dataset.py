"""Slice-store benchmark: build time per case, training start-up time and peak memory vs. case count.

    python benchmarks/bench_dataset.py                      # the full run (about 10 GB of /tmp, minutes)
    python benchmarks/bench_dataset.py --sizes 2,3 --old 2 --build-cases 2   # a quick check

Needs real BraTS cases in ``../shared/data/brats2018-train`` (``--data``); skipped with a message
without them. Measures:

(a) ``build_store`` seconds per real case, all four sequences, including the tissue step
    (:func:`napari_medsynth.case_tissues.labels7_for_case`: BraTS cases have no ``_labels7`` map), and
    the store's bytes per case;
(b) for stores of N cases (default 10, 40, 160; ``--modalities t1ce``): the build time per case
    (cases with a ``_labels7`` map, no tissue step) and, each in its own child process so rows do
    not share memory, the training start-up (open the store, construct ``StorePairs``, first batch),
    the mean time of further batches, and the child's peak RSS, next to the in-memory
    ``PairedSliceDataset`` on the same case folders (``--old``). The N cases are the real ones
    repeated under new names: a folder per fake case with symlinks ``<id>_t1ce.nii.gz``,
    ``<id>_seg.nii.gz`` and a ``<id>_labels7.nii.gz`` made once per real case from the store of (a).

Everything is written below a temporary folder in ``--tmp`` (default /tmp) and deleted afterwards.
Prints a Markdown table.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402 (benchmarks/ is on sys.path when a script runs)

DEFAULT_DATA = REPO.parent / "shared" / "data" / "brats2018-train"


def child(kind: str, path: str, size: int, batch: int) -> None:
    """One start-up measurement; prints a JSON line. ``kind``: store, folder or baseline."""
    import resource

    import numpy as np
    import torch

    from napari_medsynth.data.paired import PairedSliceDataset
    from napari_medsynth.data.store import SliceStore
    from napari_medsynth.data.store_datasets import StorePairs

    torch.set_num_threads(1)
    out = {"kind": kind, "import_rss_mb": _status("VmRSS")}
    try:  # reset the peak (VmHWM) so that it shows this measurement, not the imports' transient peak
        Path("/proc/self/clear_refs").write_text("5")
        out["peak_from"] = "VmHWM after the imports"
    except OSError:
        out["peak_from"] = "ru_maxrss (includes the imports)"
    if kind != "baseline":
        t0 = time.perf_counter()
        if kind == "store":
            store = SliceStore.open(path)
            out["open_s"] = time.perf_counter() - t0
            ds = StorePairs(store, size)
        else:
            ds = PairedSliceDataset(path, size)
        out["construct_s"] = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        ds.batch([(int(i), ()) for i in rng.integers(0, len(ds), batch)])
        out["startup_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(5):
            ds.batch([(int(i), ()) for i in rng.integers(0, len(ds), batch)])
        out["batch_s"] = (time.perf_counter() - t1) / 5
        out["slices"] = len(ds)
    hwm = _status("VmHWM")
    out["anon_mb"] = _status("RssAnon")  # private memory; memory-mapped store pages are file-backed
    out["rss_mb"] = hwm if out["peak_from"].startswith("VmHWM") and hwm else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _status(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB (0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(kind: str, path: Path | str, size: int, batch: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run = subprocess.run([sys.executable, __file__, "--child", kind, str(path), "--image-size", str(size),
                          "--batch", str(batch)], capture_output=True, text=True, env=env)
    if run.returncode:
        raise RuntimeError(f"child {kind} {path} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def build_real(data: Path, out: Path, n: int) -> tuple[list[tuple[str, float, float, str]], Path]:
    """Build a store of the first ``n`` real cases; per case (id, seconds, tissue-step seconds, source)."""
    from napari_medsynth.data.store import SliceStore, build_store

    src = out.parent / "real_cases"
    for folder in sorted(p for p in data.iterdir() if p.is_dir())[:n]:
        (src / folder.name).mkdir(parents=True)
        for f in folder.glob("*.nii*"):
            (src / folder.name / f.name).symlink_to(f.resolve())
    started: dict[str, float] = {}

    def progress(done, total, message):
        case = message.split(":")[0]
        if message.endswith(": reading") and case not in started:
            started[case] = time.perf_counter()

    build_store(src, out, progress=progress)
    t_end = time.perf_counter()
    store = SliceStore.open(out)
    order = sorted(started, key=started.get)
    ends = [started[c] for c in order[1:]] + [t_end]
    seconds = dict(zip(order, (e - started[c] for c, e in zip(order, ends))))
    rows = []
    for rec in store.records:
        tissue = rec.get("labels7_info", {}).get("seconds", 0.0)
        rows.append((rec["id"], seconds.get(rec["id"], float("nan")), float(tissue or 0.0), rec["labels7_source"]))
    return rows, out


def labels7_files(store_path: Path, data: Path, out: Path) -> dict[str, dict[str, Path]]:
    """Per real case: its t1ce and seg files and a _labels7 file rebuilt from the store."""
    import numpy as np

    from napari_medsynth.data.store import SliceStore
    from napari_medsynth.io import write_volume
    from napari_medsynth.io.case import case_files, read_case_volume

    store = SliceStore.open(store_path)
    out.mkdir(parents=True)
    files = {}
    for rec in store.records:
        found = case_files(data / Path(rec["folder"]).name)
        ref = read_case_volume(found, "t1ce")
        lab = np.zeros(ref.data.shape, np.uint8)
        idx = store.slices([rec["id"]])
        lab[store.index["z"][idx]] = np.stack([store.labels7(i) for i in idx])
        target = out / f"{rec['id']}_labels7.nii.gz"
        write_volume(target, lab, meta={**ref.metadata(), "label_convention": ""}, kind="labels")
        files[rec["id"]] = {"t1ce": found.files["t1ce"].resolve(), "seg": found.files["seg"].resolve(),
                            "labels7": target}
    return files


def fake_root(real: dict[str, dict[str, Path]], n: int, root: Path) -> Path:
    names = sorted(real)
    for i in range(n):
        case = f"fake{i:04d}"
        folder = root / case
        folder.mkdir(parents=True)
        for kind, target in real[names[i % len(names)]].items():
            (folder / f"{case}_{kind}.nii.gz").symlink_to(target)
    return root


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of real BraTS case folders")
    ap.add_argument("--build-cases", type=int, default=14, help="real cases built in (a) (default 14)")
    ap.add_argument("--sizes", default="10,40,160", help="store sizes in cases for (b)")
    ap.add_argument("--old", default="10,40", help="sizes at which to measure the in-memory folder dataset too")
    ap.add_argument("--image-size", type=int, default=128, help="training image size (default 128)")
    ap.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    ap.add_argument("--tmp", default="/tmp", help="where the temporary stores go (default /tmp)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.image_size, args.batch)
        return
    if not args.data.is_dir():
        print(f"skipped: no real BraTS cases in {args.data} (give --data)")
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    old = {int(s) for s in args.old.split(",") if s.strip()}
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="bench_dataset_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        per_case, real_store = build_real(args.data, tmp / "real_store", args.build_cases)
        total = time.perf_counter() - t0
        n_real = len(per_case)
        tissue = [t for _, _, t, _ in per_case]
        rows.append((f"(a) build, {n_real} real cases, t1/t1ce/t2/flair, labels7 by the tissue step: s/case",
                     f"{total / n_real:.1f} (tissue step {sum(tissue) / n_real:.1f}, slowest case "
                     f"{max(s for _, s, _, _ in per_case):.1f})"))
        rows.append(("(a) store size per case (4 modalities + labels7 + seg)",
                     f"{du(real_store) / n_real / 1e6:.0f} MB"))
        real = labels7_files(real_store, args.data, tmp / "labels7")
        shutil.rmtree(real_store)
        base = measure("baseline", "-", args.image_size, args.batch)
        rows.append(("(b) child process RSS after the imports (torch, napari_medsynth); the peaks below are "
                     f"measured from there ({base['peak_from']}), anonymous = RssAnon at the end",
                     f"{base['import_rss_mb']:.0f} MB (anonymous {base['anon_mb']:.0f} MB)"))
        for n in sizes:
            root = fake_root(real, n, tmp / f"cases_{n}")
            t0 = time.perf_counter()
            from napari_medsynth.data.store import build_store

            store = build_store(root, tmp / f"store_{n}", modalities="t1ce")
            build_s = time.perf_counter() - t0
            disk = du(store)
            r = measure("store", store, args.image_size, args.batch)
            rows.append((f"(b) {n} cases: store build (t1ce, labels7 given), s/case; store size",
                         f"{build_s / n:.2f} s; {disk / 1e9:.2f} GB"))
            rows.append((f"(b) {n} cases, store: open + StorePairs + first batch ({r['slices']} slices, "
                         f"{args.image_size} px, batch {args.batch}); next batches; peak RSS",
                         f"{r['startup_s']:.3f} s (open {r['open_s'] * 1e3:.0f} ms); {r['batch_s'] * 1e3:.0f} ms; "
                         f"{r['rss_mb']:.0f} MB (anonymous {r['anon_mb']:.0f} MB)"))
            shutil.rmtree(store)
            if n in old:
                r = measure("folder", root, args.image_size, args.batch)
                rows.append((f"(b) {n} cases, folder: PairedSliceDataset + first batch ({r['slices']} slices); "
                             "next batches; peak RSS",
                             f"{r['startup_s']:.1f} s; {r['batch_s'] * 1e3:.1f} ms; {r['rss_mb']:.0f} MB "
                             f"(anonymous {r['anon_mb']:.0f} MB)"))
            shutil.rmtree(root)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    import torch

    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"Python {platform.python_version()}; load average after the run: {load}")
    print()
    print("| measurement | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print()
    print("Build time per real case (s): " + ", ".join(f"{c} {s:.1f} (tissue {t:.1f})" for c, s, t, _ in per_case))


if __name__ == "__main__":
    main()
