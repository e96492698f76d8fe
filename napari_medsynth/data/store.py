"""The slice store: every 2-D training recipe reads its slices from one memory-mapped folder.

A dataset folder of BraTS cases is converted once (:func:`build_store`, CLI ``napari-medsynth
dataset build DIR --out STORE``); training then opens the store in milliseconds and holds only a
small slice index in memory, whatever the number of cases. Layout of a store folder::

    manifest.json            format "napari-medsynth-slices", version 1, modalities, one record per
                             case (id, grade/class and where it came from, slices, offset, source
                             files with size and SHA-256 of their first and last MiB, array files)
    index-<token>.npz        one entry per stored slice: case (index into the manifest's cases),
                             z (axial slice in the volume), classes (bit c set if labels7 class c
                             0-6 occurs), brain_px (pixels non-zero in any stored modality),
                             label_px (pixels with labels7 > 0)
    cases/<id>/images.npy    (Z, M, H, W) float16 in [-1, 1]: the M modalities, each scaled per
                             volume to its 0.5-99.5 percentiles, on the native grid (no resizing)
    cases/<id>/labels7.npy   (Z, H, W) uint8: the 7-class complete map (0 BG, 1 NCR/NET, 2 ED,
                             3 ET, 4 WM, 5 GM, 6 CSF)
    cases/<id>/seg.npy       (Z, H, W) uint8: BraTS tumor labels, internal values (1, 2, 4)

Only slices where the brain (non-zero in any modality) or the label map covers at least
``min_fraction`` of the slice (default :data:`DEFAULT_MIN_FRACTION`) are stored, so Z is the number
of kept slices and ``z`` in the index says where each came from. The manifest is written last
and names its index file, so an interrupted build leaves no manifest that claims missing files.

:class:`SliceStore` opens a store: manifest and index are read at once, the per-case arrays are
memory-mapped on first use. The training datasets built on it are in :mod:`.store_datasets`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..train.data import DatasetError

FORMAT = "napari-medsynth-slices"
VERSION = 1
MANIFEST = "manifest.json"
#: Per-case array files and their element types.
ARRAYS = {"images": np.float16, "labels7": np.uint8, "seg": np.uint8}
#: Fields of the slice index and their types.
INDEX_FIELDS = {"case": np.int32, "z": np.int32, "classes": np.uint8, "brain_px": np.int32, "label_px": np.int32}
#: A slice is stored if the brain or the label map covers at least this fraction of it: drops the
#: empty slices above and below the head (about 20 of BraTS's 155) and keeps every slice the
#: 2-D recipes' own thresholds (2 % labelled pixels for label maps, 5 % foreground for images) use.
DEFAULT_MIN_FRACTION = 0.02
N_LABEL_CLASSES = 7


def is_store(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder whose ``manifest.json`` is a slice-store manifest (or claims to
    be one but is damaged, so that opening it reports the damage instead of treating it as cases)."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        head = json.loads(text)
    except ValueError:
        return FORMAT in text
    return isinstance(head, dict) and head.get("format") == FORMAT


def class_bits(classes) -> int:
    """The index's bit mask of labels7 classes (bit c for class c)."""
    bits = 0
    for c in classes:
        if not 0 <= int(c) < N_LABEL_CLASSES:
            raise ValueError(f"labels7 classes are 0-{N_LABEL_CLASSES - 1}, not {c}")
        bits |= 1 << int(c)
    return bits


def select_case_ids(known: list[str], include: str = "", exclude: str = "") -> list[str]:
    """Case ids named in ``include`` (comma-separated; empty = all), minus those in ``exclude``."""
    inc = {c.strip() for c in include.split(",") if c.strip()}
    exc = {c.strip() for c in exclude.split(",") if c.strip()}
    unknown = sorted((inc | exc) - set(known))
    if unknown:
        shown = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
        raise DatasetError(f"unknown case id(s) {', '.join(unknown)}; the store has {shown}")
    chosen = [c for c in known if (not inc or c in inc) and c not in exc]
    if not chosen:
        raise DatasetError("the case selection leaves no case to train on")
    return chosen


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of the store at ``path``, checked for format and version."""
    root = Path(path)
    file = root / MANIFEST
    if not root.is_dir():
        raise DatasetError(f"slice store {root} does not exist or is not a folder")
    if not file.is_file():
        raise DatasetError(f"{root} is not a slice store (no {MANIFEST}); build one with "
                           f"'napari-medsynth dataset build CASES --out {root}'")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{file}: the manifest is damaged ({exc}); rebuild the store with --overwrite") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DatasetError(f"{file} is not a slice-store manifest (format {FORMAT!r} expected)")
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1:
        raise DatasetError(f"{file}: invalid store version {version!r}")
    if version > VERSION:
        raise DatasetError(f"{root} is a version {version} slice store, written by a newer napari-medsynth; this "
                           f"version reads version {VERSION}: update napari-medsynth or rebuild the store")
    for key in ("modalities", "cases", "index", "n_slices"):
        if key not in manifest:
            raise DatasetError(f"{file}: the manifest has no {key!r} entry; rebuild the store with --overwrite")
    return manifest


def _inside(root: Path, relative: str) -> Path:
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise DatasetError(f"{root / MANIFEST}: file {relative!r} lies outside the store")
    return root / rel


def read_index(root: Path, manifest: dict) -> dict[str, np.ndarray]:
    file = _inside(root, manifest["index"])
    try:
        with np.load(file, allow_pickle=False) as z:
            index = {k: np.asarray(z[k], dtype=t) for k, t in INDEX_FIELDS.items()}
    except FileNotFoundError:
        raise DatasetError(f"{root}: the slice index {file.name} is missing; rebuild the store with --overwrite") \
            from None
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise DatasetError(f"{file}: the slice index is damaged ({exc}); rebuild the store with --overwrite") from exc
    n = int(manifest["n_slices"])
    if any(len(a) != n for a in index.values()):
        raise DatasetError(f"{file}: the slice index does not match the manifest ({len(index['case'])} entries, "
                           f"{n} slices); rebuild the store with --overwrite")
    return index


class SliceStore:
    """An opened slice store: manifest and index in memory, case arrays memory-mapped on demand."""

    def __init__(self, path: Path, manifest: dict, index: dict[str, np.ndarray]):
        self.path = Path(path)
        self.root = self.path
        self.manifest = manifest
        self.index = index
        self.records: list[dict] = list(manifest["cases"])
        self.modalities: list[str] = list(manifest["modalities"])
        self.cases: list[str] = [r["id"] for r in self.records]
        self.classes: dict[str, str] = {r["id"]: str(r.get("class", "unknown")) for r in self.records}
        self._case_number = {c: i for i, c in enumerate(self.cases)}
        self.offsets = np.array([int(r["offset"]) for r in self.records], dtype=np.int64)
        self.pixels = np.array([int(r["shape"][1]) * int(r["shape"][2]) for r in self.records], dtype=np.int64)
        self._maps: dict[tuple[int, str], np.ndarray] = {}

    @classmethod
    def open(cls, path: str | os.PathLike) -> SliceStore:
        root = Path(path)
        manifest = read_manifest(root)
        index = read_index(root, manifest)
        store = cls(root, manifest, index)
        store._check_files()
        return store

    def _check_files(self) -> None:
        """Every case file the manifest names exists with its recorded size (a stat each, no reads)."""
        total = 0
        for rec in self.records:
            if int(rec["offset"]) != total:
                raise DatasetError(f"{self.path / MANIFEST}: case {rec['id']} starts at slice {rec['offset']}, "
                                   f"expected {total}; rebuild the store with --overwrite")
            total += int(rec["n_slices"])
            for name in ARRAYS:
                entry = rec["files"][name]
                file = _inside(self.path, entry["path"])
                try:
                    size = file.stat().st_size
                except OSError:
                    raise DatasetError(f"slice store {self.path}: {entry['path']} of case {rec['id']} is missing; "
                                       "rebuild the store (dataset build --overwrite, or --add)") from None
                if size != int(entry["bytes"]):
                    raise DatasetError(f"slice store {self.path}: {entry['path']} of case {rec['id']} is damaged "
                                       f"({size} bytes, {entry['bytes']} expected); rebuild the store")
        if total != len(self):
            raise DatasetError(f"{self.path / MANIFEST}: the cases hold {total} slices, the index {len(self)}")

    # --- slices -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index["case"])

    def case_numbers(self, cases=None) -> list[int]:
        if cases is None:
            return list(range(len(self.cases)))
        unknown = [c for c in cases if c not in self._case_number]
        if unknown:
            raise DatasetError(f"the slice store {self.path} has no case {', '.join(map(str, unknown))}")
        return [self._case_number[c] for c in cases]

    def slices(self, cases=None) -> np.ndarray:
        """Global slice indices (int64, in store order) of ``cases`` (ids; None: all)."""
        numbers = self.case_numbers(cases)
        if not numbers:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(self.offsets[c], self.offsets[c] + self.records[c]["n_slices"],
                                         dtype=np.int64) for c in numbers])

    def case_of(self, i: int) -> str:
        return self.cases[int(self.index["case"][i])]

    def fraction(self, field: str = "label_px") -> np.ndarray:
        """Per slice: ``brain_px`` or ``label_px`` divided by the slice's pixel count (float64)."""
        return self.index[field] / self.pixels[self.index["case"]]

    def has_classes(self, classes) -> np.ndarray:
        """Per slice: True where any of the labels7 ``classes`` occurs (from the index, no array read)."""
        return (self.index["classes"] & np.uint8(class_bits(classes))) != 0

    # --- arrays -------------------------------------------------------------------------------
    def _array(self, case: int, name: str) -> np.ndarray:
        key = (case, name)
        arr = self._maps.get(key)
        if arr is None:
            rec = self.records[case]
            entry = rec["files"][name]
            file = _inside(self.path, entry["path"])
            n, h, w = (int(s) for s in rec["shape"])
            shape = (n, len(self.modalities), h, w) if name == "images" else (n, h, w)
            try:
                arr = np.load(file, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                raise DatasetError(f"slice store {self.path}: {entry['path']} of case {rec['id']} is missing") \
                    from None
            except (OSError, ValueError, EOFError) as exc:
                raise DatasetError(f"slice store {self.path}: {entry['path']} of case {rec['id']} is damaged "
                                   f"({exc}); rebuild the store") from exc
            if arr.shape != shape or arr.dtype != ARRAYS[name]:
                raise DatasetError(f"slice store {self.path}: {entry['path']} of case {rec['id']} holds "
                                   f"{arr.dtype} {arr.shape}, the manifest says {np.dtype(ARRAYS[name])} {shape}; "
                                   "rebuild the store")
            self._maps[key] = arr
        return arr

    def _locate(self, i: int) -> tuple[int, int]:
        case = int(self.index["case"][i])
        return case, int(i - self.offsets[case])

    def images(self, i: int) -> np.ndarray:
        """(M, H, W) float16 view of slice ``i``, modalities in :attr:`modalities` order."""
        case, row = self._locate(i)
        return self._array(case, "images")[row]

    def image(self, i: int, modality: str) -> np.ndarray:
        """(H, W) float16 view of one modality of slice ``i``, in [-1, 1]."""
        if modality not in self.modalities:
            raise DatasetError(f"the slice store {self.path} holds {', '.join(self.modalities)}, not {modality!r}")
        case, row = self._locate(i)
        return self._array(case, "images")[row, self.modalities.index(modality)]

    def labels7(self, i: int) -> np.ndarray:
        case, row = self._locate(i)
        return self._array(case, "labels7")[row]

    def seg(self, i: int) -> np.ndarray:
        case, row = self._locate(i)
        return self._array(case, "seg")[row]

    def close(self) -> None:
        """Drop the cached memory maps (they close when no array view refers to them any more)."""
        self._maps.clear()

    # --- patients -----------------------------------------------------------------------------
    def folds(self, k: int = 5, seed: int = 0, cases=None) -> list[tuple[list[str], list[str]]]:
        """Patient-wise k-fold splits [(train case ids, test case ids)], stratified by class.

        The cases of each class are shuffled (``seed``) and dealt round-robin to the folds, the
        deal continuing from one class to the next, so fold sizes differ by at most one and every
        class is spread as evenly as its size allows. No case is in both lists of a split; the
        test lists together hold every case once.
        """
        ids = list(self.cases if cases is None else cases)
        self.case_numbers(ids)
        if len(set(ids)) != len(ids):
            raise DatasetError("folds: a case id is given twice")
        if not 2 <= int(k) <= len(ids):
            raise DatasetError(f"k-fold needs 2 <= k <= the number of cases ({len(ids)}), not {k}")
        rng = np.random.default_rng(seed)
        by_class: dict[str, list[str]] = {}
        for c in sorted(ids):
            by_class.setdefault(self.classes[c], []).append(c)
        fold_of, start = {}, 0
        for klass in sorted(by_class):
            members = by_class[klass]
            for j, m in enumerate(rng.permutation(len(members))):
                fold_of[members[m]] = (start + j) % k
            start = (start + len(members)) % k
        return [(sorted(c for c in ids if fold_of[c] != f), sorted(c for c in ids if fold_of[c] == f))
                for f in range(k)]

    # --- identity -----------------------------------------------------------------------------
    def fingerprint_of(self, cases=None, *extra: str) -> str:
        """SHA-256 over the source fingerprints of ``cases`` (None: all) and ``extra`` strings."""
        h = hashlib.sha256()
        for c in self.case_numbers(cases):
            rec = self.records[c]
            h.update(f"{rec['id']}\0{rec['fingerprint']}\0".encode())
        for e in extra:
            h.update(f"{e}\0".encode())
        return h.hexdigest()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the source files' fingerprints of every case (what the store was built from)."""
        return self.fingerprint_of()

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for c in self.classes.values():
            counts[c] = counts.get(c, 0) + 1
        classes = ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
        return (f"slice store {self.path}: {len(self)} slices of {len(self.cases)} case(s) ({classes}), "
                f"modalities {', '.join(self.modalities)}")


def build_store(root, out, modalities=None, classes=None, progress=None, overwrite=False, **options) -> Path:
    """Build a slice store from the case folders below ``root`` (see :func:`.store_build.build_store`)."""
    from .store_build import build_store as build

    return build(root, out, modalities=modalities, classes=classes, progress=progress, overwrite=overwrite,
                 **options)
