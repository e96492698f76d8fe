"""Training data held as arrays in one ``.npz`` file: images with a class label or a mask each.

The evaluation trains classifiers and a segmenter on image sets it has already loaded and
resized (real, synthetic, mixtures per fold). It writes them with :func:`write_array_dataset`
into a work folder and the recipe reads them back with :class:`ArrayDataset`, so those models go
through the one :class:`~napari_medsynth.train.trainer.Trainer` like every other model.

File layout (``train.npz``): ``images`` (N, S, S) float32 in [-1, 1]; ``labels`` (N,) int64
class indices; optional ``masks`` (N, S, S) uint8 (0 background, 1 tumor).

A batch is one tensor (B, 2, s, s): channel 0 the image, channel 1 the mask, or for datasets
without masks a constant plane holding the class index. Samples are random ``s`` x ``s`` crops
when ``S > s`` (centre crops in :meth:`ArrayDataset.eval_images`), optionally augmented:

* ``"flip"``: random left-right flip;
* ``"classic"``: flip, then a random affine transform (rotation up to 10 degrees, shift, shear
  and zoom up to 8 %) and, with probability 1/2, an elastic deformation: the classic data
  augmentation of the papers, with MONAI's transforms; masks follow with nearest interpolation.

With ``min_foreground`` > 0 a random crop is drawn again, centred on a random foreground pixel
(up to 10 times, then the one with the most foreground is kept), until at least that fraction of
it is foreground, i.e. differs from the
image's corner pixel (the air around a skull-stripped slice): on brain slices most random crops
of a small size are otherwise empty, and a classifier learns nothing from them.

With ``balance`` every class is drawn equally often (indices of smaller classes repeat), so a
classifier is not rewarded for always answering the larger class. All randomness comes from
``np.random.default_rng(key)`` per item, never from a global generator.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import torch

from ..io.atomic import atomic_write_bytes
from .data import DatasetError

AUGMENTATIONS = ("none", "flip", "classic")
ARRAY_FILE = "train.npz"


def foreground(images: np.ndarray) -> np.ndarray:
    """Pixels of each image (..., H, W) that differ from its corner pixel: not the air around a
    skull-stripped slice."""
    images = np.asarray(images)
    return images != images[..., :1, :1]


def write_array_dataset(folder: str | os.PathLike, images, labels, masks=None) -> Path:
    """Write ``folder/train.npz`` atomically (see the module docstring for the layout)."""
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be square (N, S, S); got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be (N,) = ({images.shape[0]},); got {labels.shape}")
    arrays = {"images": images, "labels": labels}
    if masks is not None:
        masks = np.asarray(masks)
        if masks.shape != images.shape:
            raise ValueError(f"masks {masks.shape} must match images {images.shape}")
        arrays["masks"] = (masks > 0).astype(np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(Path(folder) / ARRAY_FILE, buf.getvalue())


class ArrayDataset:
    def __init__(self, folder: str | os.PathLike, size: int, augment: str = "none", balance: bool = True,
                 need_masks: bool = False, min_foreground: float = 0.0):
        self.root = Path(folder)
        path = self.root / ARRAY_FILE
        if not path.is_file():
            raise DatasetError(f"{path} not found: array datasets are written with write_array_dataset()")
        if augment not in AUGMENTATIONS:
            raise DatasetError(f"augment must be one of {', '.join(AUGMENTATIONS)}; got {augment!r}")
        data = path.read_bytes()
        self.fingerprint = hashlib.sha256(data).hexdigest()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            self.images = npz["images"].astype(np.float32)
            self.labels = npz["labels"].astype(np.int64)
            self.masks = npz["masks"] if "masks" in npz.files else None
        if need_masks and self.masks is None:
            raise DatasetError(f"{path} holds no masks; segmentation needs one mask per image")
        self.size, self.augment = int(size), augment
        if not 0.0 <= min_foreground <= 1.0:
            raise DatasetError(f"min_foreground must be a fraction from 0 to 1, not {min_foreground}")
        self.min_foreground = float(min_foreground)
        if self.images.shape[1] < self.size:
            raise DatasetError(f"images are {self.images.shape[1]} px, smaller than the sample size {self.size}")
        if len(self.images) == 0:
            raise DatasetError(f"{path} holds no images")
        self.order = self._balanced_order() if balance else np.arange(len(self.images))
        self._affine = None

    def _balanced_order(self) -> np.ndarray:
        classes = np.unique(self.labels)
        per_class = [np.flatnonzero(self.labels == c) for c in classes]
        n = max(len(ix) for ix in per_class)
        return np.concatenate([np.resize(ix, n) for ix in per_class])

    def __len__(self) -> int:
        return len(self.order)

    def describe(self) -> str:
        counts = ", ".join(f"class {c}: {n}" for c, n in zip(*np.unique(self.labels, return_counts=True)))
        return f"{len(self.images)} images ({counts}) at {self.images.shape[1]} px in {self.root}"

    def _crop(self, arr: np.ndarray, top: int, left: int) -> np.ndarray:
        return arr[..., top:top + self.size, left:left + self.size]

    def eval_images(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Centre crops of every image (and mask), in file order, for previews and scoring."""
        off = (self.images.shape[1] - self.size) // 2
        masks = None if self.masks is None else self._crop(self.masks, off, off)
        return self._crop(self.images, off, off), masks

    def sample(self, index: int, rng: np.random.Generator) -> np.ndarray:
        img = self.images[index]
        second = (self.masks[index].astype(np.float32) if self.masks is not None
                  else np.full(img.shape, float(self.labels[index]), np.float32))
        pair = np.stack([img, second])
        if self.augment != "none" and rng.random() < 0.5:
            pair = pair[:, :, ::-1]
        if self.augment == "classic":
            pair = self._classic(pair, int(rng.integers(2**31)))
        room = pair.shape[1] - self.size
        top, left = rng.integers(0, room + 1, size=2)
        if self.min_foreground > 0 and room > 0:
            brain = foreground(pair[0])
            pixels = np.flatnonzero(brain)
            best, best_fraction = (top, left), -1.0
            for _ in range(10):
                fraction = float(self._crop(brain, top, left).mean())
                if fraction > best_fraction:
                    best, best_fraction = (top, left), fraction
                if fraction >= self.min_foreground or not len(pixels):
                    break
                # the next crop is centred on a random foreground pixel
                y, x = divmod(int(pixels[rng.integers(len(pixels))]), pair.shape[2])
                top, left = (int(np.clip(v - self.size // 2, 0, room)) for v in (y, x))
            top, left = best
        return np.ascontiguousarray(self._crop(pair, top, left))

    def _classic(self, pair: np.ndarray, seed: int) -> np.ndarray:
        from monai.transforms import Compose, Rand2DElasticd, RandAffined

        if self._affine is None:
            side = pair.shape[1]
            keys, modes = ["image", "second"], ["bilinear", "nearest" if self.masks is not None else "bilinear"]
            self._affine = Compose([
                RandAffined(keys, prob=1.0, rotate_range=np.deg2rad(10), shear_range=(0.08, 0.08),
                            translate_range=(0.08 * side, 0.08 * side), scale_range=(0.08, 0.08),
                            mode=modes, padding_mode="border"),
                Rand2DElasticd(keys, spacing=(side // 4, side // 4), magnitude_range=(1.0, 2.0), prob=0.5,
                               mode=modes, padding_mode="border"),
            ])
        self._affine.set_random_state(seed=seed)
        out = self._affine({"image": pair[:1].copy(), "second": pair[1:].copy()})
        image = np.asarray(out["image"], dtype=np.float32)
        second = np.asarray(out["second"], dtype=np.float32)
        return np.concatenate([image, second])

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """(B, 2, size, size): image and mask (or class plane) for ``items`` = [(index, key), ...]."""
        arr = np.stack([self.sample(int(self.order[i]), np.random.default_rng(key)) for i, key in items])
        return torch.from_numpy(arr)
