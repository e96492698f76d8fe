"""BraTS case folders: one folder per patient, one NIfTI file per sequence plus label maps.

Both namings in use are recognised and mapped to one set of names (the 2018 ones):

=============  ======================  ==========================
internal name  BraTS 2018-2021         BraTS 2023+
=============  ======================  ==========================
``t1``         ``<case>_t1.nii.gz``    ``<case>-t1n.nii.gz``
``t1ce``       ``<case>_t1ce.nii.gz``  ``<case>-t1c.nii.gz``
``t2``         ``<case>_t2.nii.gz``    ``<case>-t2w.nii.gz``
``flair``      ``<case>_flair.nii.gz`` ``<case>-t2f.nii.gz``
``seg``        ``<case>_seg.nii.gz``   ``<case>-seg.nii.gz``
=============  ======================  ==========================

plus ``_labels7`` (the 7-class complete map) and ``_tissues`` (1 CSF, 2 GM, 3 WM) in either
separator. Segmentations are read in the internal tumor vocabulary (1 NCR/NET, 2 ED, 4 ET): a
BraTS 2023 file (ET stored as 3) is converted on reading and back on writing; the convention is
detected from the values (3 or 4 for ET) and, for files without ET, from the naming. A segmentation
stored as float with integral values opens as labels. A folder that mixes two case ids or holds
one sequence twice is refused with the file names. Other NIfTI files in the folder are read too
and classified by :func:`read_volume`'s rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..labels import detect_seg_convention, seg_to_internal
from .errors import VolumeReadError
from .nifti import Volume, is_nifti_path, read_volume, strip_nifti_extension
from .nifti_checks import read_checked_header

#: Internal names in display order: images first, then label maps.
CASE_SUFFIXES = ("t1", "t1ce", "t2", "flair", "seg", "labels7", "tissues")
IMAGE_KINDS = ("t1", "t1ce", "t2", "flair")
LABEL_KINDS = ("seg", "labels7", "tissues")

#: File-name endings of each naming -> internal name.
NAMINGS: dict[str, dict[str, str]] = {
    "brats2018": {"_t1": "t1", "_t1ce": "t1ce", "_t2": "t2", "_flair": "flair", "_seg": "seg",
                  "_labels7": "labels7", "_tissues": "tissues"},
    "brats2023": {"-t1n": "t1", "-t1c": "t1ce", "-t2w": "t2", "-t2f": "flair", "-seg": "seg",
                  "-labels7": "labels7", "-tissues": "tissues"},
}
_ENDINGS = sorted(((end, kind, naming) for naming, table in NAMINGS.items() for end, kind in table.items()),
                  key=lambda e: len(e[0]), reverse=True)


@dataclass(frozen=True)
class CaseName:
    case: str
    kind: str  # internal name: t1, t1ce, t2, flair, seg, labels7, tissues
    naming: str  # brats2018 or brats2023


def parse_case_name(path: str | os.PathLike) -> CaseName | None:
    """Case id, internal sequence name and naming of a BraTS file name, or None."""
    stem = strip_nifti_extension(Path(path).name)
    low = stem.lower()
    for ending, kind, naming in _ENDINGS:
        if low.endswith(ending) and len(stem) > len(ending):
            return CaseName(stem[: -len(ending)], kind, naming)
    return None


def suffix_of(path: str | os.PathLike) -> str | None:
    """The internal sequence name of a file (``t1ce`` for ``X_t1ce.nii.gz`` and ``X-t1c.nii.gz``)."""
    parsed = parse_case_name(path)
    return parsed.kind if parsed else None


@dataclass
class CaseFiles:
    """The files of one case folder, by internal name."""

    folder: Path
    case: str
    naming: str
    files: dict[str, Path] = field(default_factory=dict)
    others: list[Path] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        return [k for k in IMAGE_KINDS if k in self.files]

    def get(self, kind: str) -> Path | None:
        return self.files.get(kind)


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and is_nifti_path(f) and not f.name.startswith("."))


def is_case_folder(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any(parse_case_name(f) for f in _nifti_files(p))


def case_files(folder: str | os.PathLike) -> CaseFiles:
    """Sort a case folder's files by internal name; refuse mixed case ids and doubled sequences."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VolumeReadError(f"{folder}: not a folder.")
    files = _nifti_files(folder)
    if not files:
        raise VolumeReadError(f"{folder.name}: the folder holds no NIfTI (.nii / .nii.gz) files.")
    parsed = [(f, parse_case_name(f)) for f in files]
    named = [(f, p) for f, p in parsed if p is not None]
    ids: dict[str, list[str]] = {}
    for f, p in named:
        ids.setdefault(p.case, []).append(f.name)
    if len(ids) > 1:
        listing = "; ".join(f"{case}: {', '.join(names)}" for case, names in sorted(ids.items()))
        raise VolumeReadError(f"{folder.name}: the folder mixes {len(ids)} case ids ({listing}). A case folder "
                              "holds one patient; move each case into its own folder.")
    out = CaseFiles(folder, next(iter(ids)) if ids else folder.name, "brats2018")
    for f, p in named:
        if p.kind in out.files:
            raise VolumeReadError(f"{folder.name}: {p.kind} appears twice ({out.files[p.kind].name} and {f.name}); "
                                  "keep one file per sequence.")
        out.files[p.kind] = f
    namings = {p.naming for _, p in named}
    seg = next((p for _, p in named if p.kind == "seg"), None)
    out.naming = seg.naming if seg else ("brats2023" if namings == {"brats2023"} else "brats2018")
    out.others = [f for f, p in parsed if p is None]
    return out


def find_case_files(folder: str | os.PathLike) -> list[Path]:
    """NIfTI files of a case, ordered t1, t1ce, t2, flair, seg, labels7, tissues, then any others."""
    found = case_files(folder)
    return [found.files[k] for k in CASE_SUFFIXES if k in found.files] + sorted(found.others)


def find_cases(root: str | os.PathLike) -> list[CaseFiles]:
    """Every case folder at or below ``root`` (a folder counts if it holds a BraTS-named file), by path."""
    root = Path(root)
    if not root.is_dir():
        raise VolumeReadError(f"{root}: not a folder.")
    folders = []
    seen: set[tuple[int, int]] = set()
    # os.walk with followlinks: datasets are often folders of symlinked case folders; a link
    # that leads back to a folder already walked is skipped, so link loops end.
    for here, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        if any(is_nifti_path(f) and parse_case_name(f) for f in files):
            folders.append(Path(here))
    return [case_files(f) for f in sorted(folders)]


def cases_in(root: str | os.PathLike) -> list[CaseFiles]:
    """The cases a folder opens as: itself when it holds NIfTI files (one case folder), else every
    case folder at any depth below it (:func:`find_cases`); refused with a message when it has neither."""
    root = Path(root)
    if not root.is_dir():
        raise VolumeReadError(f"{root}: not a folder.")
    if _nifti_files(root):
        return [case_files(root)]
    cases = find_cases(root)
    if not cases:
        raise VolumeReadError(
            f"{root.name or root}: the folder holds no NIfTI files (.nii / .nii.gz) and no case folders below it "
            "(folders with BraTS-named files such as <case>_t1ce.nii.gz or <case>-t1c.nii.gz).")
    return cases


def read_segmentation(path: str | os.PathLike, naming: str | None = None) -> Volume:
    """A BraTS segmentation in the internal vocabulary (1 NCR/NET, 2 ED, 4 ET), any convention.

    The file's convention is kept on the volume (``label_convention``) so writing it back stores
    the file's own values again.
    """
    path = Path(path)
    vol = read_volume(path, kind="labels")
    if naming is None:
        parsed = parse_case_name(path)
        naming = parsed.naming if parsed else "brats2018"
    try:
        convention = detect_seg_convention(np.unique(vol.data), naming)
    except ValueError as exc:
        raise VolumeReadError(f"{path.name}: {exc}.") from exc
    vol.data = np.ascontiguousarray(seg_to_internal(vol.data, convention).astype(np.uint8, copy=False))
    vol.label_convention = convention
    return vol


def read_case_volume(found: CaseFiles, kind: str) -> Volume:
    """One volume of a case by internal name, read with the right kind and label convention."""
    path = found.files.get(kind)
    if path is None:
        have = ", ".join(found.files) or "no BraTS-named file"
        raise VolumeReadError(f"{found.folder.name}: no {kind} file (the folder has {have}).")
    refuse_multichannel_member(found.folder.name, path)
    return _read_member(found, kind, path)


def _read_member(found: CaseFiles, kind: str, path: Path) -> Volume:
    if kind == "seg":
        return read_segmentation(path, found.naming)
    return read_volume(path, kind="labels" if kind in LABEL_KINDS else "image")


def refuse_multichannel_member(where: str, path: Path) -> None:
    """A case holds one 3-D volume per file: refuse a 4-D member by its header, before reading it."""
    shape = read_checked_header(path).shape
    if len(shape) == 4:
        raise VolumeReadError(
            f"{where}: {path.name} is 4-D (shape {shape}, {shape[3]} channels or time points); a case folder "
            "holds one 3-D volume per file. Split it into 3-D files, or open it on its own.")


def read_case(folder: str | os.PathLike) -> list[Volume]:
    """Read every volume of a case folder; all must share one voxel grid so labels overlay exactly."""
    found = case_files(folder)
    members = [(k, found.files[k]) for k in CASE_SUFFIXES if k in found.files]
    others = sorted(found.others)
    for path in [f for _, f in members] + others:  # every header first: nothing is read from a bad case
        refuse_multichannel_member(found.folder.name, path)
    volumes = [_read_member(found, k, f) for k, f in members]
    volumes += [read_volume(f) for f in others]
    check_same_grid(Path(folder).name, volumes)
    return volumes


def check_same_grid(where: str, volumes: list[Volume]) -> None:
    ref = volumes[0]
    for v in volumes[1:]:
        if v.data.shape[-3:] != ref.data.shape[-3:]:
            raise VolumeReadError(
                f"{where}: shape mismatch inside the case: {Path(ref.path).name} is "
                f"{ref.source_shape[:3]} but {Path(v.path).name} is {v.source_shape[:3]}; "
                "image and labels must be on the same voxel grid."
            )
        if not np.allclose(v.affine, ref.affine, atol=1e-3):
            raise VolumeReadError(
                f"{where}: {Path(v.path).name} and {Path(ref.path).name} have different "
                "affines (voxel-to-scanner transforms), so they would not overlay correctly."
            )
