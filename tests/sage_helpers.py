"""Tiny synthetic tumor-crop datasets for the SAGE model tests (no real data needed).

Shapes are star-shaped blobs whose radius is a random low-order Fourier series (lobulated like
GBM outlines); textures are a bright rim, a dark core and smoothed noise, so the crops have the
structure that the shape and texture models must learn, at a size that trains in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_medsynth.sage.dataset import CropDataset, CropRecord, CropSettings, PhiRecord


def blob_mask(rng: np.random.Generator, size: int = 64, margin: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    c = (size - 1) / 2
    angle = np.arctan2(yy - c, xx - c)
    radius = np.hypot(yy - c, xx - c)
    r = np.ones_like(angle)
    for k in range(2, 6):
        r += rng.uniform(0, 0.25 / k * 2) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
    stretch = rng.uniform(0.6, 1.0)
    theta = rng.uniform(0, np.pi)
    u = (xx - c) * np.cos(theta) + (yy - c) * np.sin(theta)
    v = -(xx - c) * np.sin(theta) + (yy - c) * np.cos(theta)
    radius = np.hypot(u, v / stretch)
    scale = (size / 2 - margin) / r.max()
    return radius <= r * scale


def textured(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rim-enhancing texture with a necrotic-looking core, 0 outside the mask."""
    dist = ndimage.distance_transform_edt(mask)
    depth = dist / max(dist.max(), 1.0)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, mask.shape), rng.uniform(0.8, 2.0))
    noise /= noise.std() + 1e-8
    img = 0.55 + 0.35 * np.exp(-((depth - 0.25) / 0.15) ** 2) - 0.25 * (depth > 0.6) + 0.08 * noise
    return (np.clip(img, 0.05, 1.0) * mask).astype(np.float32)


def make_crop_dataset(folder: Path, n_patients: int = 3, crops_per_patient: int = 8, seed: int = 0,
                      size: int = 64) -> Path:
    rng = np.random.default_rng(seed)
    ds = CropDataset.empty(folder, CropSettings(crop_size=size, phi_size=32))
    for p in range(n_patients):
        masks = [blob_mask(rng, size) for _ in range(crops_per_patient)]
        btc = np.stack(masks).astype(np.uint8)
        tc = np.stack([textured(m, rng) for m in masks])
        crops = [CropRecord(f"P{p}", i, "control", (0, 10, 0, 10), (0.5, 0.5), 0.05, 0.0, int(m.sum()))
                 for i, m in enumerate(masks)]
        phi = rng.uniform(0, 1, (1, 32, 32)).astype(np.float32)
        ds.add_patient(f"P{p}", {"class": "control"}, tc, btc, crops, phi, (phi > 0.2).astype(np.uint8),
                       [PhiRecord(f"P{p}", 0)])
    ds.save()
    return folder
