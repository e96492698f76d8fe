"""Tumor crops (TC), binary tumor crops (BTC) and tumor-free slices (PHI) from labelled volumes.

SAGE (paper §III-A) separates a labelled data set into three macro-features: tumor texture (TC),
tumor shape (BTC) and location (tumor-free slices of the same patients, PHI, plus the tumors'
position, size and orientation). This module turns one image + tumor mask pair into those
pieces; :mod:`napari_medsynth.sage.dataset` stores them.

Choices, and why:

* **One crop per axial slice**: the largest 2-D connected component (8-connectivity) of the
  tumor mask in that slice. BraTS-style labels (edema around an enhancing rim around necrosis)
  form one component, and one crop per slice keeps (patient, slice) a unique key. Satellite
  lesions in the same slice are dropped. Slices whose largest component is smaller than
  ``settings.min_tumor_pixels`` are skipped and counted.
* **A 1 mm in-plane grid**: every axial slice is resampled to 1 x 1 mm pixels (BraTS' grid, so
  BraTS files are untouched) before anything is measured or cropped. An anisotropic file (e.g.
  0.5 x 1.25 mm) then gives the same round tumor, the same crop framing, size and orientation
  as an isotropic one, and ``margin``, ``min_tumor_pixels`` and ``area_px`` mean millimetres and
  square millimetres whatever the scanner. The stored ``bbox`` is the tumor component's tight
  box in the *original* slice's voxel indices.
* **BTC is the resized tumor mask** (linear interpolation, threshold 0.5). The paper thresholds
  the TC; with a mask at hand thresholding would drop dark necrosis inside the tumor. TC is the
  resized image multiplied by the BTC, so TC > 0 only where BTC = 1.
* **Intensities**: one 0.5-99.5 percentile scale per volume, computed inside the brain, mapped
  to [0, 1]; background stays 0.
* **PHI**: axial slices without any tumor voxel whose brain area is at least
  ``min_brain_fraction`` of the largest brain area in the volume (the top and bottom of the head
  are too small to host a tumor), padded to a square (centred) and resized to ``phi_size``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.measure import regionprops
from skimage.transform import resize

from ..geometry import pad_to_square
from ..io.normalize import brain_mask as _brain_mask
from ..io.normalize import percentile_rescale
from ..io.skull import warn_if_not_skull_stripped
from .dataset import CropDataset, CropDatasetError, CropRecord, CropSettings, PhiRecord

#: A tumor-free slice becomes a PHI when its brain area is at least this fraction of the
#: largest brain area of the volume.
MIN_BRAIN_FRACTION = 0.25

#: In-plane pixel size (mm) of the grid every slice is resampled to before cropping.
GRID_MM = 1.0

_EIGHT = np.ones((3, 3), bool)


@dataclass
class PatientCrops:
    """Everything :func:`extract_patient` found in one volume."""

    tc: np.ndarray  # (N, S, S) float32 [0, 1]
    btc: np.ndarray  # (N, S, S) uint8 {0, 1}
    crops: list[CropRecord]
    phi: np.ndarray  # (M, P, P) float32 [0, 1]
    phi_mask: np.ndarray  # (M, P, P) uint8 {0, 1}
    phi_records: list[PhiRecord]
    skipped_small: int = 0  # tumor slices whose largest component was below min_tumor_pixels

    def __iter__(self):  # allows ``tc, btc, crops, phi, phi_mask, phi_records = extract_patient(...)``
        return iter((self.tc, self.btc, self.crops, self.phi, self.phi_mask, self.phi_records))


@dataclass
class AddSummary:
    """What :func:`add_volume_pair` added, and the dataset's totals afterwards."""

    patient: str
    klass: str
    n_crops: int
    n_phi: int
    skipped_small: int
    total_patients: int
    total_crops: int
    total_phi: int
    dataset: str

    def line(self) -> str:
        skipped = (f", {self.skipped_small} tumor slice(s) below the size threshold skipped"
                   if self.skipped_small else "")
        return (f"{self.patient} ({self.klass}): {self.n_crops} tumor crops, {self.n_phi} tumor-free slices{skipped}; "
                f"dataset now {_plural(self.total_patients, 'patient')}, {self.total_crops} crops, "
                f"{self.total_phi} tumor-free slices")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- geometry helpers ------------------------------------------------------------------------
def _inplane_zoom(spacing: Sequence[float] | None) -> tuple[float, float]:
    """Zoom factors (rows, cols) that bring a slice to :data:`GRID_MM` pixels (None: already there)."""
    if spacing is None:
        return 1.0, 1.0
    sy, sx = float(spacing[-2]), float(spacing[-1])
    if not (sy > 0 and sx > 0):
        raise ValueError(f"voxel sizes must be positive (got {spacing})")
    return sy / GRID_MM, sx / GRID_MM


def _to_iso(slice2d: np.ndarray, zoom: tuple[float, float], binary: bool) -> np.ndarray:
    if zoom == (1.0, 1.0):
        return slice2d.astype(bool) if binary else slice2d.astype(np.float32)
    shape = (max(1, round(slice2d.shape[0] * zoom[0])), max(1, round(slice2d.shape[1] * zoom[1])))
    if binary:
        return resize(slice2d.astype(np.float32), shape, order=1, anti_aliasing=False) >= 0.5
    shrink = min(zoom) < 1.0
    return resize(slice2d.astype(np.float32), shape, order=1, anti_aliasing=shrink).astype(np.float32)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=_EIGHT)
    if n <= 1:
        return lab > 0
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(sizes.argmax())


def _square_box(rows: np.ndarray, cols: np.ndarray, margin: int) -> tuple[int, int, int]:
    """Top-left corner and side of the square box around a component, with ``margin`` pixels."""
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = int(max(r1 - r0, c1 - c0)) + 2 * margin
    top = int((r0 + r1) // 2 - side // 2)
    left = int((c0 + c1) // 2 - side // 2)
    return top, left, side


def _cut(img: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    """``img[top:top+side, left:left+side]`` with zeros where the box leaves the slice."""
    out = np.zeros((side, side), img.dtype)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + side, img.shape[0]), min(left + side, img.shape[1])
    if r1 > r0 and c1 > c0:
        out[r0 - top:r1 - top, c0 - left:c1 - left] = img[r0:r1, c0:c1]
    return out


def tumor_mask(labels: np.ndarray, tumor_labels: Sequence[int] | None = None) -> np.ndarray:
    """Boolean tumor mask: all non-zero labels, or only those in ``tumor_labels``."""
    labels = np.asarray(labels)
    if tumor_labels is None:
        return labels != 0
    return np.isin(labels, np.asarray(list(tumor_labels)))


def scale_volume(image: np.ndarray, brain: np.ndarray | None = None) -> np.ndarray:
    """The volume's 0.5-99.5 percentile range inside the brain mapped to [0, 1] (background 0)."""
    img = np.asarray(image, dtype=np.float32)
    brain = _brain_mask(img) if brain is None else brain
    if not brain.any():
        raise ValueError("the image has no voxel above 0: no brain to crop from (is it skull-stripped MR?)")
    out = percentile_rescale(img, mask=brain)
    out[~brain] = 0.0
    return out


# --- extraction ------------------------------------------------------------------------------
def extract_patient(image: np.ndarray, labels: np.ndarray | None, settings: CropSettings | None = None,
                    patient: str = "patient", klass: str = "tumor", tumor_labels: Sequence[int] | None = None,
                    spacing: Sequence[float] | None = None,
                    min_brain_fraction: float = MIN_BRAIN_FRACTION) -> PatientCrops:
    """Tumor crops, binary tumor crops and tumor-free slices of one volume.

    ``image`` and ``labels`` are (Z, Y, X) arrays in display orientation (axis 0 = axial slice).
    ``labels=None`` means a tumor-free volume: it contributes only PHI. ``spacing`` is the voxel
    size along the three axes (mm); only the in-plane pair matters (see the module docstring),
    None means 1 mm pixels.
    Unpack the result as ``tc, btc, crops, phi, phi_mask, phi_records``.
    """
    s = settings or CropSettings()
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"the image must be a 3-D volume, got shape {image.shape}")
    if labels is not None and np.shape(labels) != image.shape:
        raise ValueError(f"the labels (shape {np.shape(labels)}) do not match the image (shape {image.shape}); "
                         "they must be on the same voxel grid")
    if s.crop_size < 8 or s.phi_size < 8 or s.margin < 0 or s.min_tumor_pixels < 1:
        raise ValueError(f"crop size and slice size must be >= 8, margin >= 0, minimum tumor size >= 1 (got {s})")
    zoom = _inplane_zoom(spacing)
    warn_if_not_skull_stripped(image, spacing, f"the image of {patient}", "tumor-crop extraction's brain mask")
    brain = _brain_mask(np.asarray(image, dtype=np.float32))
    tumor = tumor_mask(labels, tumor_labels) if labels is not None else np.zeros(image.shape, bool)
    brain |= tumor
    scaled = scale_volume(image, brain)
    c = s.crop_size

    tcs, btcs, records, skipped = [], [], [], 0
    for z in np.flatnonzero(tumor.any(axis=(1, 2))):
        comp_orig = _largest_component(tumor[z])
        comp = _largest_component(_to_iso(comp_orig, zoom, binary=True))
        area = int(comp.sum())
        if area < s.min_tumor_pixels:
            skipped += 1
            continue
        img = _to_iso(scaled[z], zoom, binary=False)
        br = _to_iso(brain[z], zoom, binary=True) | comp
        rows, cols = np.nonzero(comp)
        top, left, side = _square_box(rows, cols, s.margin)
        btc = resize(_cut(comp.astype(np.float32), top, left, side), (c, c), order=1, anti_aliasing=False) >= 0.5
        tc = np.clip(resize(_cut(img, top, left, side), (c, c), order=1, anti_aliasing=True), 0, 1) * btc
        tcs.append(tc.astype(np.float32))
        btcs.append(btc.astype(np.uint8))
        records.append(_crop_record(patient, klass, int(z), comp_orig, comp, br))

    phis, phi_masks, phi_records = [], [], []
    brain_area = brain.sum(axis=(1, 2))
    tumor_free = ~tumor.any(axis=(1, 2))
    enough = brain_area >= min_brain_fraction * max(int(brain_area.max()), 1)
    p = s.phi_size
    for z in np.flatnonzero(tumor_free & enough & (brain_area > 0)):
        img = pad_to_square(_to_iso(scaled[z], zoom, binary=False))
        br = pad_to_square(_to_iso(brain[z], zoom, binary=True)).astype(np.float32)
        phis.append(np.clip(resize(img, (p, p), order=1, anti_aliasing=True), 0, 1).astype(np.float32))
        phi_masks.append((resize(br, (p, p), order=1, anti_aliasing=False) >= 0.5).astype(np.uint8))
        phi_records.append(PhiRecord(patient=patient, slice=int(z)))

    def stack(items, size, dtype):
        return np.stack(items).astype(dtype) if items else np.zeros((0, size, size), dtype)

    return PatientCrops(stack(tcs, c, np.float32), stack(btcs, c, np.uint8), records,
                        stack(phis, p, np.float32), stack(phi_masks, p, np.uint8), phi_records, skipped)


def _crop_record(patient: str, klass: str, z: int, comp_orig: np.ndarray, comp: np.ndarray,
                 brain: np.ndarray) -> CropRecord:
    """Attributes of one tumor component, measured on the 1 mm grid."""
    rows, cols = np.nonzero(comp_orig)
    bbox = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
    br_rows, br_cols = np.nonzero(brain)
    b_r0, b_r1 = br_rows.min(), br_rows.max() + 1
    b_c0, b_c1 = br_cols.min(), br_cols.max() + 1
    props = regionprops(comp.astype(np.uint8))[0]
    cy, cx = props.centroid
    # centre of pixel i is at i + 0.5: relative position inside the brain box, in [0, 1]
    rel_r = float(np.clip((cy + 0.5 - b_r0) / (b_r1 - b_r0), 0.0, 1.0))
    rel_c = float(np.clip((cx + 0.5 - b_c0) / (b_c1 - b_c0), 0.0, 1.0))
    return CropRecord(patient=patient, slice=z, klass=klass, bbox=bbox,
                      centroid_rel=(round(rel_r, 6), round(rel_c, 6)),
                      size_rel=round(float(comp.sum()) / float(brain.sum()), 8),
                      orientation_deg=round(float(np.degrees(props.orientation)), 4),
                      area_px=int(comp.sum()))


# --- files -> dataset ------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def patient_id_from_path(path: str | os.PathLike) -> str:
    """Default patient id: the file name without .nii/.nii.gz and a trailing modality suffix."""
    from ..io.case import parse_case_name
    from ..io.nifti import strip_nifti_extension

    parsed = parse_case_name(path)  # both BraTS namings: X_t1ce, X-t1c, ...
    if parsed is not None:
        return parsed.case
    name = strip_nifti_extension(Path(path).name)
    for suffix in ("_t1gd",):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_pair(image_path: str | os.PathLike, labels_path: str | os.PathLike | None):
    """Read an image and its label map (if any) and check they share one voxel grid."""
    from ..io import read_volume

    image = read_volume(image_path, kind="image")
    if image.data.ndim != 3:
        raise ValueError(f"{Path(image_path).name}: a 3-D image is needed, this file has shape {image.data.shape}")
    labels = None
    if labels_path is not None:
        labels = read_volume(labels_path, kind="labels")
        if labels.data.shape != image.data.shape:
            raise ValueError(f"{Path(labels_path).name} (shape {labels.data.shape}) does not match "
                             f"{Path(image_path).name} (shape {image.data.shape}); the labels must be "
                             "drawn on the image's voxel grid")
        if not np.allclose(labels.affine, image.affine, atol=1e-3 * max(image.spacing)):
            raise ValueError(f"{Path(labels_path).name} and {Path(image_path).name} have the same shape but "
                             "different positions in space (affines differ); the labels belong to another image")
    return image, labels


def add_volume_pair(dataset_dir: str | os.PathLike, image_path: str | os.PathLike,
                    labels_path: str | os.PathLike | None = None, patient: str | None = None,
                    klass: str | None = None, settings: CropSettings | None = None, replace: bool = False,
                    tumor_labels: Sequence[int] | None = None, progress=None) -> AddSummary:
    """Extract one patient's crops and tumor-free slices from files and add them to a dataset.

    ``labels_path=None`` adds a tumor-free (healthy) volume that only contributes PHI. ``patient``
    defaults to the image file name without extension and modality suffix; ``klass`` defaults to
    "tumor" with labels and "healthy" without. The dataset is created if ``dataset_dir`` holds
    none; otherwise ``settings`` (when given) must equal the dataset's. ``progress(done, total,
    message)`` (total 1: a fraction) is called between steps when given.
    """
    patient = patient or patient_id_from_path(image_path)
    _check_can_add(dataset_dir, patient, settings, replace)
    if progress is not None:
        progress(0.05, 1.0, f"reading {Path(image_path).name}")
    image, labels = load_pair(image_path, labels_path)
    source = {
        "image": str(Path(image_path).resolve()),
        "labels": str(Path(labels_path).resolve()) if labels_path is not None else None,
        "image_sha256": sha256_file(image_path),
        "labels_sha256": sha256_file(labels_path) if labels_path is not None else None,
    }
    return add_arrays(dataset_dir, image.data, labels.data if labels is not None else None, image.spacing,
                      patient, klass=klass, settings=settings, replace=replace, tumor_labels=tumor_labels,
                      source=source, labels_name=Path(labels_path).name if labels_path is not None else "labels",
                      progress=progress)


def _check_can_add(dataset_dir, patient: str, settings: CropSettings | None, replace: bool) -> CropDataset:
    if not patient or not patient.strip():
        raise ValueError("the patient id is empty")
    from .crop_store import check_patient_id

    check_patient_id(patient)  # before minutes of extraction, not after
    ds = CropDataset.open_or_create(dataset_dir, settings)
    if patient in ds.patients and not replace:
        raise CropDatasetError(f"patient {patient!r} is already in {dataset_dir}; choose another id or replace it")
    return ds


def add_arrays(dataset_dir: str | os.PathLike, image: np.ndarray, labels: np.ndarray | None,
               spacing: Sequence[float] | None, patient: str, klass: str | None = None,
               settings: CropSettings | None = None, replace: bool = False,
               tumor_labels: Sequence[int] | None = None, source: dict | None = None,
               labels_name: str = "labels", progress=None) -> AddSummary:
    """Like :func:`add_volume_pair` for volumes already in memory (display orientation), e.g.
    napari layers. ``source`` is stored as provenance; without file paths the arrays' sha256 is."""
    def report(f, text):
        if progress is not None:
            progress(f, 1.0, text)

    image = np.asarray(image)
    ds = _check_can_add(dataset_dir, patient, settings, replace)
    klass = klass or ("tumor" if labels is not None else "healthy")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != image.shape:
            raise ValueError(f"the labels (shape {labels.shape}) do not match the image (shape {image.shape}); "
                             "they must be drawn on the image's voxel grid")
        if not tumor_mask(labels, tumor_labels).any():
            which = "any non-zero label" if tumor_labels is None else f"labels {list(tumor_labels)}"
            raise ValueError(f"{labels_name} has no tumor voxels ({which}); paint the tumor, or leave the "
                             "labels out to add a tumor-free volume")
    report(0.3, f"extracting crops of {patient}")
    found = extract_patient(image, labels, ds.settings, patient=patient, klass=klass,
                            tumor_labels=tumor_labels, spacing=spacing)
    from .. import __version__

    if source is None:
        source = {"image": None, "labels": None,
                  "image_sha256": hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest(),
                  "labels_sha256": (hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()
                                    if labels is not None else None)}
    info = {
        "class": klass,
        **source,
        "tumor_labels": list(tumor_labels) if tumor_labels is not None else "all non-zero",
        "shape": list(image.shape),
        "spacing_mm": [round(float(v), 6) for v in spacing] if spacing is not None else None,
        "settings": asdict(ds.settings),
        "min_brain_fraction": MIN_BRAIN_FRACTION,
        "skipped_small_slices": found.skipped_small,
        "napari_medsynth_version": __version__,
        "added": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    ds.add_patient(patient, info, found.tc, found.btc, found.crops, found.phi, found.phi_mask,
                   found.phi_records, replace=replace)
    report(0.85, "writing the dataset")
    ds.save()
    report(1.0, "done")
    return AddSummary(patient, klass, len(found.crops), len(found.phi_records), found.skipped_small,
                      len(ds.patients), len(ds.crops), len(ds.phi_records), str(ds.root))
