"""Tumor crops as training data for the engine: the binary shapes (BTC) or the textured crops (TC).

Wraps a :class:`~napari_medsynth.sage.dataset.CropDataset` folder in the interface the
:class:`~napari_medsynth.train.trainer.Trainer` expects (``__len__``, ``fingerprint``,
``describe()``, ``batch(items)``). Each sample may be flipped and rotated by multiples of 90
degrees: a tumor's outline and texture have no preferred orientation, and with a few hundred crops
the eight-fold augmentation matters. The augmentation is drawn from the item's key only, so a
resumed run sees exactly the batches of an uninterrupted one.

Values in a batch are in [-1, 1] (BTC: 0 -> -1, 1 -> 1; TC: intensity * 2 - 1), shape (B, 1, S, S).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..train.data import DatasetError, dataset_fingerprint
from .dataset import CropDataset, CropDatasetError

KINDS = ("btc", "tc")


def parse_patients(text: str) -> list[str]:
    return [p.strip() for p in str(text).split(",") if p.strip()]


class CropTrainingSet:
    """``kind`` "btc" (shapes) or "tc" (textured crops) of the dataset in ``folder``.

    ``patients``: comma-separated patient ids to train on (empty: all), so that a fold's test
    patients can be held out; ``augment``: random flips / 90-degree rotations.
    """

    def __init__(self, folder: str | os.PathLike, kind: str, size: int = 64, patients: str = "",
                 augment: bool = True):
        if kind not in KINDS:
            raise ValueError(f"crop kind must be one of {KINDS}, not {kind!r}")
        self.root = Path(folder)
        try:
            ds = CropDataset.load(self.root)
        except CropDatasetError as exc:
            raise DatasetError(str(exc)) from exc
        if len(ds) == 0:
            raise DatasetError(f"{self.root} holds no tumor crops; add patients with tumors first")
        if ds.settings.crop_size != size:
            raise DatasetError(f"{self.root} holds {ds.settings.crop_size}x{ds.settings.crop_size} crops, but the "
                               f"model is configured for {size}x{size}; set image_size={ds.settings.crop_size} "
                               "or make the crops at the model's size")
        wanted = parse_patients(patients)
        if wanted:
            unknown = sorted(set(wanted) - set(ds.patient_ids()))
            if unknown:
                raise DatasetError(f"unknown patient id(s) {', '.join(unknown)}; the dataset has "
                                   f"{', '.join(ds.patient_ids())}")
            index = ds.crop_indices(wanted)
        else:
            index = np.arange(len(ds))
        if len(index) == 0:
            raise DatasetError(f"the chosen patients have no tumor crops in {self.root}")
        arr = ds.btc if kind == "btc" else ds.tc
        self.images = (arr[index].astype(np.float32) * 2.0 - 1.0)
        self.kind, self.size, self.augment = kind, size, bool(augment)
        self.patients = sorted({ds.crops[i].patient for i in index})
        self.fingerprint = dataset_fingerprint(self.root, [f for f in ds.files([kind]) if f.is_file()])

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> str:
        what = "binary tumor crops (BTC)" if self.kind == "btc" else "tumor crops (TC)"
        return f"{len(self)} {what} of {len(self.patients)} patient(s) in {self.root}"

    def sample(self, index: int, rng: np.random.Generator) -> np.ndarray:
        img = self.images[index]
        if self.augment:
            img = np.rot90(img, int(rng.integers(4)))
            if rng.integers(2):
                img = img[:, ::-1]
        return img

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        arr = np.stack([self.sample(i, np.random.default_rng(key)) for i, key in items])
        return torch.from_numpy(np.ascontiguousarray(arr[:, None], dtype=np.float32))
