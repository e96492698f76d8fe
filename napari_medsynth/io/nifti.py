"""Reading and writing single NIfTI volumes safely.

Every volume is brought to one display orientation, *by axis permutation and flips only*
(no resampling, so values are untouched and the operation is exactly invertible):

    array axis 0 -> S (inferior to superior: the axial slice index)
    array axis 1 -> P (anterior at the top of an axial slice)
    array axis 2 -> L (patient's right on the viewer's left: radiological convention)

This is nibabel's closest-canonical orientation (RAS+) with the axes reversed and the
in-plane axes flipped so napari shows axial slices the way radiologists read them. The affine
that maps the reoriented voxels to scanner (RAS+ mm) space is kept, together with the file's
original affine, header and storage orientation, so writing a layer back reproduces the original
file's voxel layout exactly. Oblique files are reoriented to their closest axes; the oblique
affine is kept in metadata (display is in the voxel grid, voxel sizes as layer scale).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import (
    apply_orientation,
    axcodes2ornt,
    inv_ornt_aff,
    io_orientation,
    ornt_transform,
)

from .atomic import atomic_write
from .errors import NonFiniteVoxelsWarning, VolumeReadError, VolumeWriteError
from .nifti_checks import MAX_BYTES as MAX_BYTES  # re-exported: the caps live in nifti_checks
from .nifti_checks import MAX_CHANNELS as MAX_CHANNELS
from .nifti_checks import MAX_VOXELS as MAX_VOXELS
from .nifti_checks import limits, load_nifti

#: Orientation of the array axes of every volume the project hands out.
DISPLAY_AXCODES = ("S", "P", "L")
_DISPLAY_ORNT = axcodes2ornt(DISPLAY_AXCODES)

#: File name endings (before .nii/.nii.gz) that mark a label map.
LABEL_SUFFIXES = ("_seg", "-seg", "_labels7", "-labels7", "_labels", "_label", "_mask", "_tissues", "-tissues")

#: An integer volume with at most this many distinct values is treated as a label map.
MAX_LABEL_VALUES = 64

NIFTI_EXTENSIONS = (".nii", ".nii.gz")


@dataclass
class Volume:
    """A volume in display orientation plus everything needed to write it back exactly."""

    data: np.ndarray
    kind: str  # "image" or "labels"
    name: str
    affine: np.ndarray  # display voxel (axis0, axis1, axis2) -> RAS+ mm
    spacing: tuple[float, ...]  # voxel size along the display axes (mm)
    source_affine: np.ndarray
    source_shape: tuple[int, ...]
    source_ornt: np.ndarray
    header_bytes: bytes
    path: str = ""
    channel_names: list[str] = field(default_factory=list)
    nonfinite_replaced: int = 0
    #: For BraTS segmentations: the file's tumor-label convention ("brats2018" or "brats2023");
    #: ``data`` always holds the internal values (4 for ET).
    label_convention: str = ""

    @property
    def is_multichannel(self) -> bool:
        return self.data.ndim == 4

    def metadata(self) -> dict:
        """Plain-data description kept in ``layer.metadata['medsynth']`` for the writer."""
        return {
            "affine": self.affine.tolist(),
            "spacing": list(self.spacing),
            "source_affine": self.source_affine.tolist(),
            "source_shape": list(self.source_shape),
            "source_ornt": self.source_ornt.tolist(),
            "header_bytes": self.header_bytes,
            "path": self.path,
            "kind": self.kind,
            "axcodes": "".join(DISPLAY_AXCODES),
            "nonfinite_replaced": self.nonfinite_replaced,
            "label_convention": self.label_convention,
        }


def is_nifti_path(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return name.endswith(NIFTI_EXTENSIONS)


def strip_nifti_extension(name: str) -> str:
    for ext in (".nii.gz", ".nii"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def read_volume(path: str | os.PathLike, kind: str = "auto", max_voxels: int | None = None,
                max_bytes: int | None = None, max_channels: int | None = None) -> Volume:
    """Read one NIfTI file into a :class:`Volume` in display orientation.

    ``kind`` is "auto" (decide from the file name and the values), "image" or "labels".
    ``max_voxels``, ``max_bytes`` and ``max_channels`` cap what the header may claim (default: the
    ``NAPARI_MEDSYNTH_MAX_*`` environment variables, else :data:`MAX_VOXELS`, :data:`MAX_BYTES`,
    :data:`MAX_CHANNELS`); see :mod:`.nifti_checks` for every check.
    Raises :class:`VolumeReadError` with a message meant for the person who chose the file.
    """
    path = Path(path)
    if kind not in ("auto", "image", "labels"):
        raise ValueError(f"kind must be 'auto', 'image' or 'labels', not {kind!r}")
    info, data, source_affine = load_nifti(path, limits(max_voxels, max_bytes, max_channels))
    n_bad = 0
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        n_bad = int(bad.sum())
        if n_bad:
            warnings.warn(
                f"{path.name}: {n_bad} voxel(s) were NaN or infinite and were replaced by 0.",
                NonFiniteVoxelsWarning,
                stacklevel=2,
            )
            data = np.where(bad, 0, data).astype(data.dtype, copy=False)

    name = strip_nifti_extension(path.name)
    decided = _decide_kind(name, data) if kind == "auto" else kind
    if decided == "labels":
        data = _as_label_array(path, data)

    # 2-D files become a single axial slice; 4-D files keep their 4th axis as channels.
    spatial = data[:, :, None] if data.ndim == 2 else data
    source_ornt = io_orientation(source_affine)
    transform = ornt_transform(source_ornt, _DISPLAY_ORNT)
    spatial_shape = spatial.shape[:3]
    display = apply_orientation(spatial, transform)
    affine = source_affine @ inv_ornt_aff(transform, spatial_shape)
    spacing = tuple(float(s) for s in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))
    channel_names: list[str] = []
    if display.ndim == 4:  # channels first for napari's channel_axis
        display = np.moveaxis(display, 3, 0)
        channel_names = [f"{name}[{i}]" for i in range(display.shape[0])]
    return Volume(
        data=np.ascontiguousarray(display),
        kind=decided,
        name=name,
        affine=affine,
        spacing=spacing,
        source_affine=source_affine,
        source_shape=info.raw_shape,
        source_ornt=source_ornt,
        header_bytes=info.image_header().binaryblock,
        path=str(path),
        channel_names=channel_names,
        nonfinite_replaced=n_bad,
    )


def _decide_kind(name: str, data: np.ndarray) -> str:
    if name.lower().endswith(LABEL_SUFFIXES):
        return "labels"
    if data.ndim == 4 or data.dtype.kind not in "iub":
        return "image"
    return "labels" if data.size and len(np.unique(data)) <= MAX_LABEL_VALUES else "image"


def _as_label_array(path: Path, data: np.ndarray) -> np.ndarray:
    if data.ndim == 4:
        raise VolumeReadError(f"{path.name}: a label map must be 2-D or 3-D, this file is 4-D.")
    if data.dtype.kind in "iub":
        return data
    if not np.all(np.equal(np.mod(data, 1), 0)):
        raise VolumeReadError(f"{path.name}: cannot use as labels: it holds non-integer values.")
    if data.size and (data.min() < 0 or data.max() > np.iinfo(np.int32).max):
        raise VolumeReadError(f"{path.name}: cannot use as labels: values outside 0..2^31.")
    return data.astype(np.int32)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def display_affine_from_spacing(spacing) -> np.ndarray:
    """Affine for a display-oriented array that came with no file: (S, P, L) axes, origin 0."""
    s = [float(v) for v in spacing][-3:]
    while len(s) < 3:
        s.insert(0, 1.0)
    aff = np.zeros((4, 4))
    aff[2, 0] = s[0]  # axis 0 -> +z (S)
    aff[1, 1] = -s[1]  # axis 1 -> -y (P)
    aff[0, 2] = -s[2]  # axis 2 -> -x (L)
    aff[3, 3] = 1.0
    return aff


def write_volume(path: str | os.PathLike, data: np.ndarray, meta: dict | None = None, kind: str = "image",
                 spacing=None) -> str:
    """Write a display-oriented array back to NIfTI, atomically.

    With ``meta`` from :meth:`Volume.metadata` the original storage orientation, shape,
    affine and header are restored, so read -> write -> read is exact.
    """
    path = Path(path)
    if not is_nifti_path(path):
        raise VolumeWriteError(f"{path.name}: choose a .nii or .nii.gz file name.")
    arr = np.asarray(data)
    if kind == "labels" and arr.dtype.kind not in "iub":
        raise VolumeWriteError("labels must hold integers")
    if kind == "labels" and meta and meta.get("label_convention"):
        from ..labels import seg_from_internal

        arr = seg_from_internal(arr, meta["label_convention"])
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise VolumeWriteError(f"only 2-D and 3-D layers can be written as NIfTI (got shape {arr.shape}).")
    if meta and "source_ornt" in meta:
        source_ornt = np.asarray(meta["source_ornt"], dtype=float)
        back = apply_orientation(arr, ornt_transform(_DISPLAY_ORNT, source_ornt))
        source_shape = tuple(meta["source_shape"])
        if int(np.prod(source_shape)) == back.size:
            back = back.reshape(source_shape)
        header = nib.Nifti1Header(binaryblock=meta["header_bytes"]) if len(meta["header_bytes"]) == 348 \
            else nib.Nifti2Header(binaryblock=meta["header_bytes"])
        affine = np.asarray(meta["source_affine"], dtype=float)
    else:
        back = arr
        header = nib.Nifti1Header()
        affine = display_affine_from_spacing(spacing if spacing is not None else (1, 1, 1))
    back = _storage_dtype(back, kind)
    header = header.copy()
    header.set_data_dtype(back.dtype)
    img_cls = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    img = img_cls(back, affine, header=header)
    img.header.set_slope_inter(1.0, 0.0)
    img.set_qform(affine, code=int(header["qform_code"]) or 1)
    img.set_sform(affine, code=int(header["sform_code"]) or 1)
    atomic_save(img, path)
    return str(path)


def _storage_dtype(arr: np.ndarray, kind: str) -> np.ndarray:
    if kind != "labels":
        return arr
    if arr.size == 0:
        return arr.astype(np.uint8)
    lo, hi = int(arr.min()), int(arr.max())
    for dt in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return arr.astype(dt, copy=False)
    return arr.astype(np.int64)


def atomic_save(img, path: Path) -> None:
    """Save a nibabel image through :func:`atomic_write`; failures become :class:`VolumeWriteError`."""
    path = Path(path)
    suffix = ".tmp.nii.gz" if path.name.lower().endswith(".gz") else ".tmp.nii"
    try:
        atomic_write(path, lambda tmp: nib.save(img, tmp), suffix=suffix)
    except Exception as exc:
        raise VolumeWriteError(f"could not write {path}: {exc}") from exc
