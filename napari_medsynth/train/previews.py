"""Preview images as one picture: a grid for the napari layer and a PNG for headless runs."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path


def tile(images: np.ndarray, columns: int | None = None, gap: int = 1, fill: float = -1.0) -> np.ndarray:
    """Arrange ``(N, H, W)`` images in a near-square grid separated by ``gap`` pixels of ``fill``."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, H, W) stack of images, got shape {images.shape}")
    n, h, w = images.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), fill, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = img
    return grid


def save_png(path: str | os.PathLike, images: np.ndarray) -> str:
    """Write the tiled previews (values in [-1, 1]) as an 8-bit greyscale PNG, atomically."""
    from PIL import Image  # installed with matplotlib

    path = Path(path)
    grid = np.clip((tile(images) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        Image.fromarray(grid, mode="L").save(tmp, format="PNG")
    return str(path)


def preview_noise(seed: int, count: int, dim: int, device, stream: int = 1):
    """Fixed noise ``(count, dim)`` for previews, from its own generator: drawing it never moves
    the global random stream that training uses (exact resume stays exact)."""
    import torch

    from .rng import derive_seed

    gen = torch.Generator().manual_seed(derive_seed(seed, stream))
    return torch.randn(count, dim, generator=gen).to(device)


def generator_previews(generator, *inputs) -> np.ndarray:
    """``generator(*inputs)`` in eval mode (running batch-norm statistics: previews neither depend
    on nor change batch statistics) as ``(N, H, W)`` float32; the mode is restored after."""
    import torch

    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            return generator(*inputs).float().cpu().numpy()[:, 0]
    finally:
        generator.train(was_training)
