"""Paired training slices: a 7-class complete label map and the matching MR slice.

The data of the label-map generator (PGGAN) and of the label -> MR renderer (SPADE). A dataset
folder holds case folders (BraTS layout, as in ``sample_data/``): each with an MR image
``<case>_<modality>.nii.gz`` and the complete map ``<case>_labels7.nii.gz`` (0 BG, 1 NCR/NET,
2 ED, 3 ET, 4 WM, 5 GM, 6 CSF). Axial slices are centred on the training canvas
(:mod:`napari_medsynth.geometry`: 240 x 240 BraTS slices on 256 x 256, as in the paper) and
resized to ``size``: MR linearly, labels by nearest neighbour. Slices whose label map is
(almost) empty are dropped.

BraTS case folders have no ``_labels7`` map. Their complete map is built from the BraTS tumor
labels ``_seg`` (1 NCR/NET, 2 ED, 4 ET) and tissue classes, with :func:`~..labels.brats_to_complete7`:

* ``tissues="auto"``: a tissue segmentation the user gives, ``<case>_tissues.nii.gz`` in the case
  folder (FSL FAST convention: 1 CSF, 2 GM, 3 WM; 0 elsewhere), on the image's voxel grid;
* ``tissues="intensity"``: where no ``_tissues`` map exists, an **intensity-based 3-class
  fallback** (:func:`intensity_tissues`): :func:`~..tissues.segment_tissues` on the MR image
  inside the brain (non-zero voxels) outside the tumor: bias-field correction, a 3-class Gaussian
  mixture named by the modality's contrast (T1/T1-Gd: CSF < GM < WM) and a Potts-MRF smoothing
  step, a small FAST-like segmentation from one sequence. It is not the FAST run the paper used,
  and :meth:`PairedSliceDataset.describe` names it as such.

Patients are selected by case id (``include`` / ``exclude``), so splits are patient-wise.
A batch is one tensor (B, 2, size, size): channel 0 the MR in [-1, 1] (per-volume 0.5-99.5
percentile scaling), channel 1 the class index as float.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..geometry import to_canvas
from ..io import VolumeReadError, percentile_rescale, read_volume
from ..io.case import suffix_of
from ..labels import N_CLASSES, brats_to_complete7
from ..tissues import TISSUE_ORDER, brain_region, segment_tissues
from ..train.data import MAX_DATASET_BYTES, DatasetError, dataset_fingerprint

TISSUE_CHOICES = ("auto", "intensity")

#: Order of the three tissue classes from darkest to brightest, per MR sequence, as values of the
#: FAST convention (1 CSF, 2 GM, 3 WM).
_TISSUE_ORDER = TISSUE_ORDER


@dataclass(frozen=True)
class CasePair:
    """One patient: the MR image and either its complete map (``labels``) or the BraTS tumor
    labels (``seg``) plus a tissue map (``tissues``; None: the intensity fallback)."""

    case: str
    image: Path
    labels: Path | None = None
    seg: Path | None = None
    tissues: Path | None = None

    @property
    def tissue_source(self) -> str:
        if self.labels is not None:
            return "labels7"
        return "tissues" if self.tissues is not None else "intensity"

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.image, self.labels, self.seg, self.tissues) if p is not None]


def _stem_suffix(path: Path) -> str | None:
    suffix = suffix_of(path)
    if suffix is None and path.name.lower().split(".nii")[0].endswith("_tissues"):
        return "tissues"
    return suffix


def find_case_pairs(folder: str | os.PathLike, modality: str = "t1ce", tissues: str = "auto") -> list[CasePair]:
    """Every case below ``folder`` with a ``_<modality>`` image and a complete label map, by case id.

    A case has a complete map if it has ``_labels7``, or ``_seg`` with ``_tissues``, or (only with
    ``tissues="intensity"``) ``_seg`` alone.
    """
    if tissues not in TISSUE_CHOICES:
        raise DatasetError(f"tissues must be one of {', '.join(TISSUE_CHOICES)}, not {tissues!r}")
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(root.rglob("*.nii*")):
        suffix = _stem_suffix(path)
        if suffix in (modality, "labels7", "seg", "tissues"):
            found.setdefault(path.parent.name, {})[suffix] = path
    pairs, seg_only = [], []
    for case, files in sorted(found.items()):
        if modality not in files:
            continue
        if "labels7" in files:
            pairs.append(CasePair(case, files[modality], labels=files["labels7"]))
        elif "seg" in files and ("tissues" in files or tissues == "intensity"):
            pairs.append(CasePair(case, files[modality], seg=files["seg"], tissues=files.get("tissues")))
        elif "seg" in files:
            seg_only.append(case)
    if not pairs:
        hint = ""
        if seg_only:
            hint = (f"; {len(seg_only)} BraTS case(s) (e.g. {seg_only[0]}) have _seg tumor labels but no tissue map: "
                    "add <case>_tissues.nii.gz (1 CSF, 2 GM, 3 WM, e.g. from FSL FAST) or use the intensity-based "
                    "3-class fallback (tissues=intensity)")
        raise DatasetError(f"no case in {root} has a _{modality} image and a complete label map (_labels7, or "
                           f"_seg with _tissues); expected case folders like sample_data/MSYN-001/{hint}")
    return pairs


def intensity_tissues(mr: np.ndarray, seg: np.ndarray, modality: str = "t1ce", iterations: int = 50) -> np.ndarray:
    """The intensity-based 3-class fallback: 1 CSF, 2 GM, 3 WM inside the brain, 0 elsewhere.

    :func:`~..tissues.segment_tissues` (N3-style bias correction, a 3-class Gaussian mixture named
    by the sequence's contrast order, a 26-neighbour Potts-MRF step) on the voxels of the
    skull-stripped brain (non-zero, holes filled per slice) that are not tumor (``seg == 0``).
    A FAST-like segmentation from one sequence, not a registered atlas or a multi-channel
    method. ``iterations`` (the iteration count of the 1-D k-means this replaced) is accepted
    for compatibility and not used.
    """
    if modality not in _TISSUE_ORDER:
        raise DatasetError(f"the intensity-based tissue fallback knows the contrast of {', '.join(_TISSUE_ORDER)}, "
                           f"not {modality!r}; give a _tissues map instead")
    mr = np.asarray(mr)
    return segment_tissues(mr, brain_region(mr), np.asarray(seg) > 0, modality)


def select_cases(pairs: list[CasePair], include: str = "", exclude: str = "") -> list[CasePair]:
    """Keep cases named in ``include`` (comma-separated; empty = all), minus those in ``exclude``."""
    inc = {c.strip() for c in include.split(",") if c.strip()}
    exc = {c.strip() for c in exclude.split(",") if c.strip()}
    known = {p.case for p in pairs}
    unknown = sorted((inc | exc) - known)
    if unknown:
        raise DatasetError(f"unknown case id(s) {', '.join(unknown)}; the dataset has {', '.join(sorted(known))}")
    chosen = [p for p in pairs if (not inc or p.case in inc) and p.case not in exc]
    if not chosen:
        raise DatasetError("the case selection leaves no case to train on")
    return chosen


def prepare_labels(labels: np.ndarray, size: int, pad_to: int | None = None) -> np.ndarray:
    """One label slice -> uint8 at ``size`` x ``size`` on the training canvas (nearest neighbour)."""
    return to_canvas(labels, size, labels=True, side=pad_to)


def prepare_pair(mr: np.ndarray, labels: np.ndarray, size: int,
                 pad_to: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One slice pair -> (MR float32 in [-1, 1], labels uint8) at ``size`` x ``size``."""
    return to_canvas(mr, size, side=pad_to), prepare_labels(labels, size, pad_to)


def check_complete_classes(labels: np.ndarray, name: str) -> None:
    """Refuse a label volume with classes beyond the 7-class complete map."""
    if labels.max() >= N_CLASSES:
        raise DatasetError(f"{name}: holds class {int(labels.max())}; a complete label map has classes 0-6")


def labelled_slices(labels: np.ndarray, min_label_fraction: float = 0.02) -> list[int]:
    """Axial slice indices of a label volume with at least ``min_label_fraction`` labelled pixels."""
    return [z for z in range(labels.shape[0]) if np.mean(labels[z] > 0) >= min_label_fraction]


def complete_labels(pair: CasePair, modality: str = "t1ce"):
    """(7-class map, image Volume) of a case: read, or built from ``_seg`` and tissue classes."""
    try:
        image = read_volume(pair.image, kind="image")
        others = {name: read_volume(path, kind="labels")
                  for name, path in (("labels", pair.labels), ("seg", pair.seg), ("tissues", pair.tissues)) if path}
    except VolumeReadError as exc:
        raise DatasetError(str(exc)) from exc
    for name, vol in others.items():
        if vol.data.shape != image.data.shape:
            raise DatasetError(f"{pair.case}: image {image.data.shape} and {name} map {vol.data.shape} differ in shape")
    if pair.labels is not None:
        return others["labels"].data, image
    seg = others["seg"].data
    bad = sorted(set(np.unique(seg).tolist()) - {0, 1, 2, 4})
    if bad:
        raise DatasetError(f"{pair.seg.name}: BraTS tumor labels are 0, 1, 2, 4; found {bad}")
    if pair.tissues is not None:
        tissues = others["tissues"].data
        if tissues.max() > 3:
            raise DatasetError(f"{pair.tissues.name}: a tissue map holds 1 CSF, 2 GM, 3 WM; found {int(tissues.max())}")
    else:
        tissues = intensity_tissues(image.data, seg, modality)
    return brats_to_complete7(seg, tissues), image


def volume_slices(pair: CasePair, size: int, pad_to: int | None = None, min_label_fraction: float = 0.02,
                  modality: str = "t1ce"):
    """Yield (slice index, MR, labels) for every axial slice of a case with enough labelled pixels."""
    lab, image = complete_labels(pair, modality)
    check_complete_classes(lab, pair.labels.name if pair.labels else pair.case)
    mr = percentile_rescale(image.data, out_range=(-1.0, 1.0))
    for z in labelled_slices(lab, min_label_fraction):
        m, l = prepare_pair(mr[z], lab[z], size, pad_to)
        yield z, m, l


def kept_note(classes, present: bool) -> str:
    """How :meth:`PairedSliceDataset.keep_classes` (and the store's) describe the chosen slices."""
    return f"only slices {'with' if present else 'without'} classes {', '.join(map(str, classes))}"


class PairedSliceDataset:
    """All (MR, label map) slice pairs of the selected cases, held in memory."""

    def __init__(self, folder: str | os.PathLike, size: int, modality: str = "t1ce", include: str = "",
                 exclude: str = "", pad_to: int | None = None, min_label_fraction: float = 0.02, tissues: str = "auto"):
        self.root = Path(folder)
        self.size = int(size)
        self.pairs = select_cases(find_case_pairs(self.root, modality, tissues), include, exclude)
        files = [f for p in self.pairs for f in p.files]
        self.fingerprint = dataset_fingerprint(self.root, files)
        mrs, labs, self.sources = [], [], []
        for pair in self.pairs:
            for z, m, l in volume_slices(pair, self.size, pad_to, min_label_fraction, modality):
                mrs.append(m)
                labs.append(l)
                self.sources.append((pair.case, z))
                if len(mrs) * self.size**2 * 5 > MAX_DATASET_BYTES:
                    raise DatasetError(f"{self.root} holds too many slices for memory at {self.size} px; "
                                       "train at a smaller size or on fewer cases")
        if not mrs:
            raise DatasetError(f"no slice in {self.root} has labelled pixels")
        self.mr = np.stack(mrs)
        self.labels = np.stack(labs)
        self.oversampled = 0
        self._kept_note = ""

    def oversample(self, classes: tuple[int, ...], factor: int) -> int:
        """Repeat every slice that shows one of ``classes`` so it is drawn ``factor`` times as often.

        Tumor classes cover a few percent of the slices and a few pixels of each; without this a
        generator sees them too rarely to learn their look. Returns the number of slices added.
        """
        if factor < 1:
            raise ValueError(f"the oversampling factor must be at least 1, not {factor}")
        hit = np.flatnonzero(np.isin(self.labels, classes).any(axis=(1, 2)))
        if factor == 1 or hit.size == 0:
            return 0
        extra = np.tile(hit, factor - 1)
        self.mr = np.concatenate([self.mr, self.mr[extra]])
        self.labels = np.concatenate([self.labels, self.labels[extra]])
        self.sources = self.sources + [self.sources[i] for i in extra]
        self.oversampled += len(extra)
        named = ", ".join(map(str, classes))
        self._oversample_note = f"{hit.size} slices with classes {named} drawn {factor}x as often"
        return len(extra)

    def keep_classes(self, classes: tuple[int, ...], present: bool = True) -> int:
        """Keep only the slices that show one of ``classes`` (or, ``present=False``, none of them);
        before any oversampling. Returns how many slices are left."""
        if self.oversampled:
            raise ValueError("choose the slices before oversampling them")
        hit = np.isin(self.labels, classes).any(axis=(1, 2))
        keep = np.flatnonzero(hit if present else ~hit)
        self.mr, self.labels = self.mr[keep], self.labels[keep]
        self.sources = [self.sources[i] for i in keep]
        self._kept_note = kept_note(classes, present)
        return len(keep)

    @property
    def cases(self) -> list[str]:
        return [p.case for p in self.pairs]

    def __len__(self) -> int:
        return len(self.mr)

    def describe(self) -> str:
        text = f"{len(self) - self.oversampled} labelled slices from {len(self.pairs)} case(s) in {self.root}"
        sources = [p.tissue_source for p in self.pairs]
        notes = []
        if sources.count("tissues"):
            notes.append(f"{sources.count('tissues')} with tissue classes from the given _tissues maps")
        if sources.count("intensity"):
            notes.append(f"{sources.count('intensity')} with tissue classes from the intensity-based 3-class "
                         "fallback (mixture + MRF on one sequence, not FAST)")
        if self.oversampled:
            notes.append(self._oversample_note)
        if self._kept_note:
            notes.append(self._kept_note)
        return text + (f" ({'; '.join(notes)})" if notes else "")

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """(B, 2, size, size): MR in [-1, 1] and the class index as float, for ``items`` [(index, key)]."""
        idx = [i for i, _ in items]
        arr = np.stack([self.mr[idx], self.labels[idx].astype(np.float32)], axis=1)
        return torch.from_numpy(np.ascontiguousarray(arr))
