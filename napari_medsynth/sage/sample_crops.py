"""The crop dataset of the shipped sample cases, built once on demand so SAGE works after install.

The 8 simulated tumor cases (T1-Gd + BraTS labels, class "tumor") and the 2 tumor-free cases
(tumor-free slices only, class "healthy") with the default crop settings. The result is cached
in ``$NAPARI_MEDSYNTH_CACHE/sample_crops`` (default ``~/.cache/napari-medsynth/sample_crops``);
it is built in a temporary sibling folder and renamed into place, so an interrupted build never
leaves a half dataset behind.

    python -m napari_medsynth.sage.sample_crops [OUT_DIR]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .._sample_data import list_sample_cases, sample_case_dir
from ..jobs import Progress
from .crops import add_volume_pair
from .dataset import CropDataset, CropDatasetError


def cache_dir() -> Path:
    root = os.environ.get("NAPARI_MEDSYNTH_CACHE") or Path.home() / ".cache" / "napari-medsynth"
    return Path(root)


def default_sample_crops_dir() -> Path:
    return cache_dir() / "sample_crops"


def build_sample_crops(out_dir: str | os.PathLike | None = None,
                       progress: Progress | None = None) -> Path:
    """Return a crop dataset of the sample cases at ``out_dir``, building it if it is not there yet."""
    out = Path(out_dir) if out_dir is not None else default_sample_crops_dir()
    if (out / "manifest.json").is_file():
        try:
            CropDataset.load(out)
            return out
        except CropDatasetError:
            pass  # damaged: rebuild below
    cases = list_sample_cases()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for i, case in enumerate(cases):
            cid = case["id"]
            folder = sample_case_dir(cid)
            seg = folder / f"{cid}_seg.nii.gz"
            tumor = bool(case.get("tumor")) and seg.is_file()
            if progress is not None:
                progress(i, len(cases), f"cropping {cid} ({i + 1}/{len(cases)})")
            add_volume_pair(tmp, folder / f"{cid}_t1ce.nii.gz", seg if tumor else None, patient=cid,
                            klass="tumor" if tumor else "healthy")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress is not None:
        progress(len(cases), len(cases), "sample crop dataset ready")
    return out


if __name__ == "__main__":  # pragma: no cover
    where = build_sample_crops(sys.argv[1] if len(sys.argv) > 1 else None,
                               progress=lambda d, n, t: print(f"{d / n:4.0%} {t}", flush=True))
    print(where)
