"""Semi-automatic tumor segmentation from a seed: region growing inside a region of interest.

A click on the tumor gives a seed; the region is every voxel connected to it whose (lightly
smoothed) intensity is within ``tolerance`` of the seed's, no farther than ``roi_radius_mm``
from the seed, in the seed's axial slice (2-D) or in the volume (3-D). Holes are filled slice by
slice, so a dark necrotic core inside an enhancing rim joins the tumor when the rim is grown.

Work is done on the bounding box of the ROI only, so a grow on a 240 x 240 x 155 volume takes
milliseconds (see ``benchmarks/bench_crops.py``) and can follow a tolerance slider.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.segmentation import flood


def robust_range(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> float:
    """Width of the image's [low, high] percentile range over non-zero voxels (> 0).

    Tolerances given as a fraction of this width mean the same thing for every scanner scale.
    """
    v = np.asarray(image)
    sample = v[::2, ::2, ::2] if v.ndim == 3 else v
    nz = sample[sample != 0]
    if nz.size == 0:
        return 0.0
    lo, hi = np.percentile(nz.astype(np.float32), [low, high])
    return float(hi - lo)


def grow_region(image: np.ndarray, seed: Sequence[float], tolerance: float, mode: str = "2d",
                roi_radius_mm: float = 40.0, spacing: Sequence[float] | None = None,
                smooth_sigma_mm: float = 1.0, fill_holes: bool = True) -> np.ndarray:
    """Boolean mask (shape of ``image``) of the region grown from ``seed`` (z, y, x voxel index).

    ``tolerance`` is in image intensity units (see :func:`robust_range` for a scanner-free scale).
    ``mode`` "2d" grows in the seed's axial slice only, "3d" through slices. ``spacing`` (mm per
    voxel along z, y, x; default 1 mm) makes the ROI round and the smoothing isotropic in mm.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"region growing needs a 3-D volume, got shape {image.shape}")
    if mode not in ("2d", "3d"):
        raise ValueError(f"mode must be '2d' or '3d', not {mode!r}")
    if not tolerance >= 0:
        raise ValueError(f"the tolerance must be 0 or more (got {tolerance})")
    if not roi_radius_mm > 0:
        raise ValueError(f"the region-of-interest radius must be positive (got {roi_radius_mm} mm)")
    seed_idx = tuple(int(round(float(s))) for s in seed)
    if len(seed_idx) != 3 or any(not 0 <= s < n for s, n in zip(seed_idx, image.shape)):
        raise ValueError(f"the seed {tuple(seed)} is outside the volume (shape {image.shape}); click inside the image")
    sp = np.array([1.0, 1.0, 1.0] if spacing is None else [float(s) for s in spacing[-3:]])
    if np.any(sp <= 0):
        raise ValueError(f"voxel sizes must be positive (got {spacing})")

    # bounding box of the ROI, clipped to the volume (one slice in 2-D)
    half = np.ceil(roi_radius_mm / sp).astype(int)
    if mode == "2d":
        half[0] = 0
    lo = np.maximum(np.array(seed_idx) - half, 0)
    hi = np.minimum(np.array(seed_idx) + half + 1, image.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    roi = image[box].astype(np.float32)
    if smooth_sigma_mm > 0:
        sigma = smooth_sigma_mm / sp
        if mode == "2d":
            sigma[0] = 0
        roi = ndimage.gaussian_filter(roi, sigma=sigma, mode="nearest")
    local = tuple(int(s - a) for s, a in zip(seed_idx, lo))

    grid = np.ogrid[tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, seed_idx))]
    dist2 = sum((g * d) ** 2 for g, d in zip(grid, sp))
    inside = dist2 <= roi_radius_mm ** 2
    region = flood(np.where(inside, roi, np.inf), local, tolerance=float(tolerance),
                   connectivity=roi.ndim) & inside
    if fill_holes:
        region = np.stack([ndimage.binary_fill_holes(r) for r in region])
    out = np.zeros(image.shape, bool)
    out[box] = region
    return out
