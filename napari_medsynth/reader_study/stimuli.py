"""Turning real and synthetic images into interchangeable study stimuli.

A blind reader study is only blind if nothing but the image content differs between real and
synthetic stimuli. Every image therefore goes through the *same* steps, whatever it came from:

1. load as a 2-D float array (PNG/JPEG/TIFF as greyscale, NPY, a NIfTI axial slice, or an array
   handed over from a generated batch);
2. make it square (``fit``: pad with its darkest value, crop the centre, or stretch as SAGE did);
3. resize to ``size`` x ``size`` (SAGE: 100 x 100) with linear interpolation;
4. rescale to 0..1 between its own 0.5th and 99.5th percentiles, so every stimulus spans the
   full grey range (no brightness or bit-depth cue);
5. store as 8-bit greyscale PNG written *uncompressed* with no metadata chunks: every file of a
   study then has exactly the same size and byte layout, so neither a file browser's size column
   nor a PNG's text chunks can tell real from synthetic.

NIfTI volumes give their middle axial slice (``slices="middle"``) or every axial slice that is
not constant (``slices="all"``), in the radiological display orientation of :mod:`..io`.
3-D NPY arrays are read as stacks of 2-D images along the first axis (a generated batch).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import is_nifti_path, percentile_rescale, read_volume

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
ARRAY_SUFFIXES = (".npy",)
FITS = ("pad", "crop", "stretch")
SLICE_MODES = ("middle", "all")


class StimulusError(ValueError):
    """An image cannot be used as a stimulus; the message names the file."""


@dataclass(frozen=True)
class SourceImage:
    """One candidate image. ``origin`` (file and slice) goes to the organizer's key only."""

    source: str  # "real" or "synthetic"
    group: str
    origin: str
    tumor: bool | None = None
    load: Callable[[], np.ndarray] = field(default=None, repr=False, compare=False)

    def pixels(self) -> np.ndarray:
        """The image as a finite 2-D float64 array."""
        return as_2d_float(self.load(), self.origin)


def as_2d_float(image, origin: str = "image") -> np.ndarray:
    """Greyscale float64 2-D array; RGB(A) is converted to luminance, singleton axes dropped."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        from skimage.color import rgb2gray

        arr = rgb2gray(arr[..., :3])
    elif arr.ndim == 3 and arr.shape[-1] == 2 and arr.shape[0] > 4:  # grey + alpha
        arr = arr[..., 0]
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise StimulusError(f"{origin}: expected a 2-D image, got shape {np.shape(image)}.")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "uif":
        raise StimulusError(f"{origin}: unsupported pixel type {arr.dtype}.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise StimulusError(f"{origin}: contains NaN or infinite values.")
    return arr


def prepare(image: np.ndarray, size: int = 100, fit: str = "pad") -> np.ndarray:
    """The stimulus for one image: ``size`` x ``size`` uint8 spanning 0..255 (see module doc)."""
    from skimage.transform import resize

    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    if int(size) < 8:
        raise ValueError(f"display size must be at least 8 pixels (got {size})")
    img = as_2d_float(image)
    h, w = img.shape
    if fit == "pad" and h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        img = np.pad(img, ((top, side - h - top), (left, side - w - left)), constant_values=img.min())
    elif fit == "crop" and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top:top + side, left:left + side]
    img = resize(img, (int(size), int(size)), order=1, preserve_range=True,
                 anti_aliasing=img.shape[0] > size, mode="edge")
    if float(np.percentile(img, 99.5)) <= float(np.percentile(img, 0.5)):
        raise StimulusError("the image is (almost) constant: nothing to show a reader.")
    unit = percentile_rescale(img, 0.5, 99.5)
    return np.round(unit * 255.0).astype(np.uint8)


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> None:
    """8-bit greyscale PNG, uncompressed, no text/time/resolution chunks (constant file size)."""
    from PIL import Image

    arr = np.asarray(pixels)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError("stimuli are 2-D uint8 arrays")
    Image.fromarray(arr).save(str(path), format="PNG", compress_level=0, optimize=False)


def read_png(path: str | os.PathLike) -> np.ndarray:
    """A stimulus as a 2-D uint8 array."""
    from PIL import Image

    with Image.open(str(path)) as im:
        return np.asarray(im.convert("L"))


# --------------------------------------------------------------------------------------------
# Sources: folders and arrays
# --------------------------------------------------------------------------------------------


def list_folder(folder: str | os.PathLike, source: str, group: str, tumor: bool | None = None,
                slices: str = "middle") -> list[SourceImage]:
    """All usable images directly inside ``folder`` (sorted by name; hidden files skipped)."""
    folder = Path(folder)
    if slices not in SLICE_MODES:
        raise ValueError(f"slices must be one of {SLICE_MODES}, not {slices!r}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{source} images for group {group!r}: folder not found: {folder}")
    found: list[SourceImage] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        found.extend(_images_in_file(path, source, group, tumor, slices))
    if not found:
        raise StimulusError(f"{folder}: no images found (PNG, JPEG, TIFF, NPY or NIfTI files).")
    return found


def from_arrays(images: Iterable[np.ndarray] | np.ndarray, source: str, group: str,
                tumor: bool | None = None, name: str = "batch") -> list[SourceImage]:
    """Stimulus candidates from in-memory images, e.g. a generated (N, H, W) batch."""
    stack = list(_as_stack(np.asarray(images), name)) if isinstance(images, np.ndarray) else list(images)
    return [SourceImage(source, group, f"{name}[{i}]", tumor, functools.partial(np.asarray, img))
            for i, img in enumerate(stack)]


def native_description(image: SourceImage) -> str:
    """Shape and pixel kind before processing, e.g. ``'240x240 uint8'`` (for blinding warnings)."""
    raw = np.asarray(image.load())
    return f"{'x'.join(str(s) for s in raw.shape)} {raw.dtype}"


def _images_in_file(path: Path, source, group, tumor, slices) -> list[SourceImage]:
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return [SourceImage(source, group, str(path), tumor, functools.partial(_read_picture, path))]
    if name.endswith(ARRAY_SUFFIXES):
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if arr.ndim == 2:
            return [SourceImage(source, group, str(path), tumor, functools.partial(_npy_item, path, None))]
        n = len(_as_stack(arr, str(path)))
        return [SourceImage(source, group, f"{path}[{i}]", tumor, functools.partial(_npy_item, path, i))
                for i in range(n)]
    if is_nifti_path(path):
        volume = _read_axial_stack(path)
        if slices == "middle":
            indices = [volume.shape[0] // 2]
        else:
            indices = [k for k in range(volume.shape[0]) if np.ptp(volume[k]) > 0]
        return [SourceImage(source, group, f"{path}[axial {k}]", tumor,
                            functools.partial(_nifti_slice, path, k)) for k in indices]
    return []  # other files (notes, spreadsheets) are not images


def _read_picture(path: Path) -> np.ndarray:
    from skimage.io import imread

    try:
        return imread(str(path))
    except Exception as exc:  # imageio/PIL raise many types for damaged files
        raise StimulusError(f"{path}: not a readable image ({exc}).") from exc


def _as_stack(arr: np.ndarray, origin: str) -> np.ndarray:
    if arr.ndim == 4 and 1 in (arr.shape[1], arr.shape[3]):  # (N,1,H,W) or (N,H,W,1) batches
        arr = arr[:, 0] if arr.shape[1] == 1 else arr[..., 0]
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim != 3:
        raise StimulusError(f"{origin}: expected a 2-D image or an (N, H, W) stack, got shape {arr.shape}.")
    return arr


def _npy_item(path: Path, index: int | None) -> np.ndarray:
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.array(arr if index is None else _as_stack(arr, str(path))[index])


@functools.lru_cache(maxsize=2)
def _read_axial_stack(path: Path) -> np.ndarray:
    """The volume in display orientation; axis 0 is the axial slice index (cached: slices of one
    file are prepared one after another)."""
    volume = read_volume(path, kind="image")
    if volume.is_multichannel:
        raise StimulusError(f"{path}: 4-D volumes are not supported as stimuli; split the channels first.")
    return volume.data


def _nifti_slice(path: Path, k: int) -> np.ndarray:
    return np.array(_read_axial_stack(path)[k])
