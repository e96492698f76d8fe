"""Paired training slices: a 7-class complete label map and the matching MR slice.

The data of the label-map generator (PGGAN) and of the label -> MR renderer (SPADE). A dataset
folder holds case folders (BraTS layout, as in ``sample_data/``): each with an MR image
``<case>_<modality>.nii.gz`` and the complete map ``<case>_labels7.nii.gz`` (0 BG, 1 NCR/NET,
2 ED, 3 ET, 4 WM, 5 GM, 6 CSF). Axial slices are padded to a centred square of ``pad_to`` (256,
as in the paper; 240 x 240 BraTS slices get an 8-pixel border) and resized to ``size``: MR
linearly, labels by nearest neighbour. Slices whose label map is (almost) empty are dropped.

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
from skimage.transform import resize

from ..io import VolumeReadError, percentile_rescale, read_volume
from ..io.case import suffix_of
from .data import MAX_DATASET_BYTES, DatasetError, dataset_fingerprint

N_CLASSES = 7


@dataclass(frozen=True)
class CasePair:
    case: str
    image: Path
    labels: Path


def find_case_pairs(folder: str | os.PathLike, modality: str = "t1ce") -> list[CasePair]:
    """Every case below ``folder`` that has both ``_<modality>`` and ``_labels7`` volumes, by case id."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    images, labels = {}, {}
    for path in sorted(root.rglob("*.nii*")):
        suffix = suffix_of(path)
        case = path.parent.name
        if suffix == modality:
            images[case] = path
        elif suffix == "labels7":
            labels[case] = path
    pairs = [CasePair(c, images[c], labels[c]) for c in sorted(set(images) & set(labels))]
    if not pairs:
        raise DatasetError(f"no case in {root} has both a _{modality} image and a _labels7 complete label map; "
                           f"expected case folders like sample_data/MSYN-001/ (found {len(images)} image(s) and "
                           f"{len(labels)} label map(s))")
    return pairs


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


def pad_square(image: np.ndarray, side: int, fill: float) -> np.ndarray:
    """Centre ``image`` on a ``side`` x ``side`` canvas (cropping centrally if it is larger)."""
    h, w = image.shape
    out = np.full((side, side), fill, dtype=image.dtype)
    sh, sw = min(h, side), min(w, side)
    ih, iw = (h - sh) // 2, (w - sw) // 2
    oh, ow = (side - sh) // 2, (side - sw) // 2
    out[oh:oh + sh, ow:ow + sw] = image[ih:ih + sh, iw:iw + sw]
    return out


def prepare_pair(mr: np.ndarray, labels: np.ndarray, size: int, pad_to: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One slice pair -> (MR float32 in [-1, 1], labels uint8) at ``size`` x ``size``."""
    mr_sq = pad_square(mr.astype(np.float32), pad_to, -1.0)
    lab_sq = pad_square(labels.astype(np.uint8), pad_to, 0)
    if size != pad_to:
        mr_sq = resize(mr_sq, (size, size), order=1, anti_aliasing=size < pad_to, preserve_range=True)
        lab_sq = resize(lab_sq, (size, size), order=0, anti_aliasing=False, preserve_range=True)
    return mr_sq.astype(np.float32), lab_sq.astype(np.uint8)


def volume_slices(pair: CasePair, size: int, pad_to: int = 256, min_label_fraction: float = 0.02):
    """Yield (slice index, MR, labels) for every axial slice of a case with enough labelled pixels."""
    try:
        image = read_volume(pair.image, kind="image")
        labels = read_volume(pair.labels, kind="labels")
    except VolumeReadError as exc:
        raise DatasetError(str(exc)) from exc
    if image.data.shape != labels.data.shape:
        raise DatasetError(f"{pair.case}: image {image.data.shape} and label map {labels.data.shape} differ in shape")
    lab = labels.data
    if lab.max() >= N_CLASSES:
        raise DatasetError(f"{pair.labels.name}: holds class {int(lab.max())}; a complete label map has classes 0-6")
    mr = percentile_rescale(image.data, out_range=(-1.0, 1.0))
    for z in range(lab.shape[0]):
        if np.mean(lab[z] > 0) < min_label_fraction:
            continue
        m, l = prepare_pair(mr[z], lab[z], size, pad_to)
        yield z, m, l


class PairedSliceDataset:
    """All (MR, label map) slice pairs of the selected cases, held in memory."""

    def __init__(self, folder: str | os.PathLike, size: int, modality: str = "t1ce", include: str = "",
                 exclude: str = "", pad_to: int = 256, min_label_fraction: float = 0.02):
        self.root = Path(folder)
        self.size = int(size)
        self.pairs = select_cases(find_case_pairs(self.root, modality), include, exclude)
        files = [f for p in self.pairs for f in (p.image, p.labels)]
        self.fingerprint = dataset_fingerprint(self.root, files)
        mrs, labs, self.sources = [], [], []
        for pair in self.pairs:
            for z, m, l in volume_slices(pair, self.size, pad_to, min_label_fraction):
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

    @property
    def cases(self) -> list[str]:
        return [p.case for p in self.pairs]

    def __len__(self) -> int:
        return len(self.mr)

    def describe(self) -> str:
        return f"{len(self)} labelled slices from {len(self.pairs)} case(s) in {self.root}"

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """(B, 2, size, size): MR in [-1, 1] and the class index as float, for ``items`` [(index, key)]."""
        idx = [i for i, _ in items]
        arr = np.stack([self.mr[idx], self.labels[idx].astype(np.float32)], axis=1)
        return torch.from_numpy(np.ascontiguousarray(arr))


def one_hot(labels: torch.Tensor, n_classes: int = N_CLASSES) -> torch.Tensor:
    """(B, H, W) or (B, 1, H, W) class indices -> (B, C, H, W) float one-hot."""
    if labels.dim() == 4:
        labels = labels[:, 0]
    return torch.nn.functional.one_hot(labels.long().clamp(0, n_classes - 1), n_classes).permute(0, 3, 1, 2).float()
