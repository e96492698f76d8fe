"""Image sets for evaluation: a folder of real or synthetic images, loaded to one size.

An image set is a folder, searched recursively, holding any mix of

* ``.npy`` arrays: one image (H, W) or a stack (N, H, W);
* NIfTI volumes (``.nii`` / ``.nii.gz``), cut into axial slices; slices with less than
  ``min_foreground`` of the pixels above background are skipped (the empty ends of the head);
* ``.png`` images (converted to grey).

Masks are optional siblings named after the image: ``<stem>_label``, ``<stem>_seg``,
``<stem>_labels7`` or ``<stem>_mask`` with any of the extensions above. For a BraTS-style volume
``<case>_t1ce.nii.gz`` the case's ``<case>_seg`` / ``<case>_labels7`` are found too. Mask files
are never images. A mask marks tumor where it is > 0 (``_labels7``: classes 1-3; 4-6 are healthy
tissue).

A JSON sidecar ``<stem>.json`` may give ``"patient"`` and ``"class"`` (the SAGE generator writes
``<stem>.npy``, ``<stem>_label.npy`` and ``<stem>.json`` with ``"patient": "synthetic"``).
Without a sidecar, the class is the name of the first subfolder below the set's root (e.g.
``real/mutated/...``; a BraTS case folder named like its files is not a class) and the patient
is the file's case name (the stem without a modality or mask suffix). Images with a mask but
without any class get "tumor" or "non-tumor" from the mask.

A tumor-crop dataset folder (``manifest.json`` of :class:`~napari_medsynth.sage.dataset.CropDataset`)
is read as its tumor crops (TC, class and patient from the manifest, BTC as masks); with
``include_phi`` its tumor-free slices are added as class "non-tumor" with empty masks.

Intensities go to [-1, 1] by 0.5-99.5 percentile rescaling, per volume for NIfTI and per image
otherwise; every image is padded to a square with background and resized to ``size``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry import to_square
from ..io import VolumeReadError, is_nifti_path, percentile_rescale, read_volume
from .training import EvaluationError

MASK_SUFFIXES = ("_label", "_seg", "-seg", "_labels7", "-labels7", "_mask")
MODALITY_SUFFIXES = ("_t1ce", "_t1", "_t2", "_flair", "_t1c", "_t1gd", "-t1n", "-t1c", "-t2w", "-t2f", "_image", "_mr")
IMAGE_EXTENSIONS = (".npy", ".png", ".nii", ".nii.gz")


@dataclass
class ImageSet:
    """``images`` (N, S, S) float32 in [-1, 1]; ``masks`` (N, S, S) uint8 or None (no image had one);
    ``has_mask`` (N,) which images had a mask; ``classes`` / ``patients`` (N,) strings;
    ``sources``: "file" or "file[index]" per image, relative to ``root``."""

    name: str
    root: str
    images: np.ndarray
    masks: np.ndarray | None
    has_mask: np.ndarray
    classes: np.ndarray
    patients: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def class_names(self) -> list[str]:
        return sorted(set(self.classes.tolist()))

    def subset(self, index) -> ImageSet:
        index = np.asarray(index, dtype=int)
        masks = None if self.masks is None else self.masks[index]
        return ImageSet(self.name, self.root, self.images[index], masks, self.has_mask[index],
                        self.classes[index], self.patients[index], [self.sources[i] for i in index])

    def summary(self) -> dict:
        names, counts = np.unique(self.classes, return_counts=True)
        return {"root": self.root, "n_images": len(self), "size": int(self.images.shape[-1]),
                "classes": {str(k): int(v) for k, v in zip(names, counts)},
                "n_patients": int(len(np.unique(self.patients))), "with_masks": int(self.has_mask.sum())}


def load_image_set(folder: str | os.PathLike, size: int = 64, *, name: str = "images",
                   max_images: int | None = None, min_foreground: float = 0.05, include_phi: bool = False,
                   seed: int = 0) -> ImageSet:
    """Read an image set folder (see the module docstring); at most ``max_images`` (random, seeded)."""
    root = Path(folder)
    if not root.exists():
        raise EvaluationError(f"{name} folder {root} does not exist")
    if not root.is_dir():
        raise EvaluationError(f"{name}: {root} is a file; choose the folder that holds the images")
    if size < 8:
        raise EvaluationError(f"the evaluation size must be at least 8 pixels; got {size}")
    if (root / "manifest.json").is_file():
        items = _crop_dataset_items(root, include_phi)
    else:
        items = _folder_items(root, min_foreground)
    if not items:
        raise EvaluationError(f"no images in {name} folder {root}: expected .npy (H,W)/(N,H,W), NIfTI volumes "
                              "or .png files (mask files *_label/_seg/_labels7/_mask do not count)")
    if max_images is not None and len(items) > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(items), max_images, replace=False))
        items = [items[i] for i in keep]
    images = np.stack([to_square(img, size) for img, *_ in items])
    has_mask = np.array([m is not None for _, m, *_ in items])
    masks = None
    if has_mask.any():
        masks = np.stack([_mask_to_square(m, img.shape, size) for img, m, *_ in items])
    classes = []
    for _, m, klass, *_ in items:
        if klass is None:
            klass = "all" if m is None else ("tumor" if (m > 0).any() else "non-tumor")
        classes.append(klass)
    return ImageSet(name, str(root), images.astype(np.float32), masks, has_mask, np.array(classes),
                    np.array([p for *_, p, _ in items]), [s for *_, s in items])


def _mask_to_square(mask, image_shape, size: int) -> np.ndarray:
    if mask is None:
        return np.zeros((size, size), np.uint8)
    m = to_square((mask > 0).astype(np.float32), size, fill=0.0) if mask.shape == image_shape else None
    if m is None:
        raise EvaluationError(f"a mask of shape {mask.shape} does not match its image {image_shape}")
    return (m >= 0.5).astype(np.uint8)


# --- plain folders ---------------------------------------------------------------------------
def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii", ".npy", ".png"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _is_image_file(path: Path) -> bool:
    low = path.name.lower()
    return path.is_file() and not path.name.startswith(".") and low.endswith(IMAGE_EXTENSIONS)


def _is_mask_name(stem: str) -> bool:
    return stem.lower().endswith(MASK_SUFFIXES)


def _case_name(stem: str) -> str:
    low = stem.lower()
    for suffix in MODALITY_SUFFIXES:
        if low.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _find_mask(path: Path, files_by_stem: dict[str, Path]) -> Path | None:
    stem = _stem(path)
    for base in dict.fromkeys((stem, _case_name(stem))):
        for suffix in MASK_SUFFIXES:
            key = str(path.parent / (base + suffix))
            if key in files_by_stem:
                return files_by_stem[key]
    return None


def _folder_items(root: Path, min_foreground: float) -> list:
    files = [p for p in sorted(root.rglob("*")) if _is_image_file(p)]
    by_stem = {str(p.parent / _stem(p)): p for p in files}
    items = []
    for path in files:
        stem = _stem(path)
        if _is_mask_name(stem):
            continue
        meta = _sidecar(path.parent / f"{stem}.json")
        rel = path.relative_to(root)
        klass = meta.get("class")
        if klass is None and len(rel.parts) > 1 and rel.parts[0] != _case_name(stem):
            klass = rel.parts[0]  # a class folder; a BraTS case folder (named like its files) is not
        patient = str(meta.get("patient", _case_name(stem)))
        mask_path = _find_mask(path, by_stem)
        images = _read_images(path, min_foreground)
        masks = _read_masks(mask_path, len(images), [z for z, _ in images]) if mask_path else None
        many = len(images) > 1 or is_nifti_path(path)
        for j, (index, img) in enumerate(images):
            m = masks[j] if masks is not None else None
            source = f"{rel.as_posix()}[{index}]" if many else rel.as_posix()
            items.append((img, m, None if klass is None else str(klass), patient, source))
    return items


def _sidecar(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"{path}: the sidecar is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise EvaluationError(f"{path}: the sidecar must be a JSON object with e.g. \"patient\" and \"class\"")
    return meta


def _read_images(path: Path, min_foreground: float) -> list[tuple[int, np.ndarray]]:
    if is_nifti_path(path):
        try:
            vol = read_volume(path, kind="image")
        except VolumeReadError as exc:
            raise EvaluationError(str(exc)) from exc
        data = vol.data[0] if vol.is_multichannel else vol.data
        norm = percentile_rescale(data, out_range=(-1.0, 1.0))
        return [(z, s) for z, s in enumerate(norm) if np.mean(s > -0.99) >= min_foreground]
    arr = _read_array(path)
    return [(i, percentile_rescale(a, out_range=(-1.0, 1.0))) for i, a in enumerate(arr)]


def _read_masks(path: Path, n: int, indices: list[int]) -> list[np.ndarray]:
    labels7 = _stem(path).lower().endswith("_labels7")
    if is_nifti_path(path):
        try:
            data = read_volume(path, kind="labels").data
        except VolumeReadError as exc:
            raise EvaluationError(str(exc)) from exc
        stack = data[indices]
    else:
        stack = _read_array(path)
        if len(stack) != n:
            raise EvaluationError(f"{path.name} holds {len(stack)} masks for {n} images")
    tumor = (stack >= 1) & (stack <= 3) if labels7 else stack > 0
    return list(tumor.astype(np.uint8))


def _read_array(path: Path) -> np.ndarray:
    if path.name.lower().endswith(".png"):
        from skimage.io import imread

        img = np.asarray(imread(path), dtype=np.float32)
        if img.ndim == 3:  # RGB(A) -> grey
            img = img[..., :3].mean(axis=-1)
        return img[None]
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise EvaluationError(f"{path.name}: not a readable numeric .npy array ({exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise EvaluationError(f"{path.name}: holds {arr.dtype} values; images must be numbers")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or min(arr.shape) == 0:
        raise EvaluationError(f"{path.name}: shape {arr.shape} is not an image (H, W) or a stack (N, H, W)")
    if not np.isfinite(arr).all():
        raise EvaluationError(f"{path.name}: contains NaN or infinite values")
    return arr


# --- tumor-crop datasets ---------------------------------------------------------------------
def _crop_dataset_items(root: Path, include_phi: bool) -> list:
    from ..sage.dataset import CropDataset, CropDatasetError

    try:
        ds = CropDataset.load(root)
    except CropDatasetError as exc:
        raise EvaluationError(str(exc)) from exc
    items = []
    for i, rec in enumerate(ds.crops):
        img = percentile_rescale(ds.tc[i], out_range=(-1.0, 1.0))
        items.append((img, ds.btc[i], str(rec.klass), rec.patient, f"tc[{i}]"))
    if include_phi:
        for i, rec in enumerate(ds.phi_records):
            img = percentile_rescale(ds.phi[i], out_range=(-1.0, 1.0))
            items.append((img, np.zeros(img.shape, np.uint8), "non-tumor", rec.patient, f"phi[{i}]"))
    return items
