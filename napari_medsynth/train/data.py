"""Training data: a folder of 2-D images, and a sampler whose position can be checkpointed.

A dataset folder holds, at any depth, ``.npy`` arrays of shape (H, W) or (N, H, W) and/or NIfTI
volumes (``.nii``/``.nii.gz``, read with :func:`napari_medsynth.io.read_volume` and cut into axial
slices). Label maps (``*_seg`` etc.) are skipped. Intensities go to [-1, 1] by percentile
rescaling: per volume for NIfTI (slices of one scan keep their relative brightness), per image for
``.npy``. Each image is padded to a square with background and resized to ``load_size``; training
samples are random ``size`` x ``size`` crops of it (or the whole image when the sizes match).

Randomness never comes from global generators: which images form a batch and where they are
cropped is a pure function of (seed, epoch, position, rank). A resumed run therefore sees exactly
the batches the uninterrupted run would have seen, given only the sampler's (epoch, offset).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from ..geometry import to_square
from ..io import VolumeReadError, is_nifti_path, percentile_rescale, read_volume

#: Refuse datasets that would need more than this much memory after resizing (float32).
MAX_DATASET_BYTES = 4 * 1024**3
#: Bytes read from each end of a file for the fingerprint (whole file if smaller than twice this).
FINGERPRINT_SAMPLE = 1 << 20


class DatasetError(ValueError):
    """The dataset folder cannot be used for training; the message says why and what to do."""


def find_image_files(folder: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """Candidate image files below ``folder`` whose name matches ``pattern``, sorted by path."""
    root = Path(folder)
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file; choose the folder that holds the training images")
    files = [p for p in sorted(root.rglob("*"))
             if p.is_file() and not p.name.startswith(".") and (p.suffix.lower() == ".npy" or is_nifti_path(p))
             and fnmatch.fnmatch(p.name, pattern)]
    if not files:
        where = f" matching {pattern!r}" if pattern != "*" else ""
        raise DatasetError(f"no training images{where} in {root}: expected .npy arrays (H,W) or (N,H,W) "
                           "or NIfTI volumes (.nii/.nii.gz), searched recursively")
    return files


def dataset_fingerprint(root: str | os.PathLike, files: list[Path]) -> str:
    """SHA-256 over each file's relative name, size and its first and last MiB.

    Content-based (unlike mtimes it survives copying) yet fast on multi-GB BraTS folders; it
    identifies which data a checkpoint was trained on in its model card.
    """
    h = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        h.update(f"{path.relative_to(root).as_posix()}\0{size}\0".encode())
        with open(path, "rb") as fh:
            if size <= 2 * FINGERPRINT_SAMPLE:
                h.update(fh.read())
            else:
                h.update(fh.read(FINGERPRINT_SAMPLE))
                fh.seek(-FINGERPRINT_SAMPLE, os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()


class SliceDataset:
    """All 2-D training images of a folder, normalised and resized, held in memory.

    ``size``: side of the training samples. ``load_size``: side every image is resized to first
    (default ``size``; larger values make the samples random crops). ``min_foreground``: NIfTI
    slices where less than this fraction of pixels is above background are skipped (the empty
    slices above and below the head).
    """

    def __init__(self, folder: str | os.PathLike, size: int, load_size: int | None = None,
                 pattern: str = "*", min_foreground: float = 0.05):
        self.root = Path(folder)
        self.size = int(size)
        self.load_size = int(load_size or size)
        if self.load_size < self.size:
            raise DatasetError(f"load_size ({self.load_size}) must be at least the sample size ({self.size})")
        files = find_image_files(self.root, pattern)
        self.fingerprint = dataset_fingerprint(self.root, files)
        self.images: list[np.ndarray] = []
        self.sources: list[tuple[str, int]] = []
        n_labels = 0
        for path in files:
            arrays = self._read_npy(path) if path.suffix.lower() == ".npy" else self._read_nifti(path, min_foreground)
            if arrays is None:
                n_labels += 1
                continue
            for index, img in arrays:
                self.images.append(to_square(img, self.load_size))
                self.sources.append((path.relative_to(self.root).as_posix(), index))
                if len(self.images) * self.load_size**2 * 4 > MAX_DATASET_BYTES:
                    raise DatasetError(f"{self.root} holds too many images for memory at {self.load_size} px; "
                                       "use a smaller load size or a file pattern that selects fewer files")
        if not self.images:
            why = f" ({n_labels} label map(s) were skipped)" if n_labels else ""
            raise DatasetError(f"no usable 2-D images in {self.root}{why}: every slice was empty or a label map")

    def _read_npy(self, path: Path):
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DatasetError(f"{path.name}: not a plain numeric .npy array ({exc})") from exc
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{path.name}: cannot read the .npy file, it is truncated or corrupt ({exc})") from exc
        if arr.dtype.kind not in "biuf":
            raise DatasetError(f"{path.name}: holds {arr.dtype} values; training needs numbers")
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or min(arr.shape) == 0:
            raise DatasetError(f"{path.name}: shape {arr.shape} is not an image (H, W) or a stack (N, H, W)")
        if not np.all(np.isfinite(arr)):
            raise DatasetError(f"{path.name}: contains NaN or infinite values")
        return [(i, percentile_rescale(img, out_range=(-1.0, 1.0))) for i, img in enumerate(arr)]

    def _read_nifti(self, path: Path, min_foreground: float):
        try:
            vol = read_volume(path)
        except VolumeReadError as exc:
            raise DatasetError(str(exc)) from exc
        if vol.kind == "labels":
            return None
        channels = vol.data if vol.is_multichannel else vol.data[None]
        out = []
        for channel in channels:
            norm = percentile_rescale(channel, out_range=(-1.0, 1.0))
            for z, img in enumerate(norm):  # axis 0 is inferior -> superior: axial slices
                if np.mean(img > -0.99) >= min_foreground:
                    out.append((z, img))
        return out

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> str:
        n_files = len({s for s, _ in self.sources})
        return f"{len(self)} images from {n_files} file(s) in {self.root}"

    def sample(self, index: int, rng: np.random.Generator) -> np.ndarray:
        img = self.images[index]
        if self.load_size == self.size:
            return img
        top, left = rng.integers(0, self.load_size - self.size + 1, size=2)
        return img[top:top + self.size, left:left + self.size]

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """Stack samples for ``items`` = [(index, crop key), ...] as a (B, 1, size, size) tensor."""
        arr = np.stack([self.sample(i, np.random.default_rng(key)) for i, key in items])
        return torch.from_numpy(np.ascontiguousarray(arr[:, None]))


class StepSampler:
    """Endless shuffled batches, sharded across DDP ranks, resumable from (epoch, offset).

    Index order comes from :class:`torch.utils.data.DistributedSampler` (each rank sees a
    disjoint shard of every epoch; with one process it is a plain seeded shuffle).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.batch_size = batch_size
        self.seed, self.rank = seed, rank
        self._sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.epoch, self.offset = 0, 0
        self._order: list[int] | None = None

    def _epoch_order(self) -> list[int]:
        if self._order is None:
            self._sampler.set_epoch(self.epoch)
            self._order = list(self._sampler)
        return self._order

    def next_batch(self) -> list[tuple[int, tuple[int, ...]]]:
        items = []
        while len(items) < self.batch_size:
            order = self._epoch_order()
            if self.offset >= len(order):
                self.epoch, self.offset, self._order = self.epoch + 1, 0, None
                continue
            items.append((order[self.offset], (self.seed, self.epoch, self.offset, self.rank)))
            self.offset += 1
        return items

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.offset, self._order = int(state["epoch"]), int(state["offset"]), None
