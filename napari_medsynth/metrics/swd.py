"""Multi-scale sliced Wasserstein distance (SWD) on Laplacian-pyramid patches (Karras et al. 2018).

PGGAN's metric, used by the PGGAN+SPADE brain-tumor paper (§3.2) to pick the generator
snapshot: unlike IS or FID it needs no trained network, and it compares real and synthetic
images per scale, from coarse layout (16 px) to fine texture (full resolution).

Per pyramid level:

1. Laplacian pyramid of every image (5x5 binomial filter, mirrored borders), from the full
   resolution down to the last level of at least ``min_resolution`` px (16).
2. ``patches_per_image`` (128) random 7x7 neighbourhoods per image, flattened into descriptors
   (7 x 7 x channels values).
3. Descriptors normalized per channel (mean 0, std 1). As in the original code each set is
   normalized with its own statistics (``normalize="each"``), so the metric compares structure,
   not global brightness or contrast; ``normalize="reference"`` uses the real set's statistics
   for both, which makes a contrast change count too.
4. Sliced Wasserstein distance between the two descriptor sets: project on random unit
   directions, sort, mean absolute difference; ``n_repeats`` (4) draws of ``n_directions`` (128)
   directions, i.e. 512 projections in all as in the paper, averaged.

Distances are multiplied by 1e3, as PGGAN reports them (the PGGAN+SPADE paper's best snapshot
averages 3.21), and the average over levels is the summary number. All random draws (patch
positions, directions, subsampling) come from one generator seeded by ``seed``, so a result is
reproducible. Two different random patch samples of the *same* set do not give exactly 0; the
floor depends on the number of images (more images, lower floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from .arrays import channel_images, same_image_size

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0
NORMALIZE = ("each", "reference")


@dataclass(frozen=True)
class SWDResult:
    """SWD x 1e3 per pyramid level (finest first) and their mean."""

    resolutions: tuple[int, ...]
    per_level: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_level))


def sliced_wasserstein_distance(real, synthetic, *, patch_size: int = 7, patches_per_image: int = 128,
                                n_directions: int = 128, n_repeats: int = 4, min_resolution: int = 16,
                                normalize: str = "each", seed: int = 0, chunk_size: int = 256) -> SWDResult:
    """Multi-scale SWD between two image sets (N, H, W) or (N, C, H, W) of one size.

    The two sets may differ in size: the larger descriptor set is randomly subsampled to the
    smaller one per level, since sorted projections are compared element by element.
    ``chunk_size`` images are decomposed at a time, to bound memory for large sets.
    """
    a = channel_images(real, "real")
    b = channel_images(synthetic, "synthetic")
    same_image_size(a, b, "real", "synthetic")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"real and synthetic have different channel counts: {a.shape[1]} vs {b.shape[1]}")
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}; got {normalize!r}")
    for name, value in (("patch_size", patch_size), ("patches_per_image", patches_per_image),
                        ("n_directions", n_directions), ("n_repeats", n_repeats), ("chunk_size", chunk_size)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1; got {value}")
    if patch_size % 2 == 0:
        raise ValueError(f"patch_size must be odd (a centred neighbourhood); got {patch_size}")
    resolutions = pyramid_resolutions(a.shape[-2:], min_resolution, patch_size)
    rng = np.random.default_rng(seed)
    desc_a = _descriptors(a, len(resolutions), patch_size, patches_per_image, rng, chunk_size)
    desc_b = _descriptors(b, len(resolutions), patch_size, patches_per_image, rng, chunk_size)
    per_level = []
    for da, db in zip(desc_a, desc_b):
        da, db = _same_count(da, db, rng)
        mean, std = _channel_stats(da)
        if normalize == "each":
            db = _standardize(db, *_channel_stats(db))
        else:
            db = _standardize(db, mean, std)
        da = _standardize(da, mean, std)
        flat_a, flat_b = da.reshape(len(da), -1), db.reshape(len(db), -1)
        per_level.append(1e3 * sliced_wasserstein(flat_a, flat_b, n_directions, n_repeats, rng))
    return SWDResult(tuple(resolutions), tuple(per_level))


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_directions: int, n_repeats: int,
                       rng: np.random.Generator) -> float:
    """Sliced 1-Wasserstein distance between two equally sized point sets (K, D)."""
    if a.shape != b.shape:
        raise ValueError(f"point sets must have the same shape; got {a.shape} and {b.shape}")
    results = []
    for _ in range(n_repeats):
        directions = rng.standard_normal((a.shape[1], n_directions))
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        directions = np.ascontiguousarray(directions.T, dtype=np.float32)  # (n_directions, D)
        # (n_directions, K): each projection is a contiguous row, which sorts several times faster
        proj_a = np.sort(directions @ a.T, axis=1)
        proj_b = np.sort(directions @ b.T, axis=1)
        results.append(float(np.abs(proj_a - proj_b).mean()))
    return float(np.mean(results))


def pyramid_resolutions(shape, min_resolution: int = 16, patch_size: int = 7) -> list[int]:
    """Smaller side of each Laplacian level: full size, then halved while >= ``min_resolution``."""
    h, w = int(shape[0]), int(shape[1])
    side = min(h, w)
    if side < max(min_resolution, patch_size):
        raise ValueError(f"images of {h}x{w} are smaller than min_resolution={min_resolution} "
                         f"or patch_size={patch_size}")
    resolutions = []
    while side >= min_resolution:
        resolutions.append(side)
        side //= 2
    factor = 2 ** (len(resolutions) - 1)
    if h % factor or w % factor:
        raise ValueError(f"image size {h}x{w} must be divisible by {factor} for {len(resolutions)} "
                         f"pyramid levels down to {min_resolution} px; crop or pad the images")
    if resolutions[-1] < patch_size:
        raise ValueError(f"the coarsest level ({resolutions[-1]} px) is smaller than patch_size={patch_size}")
    return resolutions


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """Band-pass levels of (N, C, H, W) images, finest first; the last level is the low-pass rest."""
    pyramid = [images.astype(np.float32)]
    for _ in range(1, levels):
        down = _blur(pyramid[-1])[..., ::2, ::2]
        pyramid[-1] = pyramid[-1] - _expand(down)
        pyramid.append(down)
    return pyramid


def _blur(x: np.ndarray, gain: float = 1.0) -> np.ndarray:
    kernel = _BINOMIAL * gain
    x = ndimage.convolve1d(x, kernel, axis=-1, mode="mirror")
    return ndimage.convolve1d(x, kernel, axis=-2, mode="mirror")


def _expand(x: np.ndarray) -> np.ndarray:
    """Upsample x2 by zero insertion and interpolation (the inverse step of the pyramid)."""
    up = np.zeros(x.shape[:-2] + (2 * x.shape[-2], 2 * x.shape[-1]), dtype=x.dtype)
    up[..., ::2, ::2] = x
    return _blur(up, gain=2.0)  # 2 per axis: zero insertion halves the mean along each axis


def _descriptors(images: np.ndarray, levels: int, patch: int, per_image: int, rng, chunk: int) -> list[np.ndarray]:
    """Random patches (K, C, patch, patch) of every pyramid level of every image."""
    out: list[list[np.ndarray]] = [[] for _ in range(levels)]
    for start in range(0, len(images), chunk):
        for level, band in enumerate(laplacian_pyramid(images[start:start + chunk], levels)):
            n, _, h, w = band.shape
            windows = sliding_window_view(band, (patch, patch), axis=(2, 3))  # (n, C, h', w', p, p), a view
            img = np.repeat(np.arange(n), per_image)
            y = rng.integers(0, h - patch + 1, size=img.size)
            x = rng.integers(0, w - patch + 1, size=img.size)
            out[level].append(windows[img, :, y, x])
    return [np.concatenate(parts) for parts in out]


def _same_count(a: np.ndarray, b: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    if len(a) > len(b):
        a = a[np.sort(rng.choice(len(a), len(b), replace=False))]
    elif len(b) > len(a):
        b = b[np.sort(rng.choice(len(b), len(a), replace=False))]
    return a, b


def _channel_stats(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = d.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = d.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    return mean, np.where(std > 0, std, 1.0)  # a constant channel stays 0 instead of NaN


def _standardize(d: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((d - mean) / std).astype(np.float32)
