"""The tumor-crop dataset folder that SAGE trains on.

Layout of a dataset folder::

    manifest.json   settings, patients, one record per crop and per tumor-free slice
    tc.npy          (N, S, S) float32 in [0, 1]: tumor crops (TC), the image inside the tumor
                    mask (0 outside), bounding box + margin, resized to S = crop_size
    btc.npy         (N, S, S) uint8 {0, 1}: binary tumor crops (BTC), the mask resized alike
    phi.npy         (M, P, P) float32 in [0, 1]: tumor-free axial slices (PHI), padded to a
                    square and resized to P = phi_size
    phi_mask.npy    (M, P, P) uint8 {0, 1}: brain mask of each PHI

Intensities are the volume's 0.5-99.5 percentile range mapped to [0, 1] (one scale per volume,
so crops and slices of one patient stay comparable).

Per-crop attributes, from which the merge takes its ranges (mean +- k * std):

* ``centroid_rel`` (row, col): tumor centroid in the brain's bounding box of that slice, each in
  [0, 1] (0.5, 0.5 is the middle of the brain);
* ``size_rel``: tumor area / brain area in that slice;
* ``orientation_deg``: angle of the tumor's major axis (scikit-image ``regionprops``
  convention, degrees, -90..90).

Splits are patient-wise (:meth:`CropDataset.folds`), never slice-wise. Adding a patient rewrites
the arrays and then the manifest, each atomically, so a crash leaves the previous dataset whole.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_bytes, atomic_write_text

FORMAT = "napari-medsynth-crops"
VERSION = 1
ARRAYS = ("tc", "btc", "phi", "phi_mask")


class CropDatasetError(ValueError):
    """The folder is not a usable crop dataset; the message says why."""


@dataclass
class CropRecord:
    patient: str
    slice: int
    klass: str
    bbox: tuple[int, int, int, int]  # row0, row1, col0, col1 (exclusive ends) in the slice
    centroid_rel: tuple[float, float]
    size_rel: float
    orientation_deg: float
    area_px: int


@dataclass
class PhiRecord:
    patient: str
    slice: int


@dataclass
class CropSettings:
    crop_size: int = 64
    margin: int = 4
    min_tumor_pixels: int = 50
    phi_size: int = 256


@dataclass
class CropDataset:
    root: Path
    settings: CropSettings
    tc: np.ndarray
    btc: np.ndarray
    phi: np.ndarray
    phi_mask: np.ndarray
    crops: list[CropRecord] = field(default_factory=list)
    phi_records: list[PhiRecord] = field(default_factory=list)
    #: patient id -> {"class": ..., "image": ..., "labels": ..., "image_sha256": ..., ...}
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)

    # --- creation and loading ---------------------------------------------------------------
    @classmethod
    def empty(cls, root: str | os.PathLike, settings: CropSettings | None = None) -> CropDataset:
        s = settings or CropSettings()
        c, p = s.crop_size, s.phi_size
        return cls(Path(root), s, np.zeros((0, c, c), np.float32), np.zeros((0, c, c), np.uint8),
                   np.zeros((0, p, p), np.float32), np.zeros((0, p, p), np.uint8))

    @classmethod
    def load(cls, root: str | os.PathLike) -> CropDataset:
        root = Path(root)
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise CropDatasetError(f"{root} is not a tumor-crop dataset (no manifest.json); "
                                   "make one with 'napari-medsynth crops' or the Tumor crops panel")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CropDatasetError(f"{manifest_path} cannot be read: {exc}") from exc
        if manifest.get("format") != FORMAT:
            raise CropDatasetError(f"{manifest_path} is not a napari-medsynth crop manifest")
        if int(manifest.get("version", 0)) > VERSION:
            raise CropDatasetError(f"{root} was written by a newer napari-medsynth (format version "
                                   f"{manifest['version']}); update napari-medsynth to read it")
        settings = CropSettings(**manifest["settings"])
        arrays = {}
        for name in ARRAYS:
            path = root / f"{name}.npy"
            try:
                arrays[name] = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise CropDatasetError(f"{path} is missing or damaged ({exc}); recreate the dataset") from exc
        crops = [CropRecord(**{**r, "bbox": tuple(r["bbox"]), "centroid_rel": tuple(r["centroid_rel"])})
                 for r in manifest["crops"]]
        phis = [PhiRecord(**r) for r in manifest["phi"]]
        if len(crops) != len(arrays["tc"]) or len(crops) != len(arrays["btc"]) or \
                len(phis) != len(arrays["phi"]) or len(phis) != len(arrays["phi_mask"]):
            raise CropDatasetError(f"{root}: the arrays and manifest.json disagree in length; recreate the dataset")
        return cls(root, settings, arrays["tc"], arrays["btc"], arrays["phi"], arrays["phi_mask"],
                   crops, phis, manifest["patients"])

    @classmethod
    def open_or_create(cls, root: str | os.PathLike, settings: CropSettings | None = None) -> CropDataset:
        """Load ``root`` if it holds a dataset (its settings must match), else start an empty one."""
        root = Path(root)
        if not (root / "manifest.json").exists():
            return cls.empty(root, settings)
        ds = cls.load(root)
        if settings is not None and settings != ds.settings:
            raise CropDatasetError(f"{root} was made with {dataclasses.asdict(ds.settings)}; adding crops with "
                                   f"{dataclasses.asdict(settings)} would mix sizes. Use the same settings or a "
                                   "new folder")
        return ds

    # --- editing ------------------------------------------------------------------------------
    def add_patient(self, patient: str, info: dict[str, Any], tc: np.ndarray, btc: np.ndarray,
                    crops: list[CropRecord], phi: np.ndarray, phi_mask: np.ndarray,
                    phi_records: list[PhiRecord], replace: bool = False) -> None:
        """Add (or with ``replace``, swap in) one patient's crops and tumor-free slices, in memory."""
        if patient in self.patients:
            if not replace:
                raise CropDatasetError(f"patient {patient!r} is already in {self.root}; choose another id "
                                       "or replace it")
            self.remove_patient(patient)
        c, p = self.settings.crop_size, self.settings.phi_size
        if tc.shape[1:] != (c, c) or btc.shape != tc.shape or len(crops) != len(tc):
            raise ValueError(f"crops must be (N, {c}, {c}) with one record each")
        if phi.shape[1:] != (p, p) or phi_mask.shape != phi.shape or len(phi_records) != len(phi):
            raise ValueError(f"tumor-free slices must be (M, {p}, {p}) with one record each")
        self.tc = np.concatenate([self.tc, tc.astype(np.float32)])
        self.btc = np.concatenate([self.btc, btc.astype(np.uint8)])
        self.phi = np.concatenate([self.phi, phi.astype(np.float32)])
        self.phi_mask = np.concatenate([self.phi_mask, phi_mask.astype(np.uint8)])
        self.crops += list(crops)
        self.phi_records += list(phi_records)
        self.patients[patient] = dict(info, n_crops=len(crops), n_phi=len(phi_records))

    def remove_patient(self, patient: str) -> None:
        keep = np.array([r.patient != patient for r in self.crops], bool)
        keep_phi = np.array([r.patient != patient for r in self.phi_records], bool)
        self.tc, self.btc = self.tc[keep] if len(keep) else self.tc, self.btc[keep] if len(keep) else self.btc
        if len(keep_phi):
            self.phi, self.phi_mask = self.phi[keep_phi], self.phi_mask[keep_phi]
        self.crops = [r for r in self.crops if r.patient != patient]
        self.phi_records = [r for r in self.phi_records if r.patient != patient]
        self.patients.pop(patient, None)

    def save(self) -> Path:
        """Write arrays, then the manifest (each atomically); returns the manifest path."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ARRAYS:
            buf = io.BytesIO()
            np.save(buf, getattr(self, name), allow_pickle=False)
            atomic_write_bytes(self.root / f"{name}.npy", buf.getvalue())
        manifest = {
            "format": FORMAT, "version": VERSION,
            "settings": dataclasses.asdict(self.settings),
            "patients": self.patients,
            "attributes": self.attribute_ranges() if self.crops else {},
            "crops": [dataclasses.asdict(r) for r in self.crops],
            "phi": [dataclasses.asdict(r) for r in self.phi_records],
        }
        return atomic_write_text(self.root / "manifest.json", json.dumps(manifest, indent=1) + "\n")

    # --- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.crops)

    def attribute_ranges(self) -> dict[str, dict[str, Any]]:
        """Mean and standard deviation of each crop attribute (the merge's default ranges)."""
        if not self.crops:
            raise CropDatasetError(f"{self.root} holds no tumor crops yet")
        cen = np.array([r.centroid_rel for r in self.crops], float)
        size = np.array([r.size_rel for r in self.crops], float)
        ori = np.array([r.orientation_deg for r in self.crops], float)
        return {
            "centroid_rel": {"mean": cen.mean(0).tolist(), "std": cen.std(0).tolist()},
            "size_rel": {"mean": float(size.mean()), "std": float(size.std())},
            "orientation_deg": {"mean": float(ori.mean()), "std": float(ori.std())},
        }

    def patient_ids(self) -> list[str]:
        return sorted(self.patients)

    def crop_indices(self, patients) -> np.ndarray:
        wanted = set(patients)
        return np.array([i for i, r in enumerate(self.crops) if r.patient in wanted], int)

    def phi_indices(self, patients) -> np.ndarray:
        wanted = set(patients)
        return np.array([i for i, r in enumerate(self.phi_records) if r.patient in wanted], int)

    def folds(self, k: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
        """Patient-wise k-fold splits: [(train_patients, test_patients), ...]."""
        ids = self.patient_ids()
        if not 2 <= k <= len(ids):
            raise ValueError(f"{k}-fold splits need at least {k} patients; the dataset has {len(ids)}")
        order = np.random.default_rng(seed).permutation(len(ids))
        groups = [sorted(ids[i] for i in order[f::k]) for f in range(k)]
        return [(sorted(set(ids) - set(g)), g) for g in groups]
