"""SSIM of generated images against real images, as SAGE reports it (Table I).

SAGE gives one number per generator: the mean SSIM over generated-vs-real pairs, and reads
0.35-0.75 as "similar to real data but not copies". The paper does not say how images were
paired, so the pairing is a parameter and every result records the pairs it used:

* ``"random"`` (default): ``n_pairs`` (generated, real) pairs drawn uniformly without
  replacement from all N x M pairs, seeded. An unbiased estimate of the all-pairs mean at a
  fixed cost; when N x M <= ``n_pairs`` every pair is used and the value is exact.
* ``"all"``: every generated image against every real image (N x M SSIMs).
* ``"nearest"``: each generated image against its most similar real image (N x M SSIMs, one kept
  per generated image). Not SAGE's number: values near 1 flag memorized training images.

SSIM itself is ``skimage.metrics.structural_similarity`` with an explicit ``data_range`` (the
intensity range the images are scaled to, e.g. 1.0 for [0, 1], 2.0 for [-1, 1]): guessing it
from the data would make scores depend on each image's extremes. Other keyword arguments
(``win_size``, ``gaussian_weights``, ...) pass through unchanged. :func:`ms_ssim_pairs` gives
multi-scale SSIM through MONAI when it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import image_stack, same_image_size

PAIRINGS = ("random", "all", "nearest")


@dataclass(frozen=True)
class PairedSSIM:
    """Mean and spread of SSIM over the pairs in ``pairs`` ((k, 2): generated index, real index)."""

    mean: float
    std: float
    values: np.ndarray
    pairs: np.ndarray
    pairing: str

    @property
    def n_pairs(self) -> int:
        return int(len(self.values))


def ssim_pairs(generated, real, *, data_range: float, pairing: str = "random", n_pairs: int = 2000,
               seed: int = 0, **ssim_kwargs) -> PairedSSIM:
    """SSIM between generated and real greyscale images (N, H, W) / (M, H, W) of one size."""
    from skimage.metrics import structural_similarity

    gen, ref = _inputs(generated, real, data_range, pairing, n_pairs)

    def ssim(i: int, j: int) -> float:
        return float(structural_similarity(gen[i], ref[j], data_range=data_range, **ssim_kwargs))

    return _paired(ssim, len(gen), len(ref), pairing, n_pairs, seed)


def ms_ssim_pairs(generated, real, *, data_range: float, pairing: str = "random", n_pairs: int = 2000,
                  seed: int = 0, **monai_kwargs) -> PairedSSIM:
    """Multi-scale SSIM (MONAI ``MultiScaleSSIMMetric``) with the same pairings as :func:`ssim_pairs`.

    MONAI is optional: this raises ImportError when it is not installed. With MONAI's default
    5 scales and 11-pixel kernel the images must be larger than 160 pixels per side; pass fewer
    ``weights`` or a smaller ``kernel_size`` for small images.
    """
    try:
        import torch
        from monai.metrics import MultiScaleSSIMMetric
    except ImportError as exc:
        raise ImportError("MS-SSIM needs MONAI: pip install monai") from exc

    gen, ref = _inputs(generated, real, data_range, pairing, n_pairs)
    metric = MultiScaleSSIMMetric(spatial_dims=2, data_range=data_range, **monai_kwargs)

    def ms_ssim(i: int, j: int) -> float:
        a = torch.as_tensor(gen[i][None, None])
        b = torch.as_tensor(ref[j][None, None])
        return float(metric(a, b).item())

    return _paired(ms_ssim, len(gen), len(ref), pairing, n_pairs, seed)


def _inputs(generated, real, data_range, pairing, n_pairs):
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}; got {pairing!r}")
    if not np.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive number (the intensity range, e.g. 1.0); got {data_range}")
    if pairing == "random" and n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1; got {n_pairs}")
    gen = image_stack(generated, "generated")
    ref = image_stack(real, "real")
    same_image_size(gen, ref, "generated", "real")
    return gen, ref


def _paired(measure, n: int, m: int, pairing: str, n_pairs: int, seed: int) -> PairedSSIM:
    if pairing == "nearest":
        pairs, values = [], []
        for i in range(n):
            row = np.array([measure(i, j) for j in range(m)])
            best = int(np.argmax(row))
            pairs.append((i, best))
            values.append(row[best])
        pairs_arr, vals = np.array(pairs, dtype=np.int64), np.array(values)
    else:
        if pairing == "all" or n * m <= n_pairs:
            flat = np.arange(n * m)
        else:
            flat = np.sort(np.random.default_rng(seed).choice(n * m, size=n_pairs, replace=False))
        pairs_arr = np.stack(np.divmod(flat, m), axis=1).astype(np.int64)
        vals = np.array([measure(int(i), int(j)) for i, j in pairs_arr])
    return PairedSSIM(float(vals.mean()), float(vals.std()), vals, pairs_arr, pairing)
