"""The tumor-crop dataset folder that SAGE trains on.

Layout of a dataset folder (format version 2)::

    manifest.json                    settings; patients (id -> source, n_crops, n_phi, folder, attribute
                                     sums; no per-crop records); the aggregated attributes
    patients/<folder>/tc.npy         (n, S, S) float32 [0, 1]: tumor crops (TC), the image inside the tumor
                                     mask (0 outside), bounding box + margin, resized to S = crop_size
    patients/<folder>/btc.npy        (n, S, S) uint8 {0, 1}: binary tumor crops (BTC), the mask resized alike
    patients/<folder>/phi.npy        (m, P, P) float32 [0, 1]: tumor-free axial slices (PHI), padded to a
                                     square and resized to P = phi_size
    patients/<folder>/phi_mask.npy   (m, P, P) uint8 {0, 1}: brain mask of each PHI
    patients/<folder>/records.json   that patient's CropRecord and PhiRecord lists

``<folder>`` is the patient id, percent-encoded where unsafe (:func:`~.crop_store.patient_folder`);
a rewritten patient goes to a fresh folder (``<folder>~1``). ``ds.tc[i]`` is crop ``i``, patients in
manifest order (:class:`~.crop_store.PatientStack`); arrays are memory-mapped on first use.
Intensities: the volume's 0.5-99.5 percentile range mapped to [0, 1], one scale per volume.
Per-crop attributes, whose mean +- k * std the merge samples (computed from each patient's count,
sums and sums of squares in the manifest): ``centroid_rel`` (row, col), the tumor centroid in the
brain's bounding box of that slice, each in [0, 1]; ``size_rel``, tumor area / brain area in that
slice; ``orientation_deg``, the tumor's major axis (scikit-image ``regionprops``, -90..90 degrees).

Splits are patient-wise (:meth:`CropDataset.folds`). :meth:`CropDataset.save` writes new or changed
patients only (each file atomically, into folders the old manifest does not name), then the manifest
atomically, then deletes what it no longer names: a crash leaves the previous dataset whole.
Version 1 folders (``tc.npy``, ``btc.npy``, ``phi.npy``, ``phi_mask.npy`` of all patients, records in
the manifest) still load; their next save, or ``napari-medsynth crops migrate DIR``, makes them version 2."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_text, fsync_dir
from . import crop_store as _store
from .crop_store import CropDatasetError, PatientStack

FORMAT = "napari-medsynth-crops"
VERSION = 2
ARRAYS = ("tc", "btc", "phi", "phi_mask")
DTYPES = {"tc": np.float32, "btc": np.uint8, "phi": np.float32, "phi_mask": np.uint8}
ATTRIBUTES = ("centroid_rel", "size_rel", "orientation_deg")
_INTERNAL = ("folder", "attribute_sums")  # manifest patient keys the dataset keeps (not in ``patients[id]``)
_OPEN_LIMIT = 256  # memory maps kept open (each holds a file descriptor)


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


def _crop_record(r: dict) -> CropRecord:
    return CropRecord(**{**r, "bbox": tuple(r["bbox"]), "centroid_rel": tuple(r["centroid_rel"])})


def attribute_sums(crops: Sequence[CropRecord]) -> dict[str, Any]:
    """Count, sums and sums of squares of the crop attributes (what :meth:`CropDataset.attribute_ranges` adds)."""
    out: dict[str, Any] = {"count": len(crops)}
    for name in ATTRIBUTES:
        v = np.array([getattr(r, name) for r in crops], float).reshape(len(crops), 2 if name == "centroid_rel" else 1)
        out[name] = {"sum": v.sum(0).tolist(), "sumsq": (v * v).sum(0).tolist()}
    return out


@dataclass
class _Patient:
    patient: str
    crops: list[CropRecord]
    phi_records: list[PhiRecord]
    sums: dict[str, Any]
    folder: str | None = None  # under patients/, as the manifest on disk names it (None: not written yet)
    arrays: dict[str, np.ndarray] | None = None  # in memory: new or edited, written by the next save()


class CropDataset:
    """A crop dataset folder; ``tc``, ``btc``, ``phi``, ``phi_mask`` read as (N, S, S) / (M, P, P) arrays.

    ``CropDataset(root, settings, tc, btc, phi, phi_mask, crops, phi_records, patients)`` makes one
    from whole arrays (split by each record's patient); :meth:`load` opens a folder.
    """

    def __init__(self, root: str | os.PathLike, settings: CropSettings, tc=None, btc=None, phi=None,
                 phi_mask=None, crops: Sequence[CropRecord] = (), phi_records: Sequence[PhiRecord] = (),
                 patients: dict[str, dict[str, Any]] | None = None):
        self.root, self.settings = Path(root), settings
        self.patients: dict[str, dict[str, Any]] = {}  # id -> {"class":, "image":, ..., "n_crops":, "n_phi":}
        self.format_version: int | None = None  # of the folder on disk, as loaded or saved (None: not yet)
        self._parts: dict[str, _Patient] = {}
        self._open: dict[tuple[str, str], np.ndarray] = {}
        self._changed()
        records, patients = (list(crops), list(phi_records)), patients or {}
        given = [np.zeros(self._shape(n, 0, 0), DTYPES[n]) if a is None else a
                 for n, a in zip(ARRAYS, (tc, btc, phi, phi_mask))]
        if [len(a) for a in given] != [len(records[0])] * 2 + [len(records[1])] * 2:
            raise ValueError("one crop record per tumor crop and one slice record per tumor-free slice are needed")
        groups: dict[str, tuple[list[int], list[int]]] = {pid: ([], []) for pid in patients}
        for which in (0, 1):
            for i, r in enumerate(records[which]):
                groups.setdefault(r.patient, ([], []))[which].append(i)
        for pid, index in groups.items():
            arrays = {}
            for j, name in enumerate(ARRAYS):  # a view of contiguous rows (a memory map stays one)
                idx, arr = index[j // 2], given[j]
                rows = arr[idx[0]:idx[-1] + 1] if idx and idx[-1] - idx[0] + 1 == len(idx) else arr[np.array(idx, int)]
                arrays[name] = np.asarray(rows, DTYPES[name])
            self._put(pid, patients.get(pid, {}), arrays, *([records[w][i] for i in index[w]] for w in (0, 1)))

    # --- creation and loading ---------------------------------------------------------------
    @classmethod
    def empty(cls, root: str | os.PathLike, settings: CropSettings | None = None) -> CropDataset:
        return cls(Path(root), settings or CropSettings())

    @classmethod
    def load(cls, root: str | os.PathLike) -> CropDataset:
        """Open a dataset folder: records and file headers are read and checked, arrays mapped on first use."""
        root = Path(root)
        path = root / "manifest.json"
        if not path.is_file():
            raise CropDatasetError(f"{root} is not a tumor-crop dataset (no manifest.json); "
                                   "make one with 'napari-medsynth crops' or the Tumor crops panel")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CropDatasetError(f"{path} cannot be read: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CropDatasetError(f"{path} is not a napari-medsynth crop manifest")
        try:
            version = int(manifest.get("version", 0))
            if version > VERSION:
                raise CropDatasetError(f"{root} was written by a newer napari-medsynth (format version {version}); "
                                       "update napari-medsynth to read it")
            ds = cls._load_v1(root, manifest) if version < 2 else cls(root, CropSettings(**manifest["settings"]))
            for pid, info in manifest["patients"].items() if version >= 2 else ():
                ds._parts[pid] = ds._read_patient(pid, info)
                ds.patients[pid] = {k: v for k, v in info.items() if k not in _INTERNAL}
        except CropDatasetError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CropDatasetError(f"{path} is damaged ({type(exc).__name__}: {exc}); {_store.FIX}") from exc
        ds.format_version = version
        return ds

    @classmethod
    def _load_v1(cls, root: Path, manifest: dict) -> CropDataset:
        arrays = []
        for name in ARRAYS:
            try:
                arrays.append(np.load(root / f"{name}.npy", mmap_mode="r", allow_pickle=False))
            except (OSError, ValueError, EOFError) as exc:
                raise CropDatasetError(f"{root / f'{name}.npy'} is missing or damaged ({exc}); recreate the "
                                       "dataset") from exc
        crops, phis = [_crop_record(r) for r in manifest["crops"]], [PhiRecord(**r) for r in manifest["phi"]]
        if [len(a) for a in arrays] != [len(crops)] * 2 + [len(phis)] * 2:
            raise CropDatasetError(f"{root}: the arrays and manifest.json disagree in length; recreate the dataset")
        return cls(root, CropSettings(**manifest["settings"]), *arrays, crops, phis, manifest["patients"])

    def _read_patient(self, pid: str, info: dict) -> _Patient:
        folder = info.get("folder")
        if not isinstance(folder, str) or not _store.FOLDER_RE.fullmatch(folder):
            raise CropDatasetError(f"{self.root / 'manifest.json'} names no valid folder for patient {pid!r} "
                                   f"({folder!r}); {_store.FIX}")
        path = self.root / "patients" / folder / "records.json"
        try:
            records = json.loads(path.read_text())
            crops, phis = [_crop_record(r) for r in records["crops"]], [PhiRecord(**r) for r in records["phi"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CropDatasetError(f"patient {pid!r}: {path} is missing or damaged ({exc}); {_store.FIX}") from exc
        if [len(crops), len(phis)] != [info.get("n_crops"), info.get("n_phi")] or \
                any(r.patient != pid for r in [*crops, *phis]):
            raise CropDatasetError(f"patient {pid!r}: manifest.json lists {info.get('n_crops')} crops and "
                                   f"{info.get('n_phi')} tumor-free slices, but {path} holds {len(crops)} and "
                                   f"{len(phis)} (or another patient's records); {_store.FIX}")
        for name in ARRAYS:  # header and file size; the map closes again at once
            _store.map_array(path.parent / f"{name}.npy", pid, self._shape(name, len(crops), len(phis)), DTYPES[name])
        sums = info.get("attribute_sums")
        sums = sums if isinstance(sums, dict) and sums.get("count") == len(crops) else attribute_sums(crops)
        return _Patient(pid, crops, phis, sums, folder)

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

    # --- arrays -------------------------------------------------------------------------------
    def _shape(self, name: str, n_crops: int, n_phi: int) -> tuple[int, int, int]:
        crop = name in ("tc", "btc")
        s = self.settings.crop_size if crop else self.settings.phi_size
        return (n_crops if crop else n_phi, s, s)

    def _array(self, part: _Patient, name: str) -> np.ndarray:
        if part.arrays is not None:
            return part.arrays[name]
        key = (part.folder, name)
        arr = self._open.pop(key, None)
        if arr is None:
            arr = _store.map_array(self.root / "patients" / part.folder / f"{name}.npy", part.patient,
                       self._shape(name, len(part.crops), len(part.phi_records)), DTYPES[name])
            if len(self._open) >= _OPEN_LIMIT:
                del self._open[next(iter(self._open))]
        self._open[key] = arr
        return arr

    def _writable(self, part: _Patient, name: str) -> np.ndarray:
        if part.arrays is None:
            part.arrays = {n: self._array(part, n) for n in ARRAYS}
        if not part.arrays[name].flags.writeable:
            part.arrays[name] = np.array(part.arrays[name])
        return part.arrays[name]

    def _stack(self, name: str) -> PatientStack:
        if name not in self._stacks:
            parts = list(self._parts.values())
            lengths = [self._shape(name, len(p.crops), len(p.phi_records))[0] for p in parts]
            self._stacks[name] = PatientStack([partial(self._array, p, name) for p in parts], lengths,
                                              self._shape(name, 0, 0)[1:], DTYPES[name],
                                              write=lambda k: self._writable(parts[k], name))
        return self._stacks[name]

    tc = property(lambda self: self._stack("tc"), doc="(N, S, S) float32 tumor crops")
    btc = property(lambda self: self._stack("btc"), doc="(N, S, S) uint8 binary tumor crops")
    phi = property(lambda self: self._stack("phi"), doc="(M, P, P) float32 tumor-free slices")
    phi_mask = property(lambda self: self._stack("phi_mask"), doc="(M, P, P) uint8 brain masks of the PHI")
    crops = property(lambda self: self._records(0), doc="one CropRecord per tumor crop, in ``tc`` order")
    phi_records = property(lambda self: self._records(1), doc="one PhiRecord per tumor-free slice")

    def _records(self, which: int) -> list:
        if which not in self._lists:
            self._lists[which] = [r for p in self._parts.values() for r in (p.crops, p.phi_records)[which]]
        return self._lists[which]

    def patient_arrays(self, patient: str) -> dict[str, np.ndarray]:
        """One patient's arrays as stored: read-only memory maps once saved."""
        return {name: self._array(self._parts[patient], name) for name in ARRAYS}

    def files(self, arrays: Sequence[str] = ARRAYS) -> list[Path]:
        """Files holding the dataset on disk: the manifest, then per patient records.json and ``arrays``
        (a version-1 folder: the manifest and its four shared array files)."""
        if self.format_version is not None and self.format_version < 2:
            return [self.root / "manifest.json"] + [self.root / f"{n}.npy" for n in ARRAYS]
        names = ["records.json", *(f"{n}.npy" for n in arrays)]
        folders = [self.root / "patients" / p.folder for p in self._parts.values() if p.folder]
        return [self.root / "manifest.json"] + [d / f for d in folders for f in names]

    # --- editing ------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._stacks: dict[str, PatientStack] = {}
        self._lists: dict[int, list] = {}

    def _put(self, patient: str, info: dict, arrays: dict, crops: list, phi_records: list) -> None:
        self._parts[patient] = _Patient(patient, list(crops), list(phi_records), attribute_sums(crops), None, arrays)
        self.patients[patient] = {**{k: v for k, v in info.items() if k not in _INTERNAL},
                                  "n_crops": len(crops), "n_phi": len(phi_records)}
        self._changed()

    def add_patient(self, patient: str, info: dict[str, Any], tc: np.ndarray, btc: np.ndarray,
                    crops: list[CropRecord], phi: np.ndarray, phi_mask: np.ndarray,
                    phi_records: list[PhiRecord], replace: bool = False) -> None:
        """Add (or with ``replace``, swap in, as the last patient) one patient; :meth:`save` writes it."""
        _store.check_patient_id(patient)
        if patient in self.patients and not replace:
            raise CropDatasetError(f"patient {patient!r} is already in {self.root}; choose another id "
                                   "or replace it")
        c, p = self.settings.crop_size, self.settings.phi_size
        if np.shape(tc)[1:] != (c, c) or np.shape(btc) != np.shape(tc) or len(crops) != len(tc):
            raise ValueError(f"crops must be (N, {c}, {c}) with one record each")
        if np.shape(phi)[1:] != (p, p) or np.shape(phi_mask) != np.shape(phi) or len(phi_records) != len(phi):
            raise ValueError(f"tumor-free slices must be (M, {p}, {p}) with one record each")
        if any(r.patient != patient for r in [*crops, *phi_records]):
            raise ValueError(f"every crop and slice record of patient {patient!r} must name that patient")
        self.remove_patient(patient)
        arrays = {n: np.array(a, DTYPES[n]) for n, a in zip(ARRAYS, (tc, btc, phi, phi_mask))}
        self._put(patient, info, arrays, crops, phi_records)

    def remove_patient(self, patient: str) -> None:
        """Drop a patient; the next :meth:`save` deletes its folder once the manifest no longer names it."""
        self._parts.pop(patient, None)
        self.patients.pop(patient, None)
        self._changed()

    def _write_patient(self, part: _Patient) -> str:
        used = {p.folder.casefold() for p in self._parts.values() if p.folder}
        records = {"crops": [dataclasses.asdict(r) for r in part.crops],
                   "phi": [dataclasses.asdict(r) for r in part.phi_records]}
        arrays = {n: np.asarray(part.arrays[n], DTYPES[n]) for n in ARRAYS}
        return _store.write_patient(self.root / "patients", part.patient, used, arrays, records)

    def save(self) -> Path:
        """Write new and edited patients, then the manifest (each file atomically), then delete what the
        manifest no longer names (replaced or removed patients, version-1 arrays); returns the manifest path."""
        self.root.mkdir(parents=True, exist_ok=True)
        folders = {pid: self._write_patient(p) if p.arrays is not None else p.folder for pid, p in self._parts.items()}
        fsync_dir(self.root)  # the new folders' entries reach the disk before the manifest names them
        manifest = {
            "format": FORMAT, "version": VERSION, "settings": dataclasses.asdict(self.settings),
            "patients": {pid: {**self.patients.get(pid, {}), "n_crops": len(p.crops), "n_phi": len(p.phi_records),
                               "folder": folders[pid], "attribute_sums": p.sums} for pid, p in self._parts.items()},
            "attributes": self.attribute_ranges() if len(self) else {},
        }
        path = atomic_write_text(self.root / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        for pid, part in self._parts.items():
            part.folder, part.arrays = folders[pid], None  # from now on read from the files
        self.format_version = VERSION
        self._open = {k: v for k, v in self._open.items() if k[0] in folders.values()}
        _store.remove_unlisted(self.root, set(folders.values()), [f"{n}.npy" for n in ARRAYS])
        return path

    # --- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.crops)

    def attribute_ranges(self) -> dict[str, dict[str, Any]]:
        """Mean and standard deviation of each crop attribute (the merge's default ranges), from each
        patient's count, sums and sums of squares."""
        sums = [p.sums for p in self._parts.values()]
        n = sum(s["count"] for s in sums)
        if not n:
            raise CropDatasetError(f"{self.root} holds no tumor crops yet")
        out = {}
        for name in ATTRIBUTES:
            mean = np.sum([s[name]["sum"] for s in sums], axis=0) / n
            var = np.sum([s[name]["sumsq"] for s in sums], axis=0) / n - mean * mean
            std = np.sqrt(np.maximum(var, 0.0))
            out[name] = ({"mean": mean.tolist(), "std": std.tolist()} if name == "centroid_rel"
                         else {"mean": float(mean[0]), "std": float(std[0])})
        return out

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


def migrate(root: str | os.PathLike) -> str:
    """Rewrite a version-1 dataset folder in the current layout; returns a one-line summary."""
    ds = CropDataset.load(root)
    if ds.format_version == VERSION:
        return f"{root} is already in format version {VERSION}; nothing to do"
    old = ds.format_version
    ds.save()
    return (f"{root}: format version {old} -> {VERSION} ({len(ds.patients)} patients, {len(ds)} tumor crops, "
            f"{len(ds.phi_records)} tumor-free slices)")
