"""Turning real and synthetic images into interchangeable study stimuli.

A blind reader study is only blind if nothing but the anatomy differs between real and
synthetic stimuli. Every image therefore goes through the *same* steps, whatever it came from,
and everything that is not anatomy is made equal:

1. load as a 2-D float array (PNG/JPEG/TIFF as greyscale, NPY, a NIfTI axial slice, or an array
   handed over from a generated batch);
2. dequantise (:func:`dequantize`): values of a coarsely quantised source (an 8-bit PNG whose
   brain spans 120 grey levels) are spread over their quantisation step, so that after the
   stretch of step 5 an 8-bit source and a float one have the same gap-free histogram (no
   bit-depth cue from the number of grey levels);
3. brain mask by one rule for both sources (:func:`brain_mask`), at the native resolution;
   outside it every image gets the same background (the brain's darkest level), so a noisy
   generated background and a zero real one are resampled alike;
4. make it square (``fit``: pad with the background, crop the centre, or stretch as SAGE did)
   and resample to ``size`` x ``size`` (SAGE: 100 x 100), image and mask the same way: linear
   interpolation, anti-aliased when shrinking;
5. window inside the mask between its own 0.5th and 99.5th percentiles and quantise to 8 bits
   (0..255), everything outside the mask exactly 0: every stimulus spans the full grey range (no
   brightness or bit-depth cue) on the same black background;
6. store as 8-bit greyscale PNG written *uncompressed* with no metadata chunks: every file of a
   study then has exactly the same size and byte layout, so neither a file browser's size column
   nor a PNG's text chunks can tell real from synthetic.

What remains is content (contrast, texture, anatomy); :mod:`.leakcheck` measures whether a simple
histogram classifier can still tell the sources apart.

Folders: only images are taken. Label maps and masks (``<stem>_label.npy``, ``*_seg.nii.gz``,
``*_mask.png``...) are skipped, and several renderings of one stem (``sage generate`` writes
``x.npy`` and, with ``--format png``, ``x.png``) count once, the most faithful one (NPY, then
NIfTI, TIFF, PNG, BMP, JPEG).

NIfTI volumes give their middle axial slice (``slices="middle"``) or every axial slice that is
not constant (``slices="all"``), in the radiological display orientation of :mod:`..io`.
3-D NPY arrays are read as stacks of 2-D images along the first axis (a generated batch).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import is_nifti_path, percentile_rescale, read_volume

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
ARRAY_SUFFIXES = (".npy",)
FITS = ("pad", "crop", "stretch")
SLICE_MODES = ("middle", "all")
#: renderings of one stem, most faithful first (the first one found is taken)
_FIDELITY = (".npy", ".nii.gz", ".nii", ".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg")
#: names of label maps and masks beside the images (sage generate: <stem>_label.npy)
LABEL_NAME = re.compile(r"[_.-](labels?\d*|labelmap|mask|brainmask|seg|segmentation)$", re.IGNORECASE)
MASK_LEVEL = 0.1  # brain mask: above 10% of the robust range (1st..99th percentile), smoothed


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
    """The stimulus for one image: ``size`` x ``size`` uint8 spanning 0..255, background exactly 0
    (see the module doc)."""
    from skimage.transform import resize

    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    if int(size) < 8:
        raise ValueError(f"display size must be at least 8 pixels (got {size})")
    size = int(size)
    img = as_2d_float(image)
    if float(np.percentile(img, 99.5)) <= float(np.percentile(img, 0.5)):
        raise StimulusError("the image is (almost) constant: nothing to show a reader.")
    img = dequantize(img)
    mask = brain_mask(img)  # at the native resolution, before any blur mixes background in
    if mask.sum() < 4:
        raise StimulusError("the image has (almost) no foreground: nothing to show a reader.")
    floor = float(np.percentile(img[mask], 0.5))
    img = np.where(mask, img, floor)  # one background for every source: the brain's darkest level
    img, mask = _square(img, fit, floor), _square(mask.astype(np.float64), fit, 0.0)
    shrink = img.shape[0] > size
    img = resize(img, (size, size), order=1, preserve_range=True, anti_aliasing=shrink, mode="edge")
    mask = resize(mask, (size, size), order=1, preserve_range=True, anti_aliasing=shrink, mode="edge") > 0.5
    if mask.sum() < 4 or float(np.percentile(img[mask], 99.5)) <= float(np.percentile(img[mask], 0.5)):
        raise StimulusError("the image is (almost) constant: nothing to show a reader.")
    unit = percentile_rescale(img, 0.5, 99.5, mask=mask)
    unit[~mask] = 0.0
    return np.round(unit * 255.0).astype(np.uint8)


def _square(img: np.ndarray, fit: str, fill: float) -> np.ndarray:
    h, w = img.shape
    if fit == "pad" and h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        return np.pad(img, ((top, side - h - top), (left, side - w - left)), constant_values=fill)
    if fit == "crop" and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        return img[top:top + side, left:left + side]
    return img  # square already, or "stretch": the resize makes it square


def dequantize(img: np.ndarray) -> np.ndarray:
    """Spread coarsely quantised values (an 8-bit PNG, integer NIfTI) uniformly over their
    quantisation step, as a float source would have them: afterwards neither the number of grey
    levels nor the gaps of a stretched histogram tell an 8-bit source from a float one. The step is
    the smallest difference between distinct values (negligible for float images); the dither is
    seeded by the pixels, so one image always gives the same stimulus."""
    values = np.unique(img)
    if values.size < 16:  # a drawing or a mask, not an MR image: leave it alone
        return img
    step = float(np.diff(values).min())
    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(img).tobytes()).digest()[:8], "big")
    return img + np.random.default_rng(seed).uniform(-step / 2, step / 2, img.shape)


def brain_mask(img: np.ndarray) -> np.ndarray:
    """Foreground of a display-size image, by one rule for every source: above 10% of the robust
    intensity range (1st..99th percentile) after a little smoothing, specks (parts under a tenth
    of the largest) dropped, holes (dark ventricles, necrosis) filled."""
    from scipy import ndimage

    img = np.asarray(img, dtype=np.float64)
    smooth = ndimage.gaussian_filter(img, 1.0, mode="nearest")
    lo, hi = np.percentile(smooth, [1, 99])
    level = lo + MASK_LEVEL * (hi - lo)
    mask = (smooth > level) & (img > level)  # no dark rim of background around the brain
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask = np.isin(labels, 1 + np.flatnonzero(sizes >= 0.1 * sizes.max()))
    return ndimage.binary_fill_holes(mask)


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
                slices: str = "middle", skipped: list[str] | None = None) -> list[SourceImage]:
    """All usable images directly inside ``folder`` (sorted by name; hidden files skipped). Label
    maps and masks are skipped, and of several renderings of one stem only the most faithful is
    taken (see the module doc); ``skipped`` collects the names left out."""
    folder = Path(folder)
    if slices not in SLICE_MODES:
        raise ValueError(f"slices must be one of {SLICE_MODES}, not {slices!r}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{source} images for group {group!r}: folder not found: {folder}")
    by_stem: dict[str, list[tuple[int, Path]]] = {}
    labels: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        suffix = next((s for s in _FIDELITY if path.name.lower().endswith(s)), None)
        if suffix is None and not is_nifti_path(path):
            continue  # notes, spreadsheets, sidecars: not images
        suffix = suffix or path.suffix.lower()
        stem = path.name[:len(path.name) - len(suffix)]
        if LABEL_NAME.search(stem):
            labels.append(path.name)
            continue
        rank = _FIDELITY.index(suffix) if suffix in _FIDELITY else len(_FIDELITY)
        by_stem.setdefault(stem.casefold(), []).append((rank, path))
    found: list[SourceImage] = []
    twins: list[str] = []
    for stem in sorted(by_stem, key=lambda k: min(p for _, p in by_stem[k])):
        renderings = sorted(by_stem[stem])
        twins.extend(p.name for _, p in renderings[1:])
        found.extend(_images_in_file(renderings[0][1], source, group, tumor, slices))
    if skipped is not None:
        skipped.extend(labels + twins)
    if not found:
        extra = f" ({len(labels)} label/mask file(s) skipped)" if labels else ""
        raise StimulusError(f"{folder}: no images found (PNG, JPEG, TIFF, NPY or NIfTI files){extra}.")
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
