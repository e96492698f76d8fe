"""BraTS case folders: one folder per patient with ``<case>_<modality>.nii.gz`` files.

Recognised endings: ``_t1``, ``_t1ce``, ``_t2``, ``_flair`` (images), ``_seg`` (BraTS labels
1 NCR/NET, 2 ED, 4 ET) and ``_labels7`` (the 7-class complete map). Other NIfTI files in the
folder are read too and classified by :func:`read_volume`'s rules.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import VolumeReadError
from .nifti import Volume, is_nifti_path, read_volume, strip_nifti_extension

#: Modality endings in display order: images first, then label maps.
CASE_SUFFIXES = ("t1", "t1ce", "t2", "flair", "seg", "labels7")
_LABEL_SUFFIXES = {"seg", "labels7"}


def suffix_of(path: str | os.PathLike) -> str | None:
    """The BraTS modality ending of a file name (``t1ce`` for ``X_t1ce.nii.gz``), if any."""
    stem = strip_nifti_extension(Path(path).name).lower()
    for suffix in sorted(CASE_SUFFIXES, key=len, reverse=True):
        if stem.endswith("_" + suffix):
            return suffix
    return None


def is_case_folder(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any(suffix_of(f) for f in p.iterdir() if is_nifti_path(f))


def find_case_files(folder: str | os.PathLike) -> list[Path]:
    """NIfTI files of a case, ordered t1, t1ce, t2, flair, seg, labels7, then any others."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VolumeReadError(f"{folder}: not a folder.")
    files = [f for f in folder.iterdir() if f.is_file() and is_nifti_path(f) and not f.name.startswith(".")]
    if not files:
        raise VolumeReadError(f"{folder.name}: the folder holds no NIfTI (.nii / .nii.gz) files.")
    order = {s: i for i, s in enumerate(CASE_SUFFIXES)}
    return sorted(files, key=lambda f: (order.get(suffix_of(f), len(order)), f.name))


def read_case(folder: str | os.PathLike) -> list[Volume]:
    """Read every volume of a case folder; all must share one voxel grid so labels overlay exactly."""
    volumes = []
    for f in find_case_files(folder):
        kind = "labels" if suffix_of(f) in _LABEL_SUFFIXES else ("image" if suffix_of(f) else "auto")
        volumes.append(read_volume(f, kind=kind))
    ref = volumes[0]
    for v in volumes[1:]:
        if v.data.shape[-3:] != ref.data.shape[-3:]:
            raise VolumeReadError(
                f"{Path(folder).name}: shape mismatch inside the case: {Path(ref.path).name} is "
                f"{ref.source_shape[:3]} but {Path(v.path).name} is {v.source_shape[:3]}; "
                "image and labels must be on the same voxel grid."
            )
        if not np.allclose(v.affine, ref.affine, atol=1e-3):
            raise VolumeReadError(
                f"{Path(folder).name}: {Path(v.path).name} and {Path(ref.path).name} have different "
                "affines (voxel-to-scanner transforms), so they would not overlay correctly."
            )
    return volumes
