"""Label maps as colour pictures (the COMPLETE7 colours): contact sheets for files and docs."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..labels import COMPLETE7


def palette() -> np.ndarray:
    """(7, 3) uint8 RGB colour of each class of the complete map."""
    return np.array([[int(c.color[i:i + 2], 16) for i in (1, 3, 5)] for c in COMPLETE7], dtype=np.uint8)


def colorize(maps: np.ndarray) -> np.ndarray:
    """(..., H, W) class maps -> (..., H, W, 3) uint8 RGB; values outside 0..6 are an error."""
    maps = np.asarray(maps)
    if maps.size and (maps.min() < 0 or maps.max() >= len(COMPLETE7)):
        raise ValueError(f"label maps must hold classes 0..{len(COMPLETE7) - 1}")
    return palette()[maps.astype(np.intp)]


def contact_sheet(maps: np.ndarray, columns: int | None = None, gap: int = 2, marked=(),
                  mark_color=(255, 0, 255)) -> np.ndarray:
    """(N, H, W) maps -> one RGB grid; maps whose index is in ``marked`` get a coloured frame."""
    rgb = colorize(maps)
    n, h, w, _ = rgb.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 64, np.uint8)
    marked = set(int(i) for i in marked)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        tile = rgb[i].copy()
        if i in marked:
            t = max(1, h // 32)
            tile[:t], tile[-t:], tile[:, :t], tile[:, -t:] = mark_color, mark_color, mark_color, mark_color
        sheet[y:y + h, x:x + w] = tile
    return sheet


def save_rgb_png(path: str | os.PathLike, rgb: np.ndarray) -> str:
    """Write an (H, W, 3) uint8 image as PNG, atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        Image.fromarray(np.ascontiguousarray(rgb), mode="RGB").save(tmp, format="PNG")
    return str(path)
