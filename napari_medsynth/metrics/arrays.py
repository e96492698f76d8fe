"""Input checks shared by the metric functions.

Every metric refuses bad input with a message that names the argument and says what was
expected, instead of returning a number that looks plausible: an empty set, a NaN pixel or a
feature matrix with the wrong orientation would otherwise give a silently wrong score.
"""

from __future__ import annotations

import numpy as np


def feature_matrix(x, name: str, min_rows: int = 1) -> np.ndarray:
    """``x`` as a finite float64 matrix (n_samples, n_features)."""
    a = _finite_float(x, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got shape {a.shape}")
    if a.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} sample(s); got {a.shape[0]}")
    if a.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {a.shape})")
    return a


def image_stack(x, name: str, min_images: int = 1, dtype=np.float64) -> np.ndarray:
    """``x`` as a finite stack of greyscale images (N, H, W).

    A channel axis of length 1, (N, 1, H, W), is dropped: that is how torch batches of MR slices
    come. Several channels are refused here; metrics that support them (SWD) say so themselves.
    """
    a = _finite_float(x, name, dtype)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"{name} must be a stack of 2-D greyscale images (N, H, W) or (N, 1, H, W); "
                         f"got shape {a.shape}")
    if a.shape[0] < min_images:
        raise ValueError(f"{name} needs at least {min_images} image(s); got {a.shape[0]}")
    if min(a.shape[1:]) < 1:
        raise ValueError(f"{name} has empty images (shape {a.shape})")
    return a


def channel_images(x, name: str, min_images: int = 1) -> np.ndarray:
    """``x`` as a finite float32 batch (N, C, H, W); a greyscale stack (N, H, W) gets C = 1."""
    a = _finite_float(x, name, np.float32)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4:
        raise ValueError(f"{name} must be (N, H, W) or (N, C, H, W); got shape {a.shape}")
    if a.shape[0] < min_images:
        raise ValueError(f"{name} needs at least {min_images} image(s); got {a.shape[0]}")
    return a


def same_image_size(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"{name_a} and {name_b} must have the same image size; "
                         f"got {a.shape[-2:]} and {b.shape[-2:]} (resize or crop one set first)")


def _finite_float(x, name: str, dtype=np.float64) -> np.ndarray:
    if x is None:
        raise ValueError(f"{name} is None")
    if hasattr(x, "detach"):  # torch tensors without importing torch
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not numeric: {exc}") from None
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} contains {int(bad.sum())} NaN/Inf value(s); clean or drop those samples first")
    return a
