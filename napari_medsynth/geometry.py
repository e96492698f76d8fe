"""The training canvas: how a 2-D slice becomes a square model input and back.

Every model sees slices the same way. A slice is centred on a square *canvas* without
distortion (padding with a fill value; a slice larger than the canvas is cropped centrally), and
the canvas is resized to the model's size: images linearly (anti-aliased when shrinking), label
maps by nearest neighbour so that no class appears between two others. A model's output goes
back the same way (:func:`from_canvas`), so the result lies on the input's own grid.

The canvas side is the next power of two of the slice's larger side (:func:`canvas_side`): a
240 x 240 BraTS slice sits on the 256 x 256 canvas the papers used (an 8-pixel border), a
128 x 128 slice is already a full field of view.

No torch and no Qt here: readers, datasets, renderers and widgets share these functions.
"""

from __future__ import annotations

import numpy as np

#: Side of the canvas a drawn or sampled label map lives on (BraTS slices padded to 256, 1 mm).
CANVAS = 256


def canvas_side(height: int, width: int) -> int:
    """The square a ``height`` x ``width`` slice is centred on: the next power of two of its larger side."""
    return 1 << max(int(np.ceil(np.log2(max(int(height), int(width), 1)))), 0)


def center_on_square(image: np.ndarray, side: int, fill: float = 0) -> np.ndarray:
    """Centre ``image`` on a ``side`` x ``side`` array of ``fill`` (cropping centrally where it is larger)."""
    image = np.asarray(image)
    h, w = image.shape
    out = np.full((side, side), fill, dtype=image.dtype)
    sh, sw = min(h, side), min(w, side)
    ih, iw = (h - sh) // 2, (w - sw) // 2
    oh, ow = (side - sh) // 2, (side - sw) // 2
    out[oh:oh + sh, ow:ow + sw] = image[ih:ih + sh, iw:iw + sw]
    return out


def pad_to_square(image: np.ndarray, fill: float = 0) -> np.ndarray:
    """Pad ``image`` to the square of its larger side (no crop, no resize)."""
    h, w = np.shape(image)
    return center_on_square(image, max(h, w), fill)


def resize_square(image: np.ndarray, size: int, labels: bool = False) -> np.ndarray:
    """Resize a square array to ``size`` x ``size``: nearest neighbour for ``labels``, else linear
    (anti-aliased when shrinking). The dtype is kept for labels, float32 otherwise."""
    from skimage.transform import resize

    image = np.asarray(image)
    side = image.shape[0]
    if labels:
        if side == size:
            return image
        out = resize(image, (size, size), order=0, anti_aliasing=False, preserve_range=True)
        return out.astype(image.dtype)
    if side != size:
        image = resize(image, (size, size), order=1, anti_aliasing=side > size, preserve_range=True)
    return image.astype(np.float32, copy=False)


def to_canvas(image: np.ndarray, size: int, labels: bool = False, fill: float | None = None,
              side: int | None = None) -> np.ndarray:
    """A slice as a ``size`` x ``size`` model input: centred on its canvas (``side``; default
    :func:`canvas_side`) and resized. ``fill`` defaults to 0 for labels and -1 for images (the
    [-1, 1] range models train in)."""
    image = np.asarray(image)
    side = canvas_side(*image.shape) if side is None else int(side)
    if labels:
        square = center_on_square(image.astype(np.uint8), side, 0 if fill is None else fill)
    else:
        square = center_on_square(image.astype(np.float32), side, -1.0 if fill is None else fill)
    return resize_square(square, size, labels=labels)


def from_canvas(image: np.ndarray, side: int, shape: tuple[int, int]) -> np.ndarray:
    """A model output (square, any size) back on the grid of the slice of ``shape`` that
    :func:`to_canvas` centred on a ``side`` canvas."""
    image = resize_square(np.asarray(image, np.float32), side)
    h, w = shape
    top, left = (side - h) // 2, (side - w) // 2
    return image[top:top + h, left:left + w]


def to_square(image: np.ndarray, size: int, fill: float = -1.0) -> np.ndarray:
    """An image of any shape as a ``size`` x ``size`` float32 square: padded to its larger side
    with ``fill`` (no distortion, nothing cropped), then resized linearly."""
    return resize_square(pad_to_square(np.asarray(image, np.float32), fill), size)
