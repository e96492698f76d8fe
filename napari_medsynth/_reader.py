"""napari reader contribution: NIfTI files and BraTS case folders.

Thin adapter: all reading, validation and orientation logic lives in :mod:`napari_medsynth.io`.
Errors are raised as :class:`~napari_medsynth.io.VolumeReadError` with a message for the user;
napari shows it and keeps running.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import labels as vocab
from .io import Volume, is_nifti_path, read_case, read_volume
from .io.case import is_case_folder, read_segmentation, suffix_of


def napari_get_reader(path):
    """Return a reader for .nii/.nii.gz files and BraTS case folders, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(os.fspath(path))
    if is_nifti_path(p) or (p.is_dir() and is_case_folder(p)):
        return read_path
    return None


def read_path(path) -> list[tuple]:
    """Read a file or a case folder into napari layer data tuples."""
    if isinstance(path, list):
        path = path[0]
    p = Path(os.fspath(path))
    if p.is_dir():
        volumes = read_case(p)
        layers = [volume_to_layer_data(v) for v in volumes]
        _show_one_image(layers)
        return layers
    vol = read_segmentation(p) if suffix_of(p) == "seg" else read_volume(p)
    return [volume_to_layer_data(vol)]


def _show_one_image(layers: list[tuple]) -> None:
    """In a case, show only the post-contrast (else the first) image; the others stay one click away."""
    images = [meta for _, meta, kind in layers if kind == "image"]
    preferred = [m for m in images if suffix_of(m["name"] + ".nii") == "t1ce"] or images[:1]
    for meta in images:
        meta["visible"] = meta is preferred[0] if preferred else True


def label_vocabulary(name: str, data: np.ndarray, convention: str = ""):
    """Pick the label vocabulary that fits a label map: 7-class complete, BraTS, or none."""
    suffix = suffix_of(name + ".nii")
    if suffix == "labels7":
        return vocab.COMPLETE7
    if convention == "brats2023":
        return vocab.BRATS2023
    if suffix == "seg" or convention:
        return vocab.BRATS
    values = set(np.unique(data).tolist())
    if values <= {0, 1, 2, 4} and 4 in values:
        return vocab.BRATS
    return None


def labels_style(classes) -> dict:
    """Labels-layer keywords for a vocabulary: fixed colours (background transparent, values
    outside the vocabulary magenta) and a ``class`` feature, so napari shows class names."""
    colormap = {c.value: (c.color if c.value else "transparent") for c in classes}
    colormap[None] = "magenta"  # values outside the vocabulary stand out
    return {"colormap": colormap,
            "features": {"index": [c.value for c in classes], "class": [c.name for c in classes]}}


def volume_to_layer_data(vol: Volume) -> tuple:
    """A :class:`Volume` as a napari layer data tuple (display orientation, voxel size as scale)."""
    meta = {
        "name": vol.name,
        "scale": vol.spacing,
        "metadata": {"medsynth": vol.metadata()},
    }
    if vol.kind == "labels":
        classes = label_vocabulary(vol.name, vol.data, vol.label_convention)
        if classes is not None:
            meta.update(labels_style(classes))
        meta["opacity"] = 0.5
        return vol.data, meta, "labels"
    meta["colormap"] = "gray"
    meta["contrast_limits"] = _display_range(vol.data)
    if vol.is_multichannel:
        meta["channel_axis"] = 0
        meta["name"] = vol.channel_names
        meta["scale"] = vol.spacing
        meta["contrast_limits"] = [_display_range(c) for c in vol.data]
        meta["blending"] = "additive"
    return vol.data, meta, "image"


def _display_range(data: np.ndarray) -> list[float]:
    """0.5-99.5 percentile of the non-zero voxels: robust to the zero background of skull-stripped MR."""
    sample = data[:: max(1, data.shape[0] // 32)]
    nz = sample[sample != 0]
    ref = nz if nz.size else sample
    lo, hi = (float(x) for x in np.percentile(ref, [0.5, 99.5])) if ref.size else (0.0, 1.0)
    lo = min(lo, 0.0) if lo >= 0 else lo
    return [lo, hi if hi > lo else lo + 1.0]
