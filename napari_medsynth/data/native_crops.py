"""Multi-modal (label map, MR) training crops at the scan's own resolution.

A fully convolutional label -> MR generator trains on random ``crop`` x ``crop`` windows of
whole slices that are never resized: each slice is centred on its square canvas (a 240 x 240
BraTS slice on 256 x 256, padded with background) at 1 pixel per voxel, and a window around a
random brain pixel is cut out, mirrored left-right half of the time (a glioma is as likely in
either hemisphere). All sequences of a slice share the window.

:class:`NativeCrops` wraps one paired-slice dataset per sequence, built at the canvas size so
nothing is interpolated: :class:`~.store_datasets.StorePairs` on a slice store (the fast path)
or :class:`~.paired.PairedSliceDataset` on a folder of case folders (every sequence read into
memory). Batches are (B, M + 1, crop, crop): M sequences in [-1, 1], then the class index as
float.
"""

from __future__ import annotations

import numpy as np
import torch

from ..geometry import canvas_side
from ..train.data import DatasetError
from .paired import PairedSliceDataset
from .store import SliceStore, is_store
from .store_datasets import StorePairs


def native_side(data_dir: str, modality: str) -> int:
    """The canvas side of the slices of ``data_dir`` (a store or a folder of cases): the square a
    slice is centred on, at its own pixel size."""
    if is_store(data_dir):
        store = SliceStore.open(data_dir)
        shapes = {tuple(r["shape"][-2:]) for r in store.records if "shape" in r}
        if not shapes:
            first = store.labels7(int(store.slices()[0]))
            shapes = {first.shape}
        return max(canvas_side(*s) for s in shapes)
    from ..io import read_volume
    from .paired import find_case_pairs
    pairs = find_case_pairs(data_dir, modality)
    if not pairs:
        raise DatasetError(f"no case folder with a {modality} image and a label map below {data_dir}")
    shape = read_volume(str(pairs[0].image)).data.shape
    return canvas_side(*shape[-2:])


class NativeCrops:
    """Random full-resolution crops of the selected cases' slices, all ``modalities`` at once."""

    def __init__(self, data_dir: str, crop: int, modalities: list[str], include: str = "", exclude: str = "",
                 tissues: str = "auto", side: int | None = None):
        if not modalities:
            raise DatasetError("choose at least one MR sequence to train on")
        self.crop = int(crop)
        self.modalities = list(modalities)
        self.side = int(side or native_side(data_dir, self.modalities[0]))
        if self.crop > self.side:
            raise DatasetError(f"the training crop ({self.crop} px) is larger than the slices ({self.side} px "
                               "with padding); choose a smaller image_size")
        if is_store(data_dir):
            self.parts = [StorePairs(data_dir, self.side, modality=m, include=include, exclude=exclude,
                                     pad_to=self.side) for m in self.modalities]
        else:
            self.parts = [PairedSliceDataset(data_dir, self.side, modality=m, include=include, exclude=exclude,
                                             pad_to=self.side, tissues=tissues) for m in self.modalities]
        first = self.parts[0]
        for m, other in zip(self.modalities[1:], self.parts[1:]):
            if list(other.sources) != list(first.sources):
                raise DatasetError(f"the {m} images of {data_dir} do not cover the same cases and slices as the "
                                   f"{self.modalities[0]} images; every case needs every chosen sequence")
        self.root = first.root
        self.fingerprint = "|".join(p.fingerprint for p in self.parts)

    # --- what the trainer needs ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.parts[0])

    @property
    def cases(self) -> list[str]:
        return self.parts[0].cases

    @property
    def sources(self):
        return self.parts[0].sources

    @property
    def labels(self):
        """Whole label slices (on the canvas) by dataset index, for previews."""
        return self.parts[0].labels

    def oversample(self, classes: tuple[int, ...], factor: int) -> int:
        added = [p.oversample(classes, factor) for p in self.parts]
        return added[0]

    def describe(self) -> str:
        text = self.parts[0].describe()
        return (f"{text}; sequences {', '.join(self.modalities)}, random {self.crop} px crops of whole slices "
                f"at their own resolution ({self.side} px canvas)")

    def _window(self, labels: np.ndarray, key) -> tuple[int, int, bool]:
        rng = np.random.default_rng(key)
        ys, xs = np.nonzero(labels)
        half, limit = self.crop // 2, self.side - self.crop
        if len(ys):
            k = int(rng.integers(len(ys)))
            top, left = int(ys[k]) - half, int(xs[k]) - half
        else:
            top, left = (int(v) for v in rng.integers(0, limit + 1, size=2))
        return min(max(top, 0), limit), min(max(left, 0), limit), bool(rng.random() < 0.5)

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """(B, M + 1, crop, crop): the M sequences in [-1, 1] and the class index, for ``items``."""
        whole = [p.batch(items).numpy() for p in self.parts]  # each (B, 2, side, side)
        labels = whole[0][:, 1]
        out = np.empty((len(items), len(self.parts) + 1, self.crop, self.crop), np.float32)
        for b, (_, key) in enumerate(items):
            top, left, flip = self._window(labels[b], key)
            window = np.stack([w[b, 0] for w in whole] + [labels[b]])[:, top:top + self.crop, left:left + self.crop]
            out[b] = window[:, :, ::-1] if flip else window
        return torch.from_numpy(out)
