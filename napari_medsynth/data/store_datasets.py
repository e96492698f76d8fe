"""Training datasets on a slice store (:mod:`.store`): only the slice index lives in memory.

Both have the duck type the trainer needs (``__len__``, ``root``, ``fingerprint``, ``describe()``,
``batch(items)``) and prepare each slice when a batch asks for it, reading it from the store's
memory maps and putting it on the training canvas with :func:`~..geometry.to_canvas`:

* :class:`StorePairs`: (label map, MR) pairs for SPADE and PGGAN, the batches of
  :class:`~.paired.PairedSliceDataset` ((B, 2, size, size): MR in [-1, 1], class index as float);
* :class:`StoreSlices`: single MR slices for unconditional image GANs, the batches of
  :class:`~..train.data.SliceDataset` ((B, 1, size, size), random ``size`` crops of slices
  resized to ``load_size``).
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import torch

from ..geometry import to_canvas
from ..train.data import DatasetError
from .paired import kept_note
from .store import SliceStore, select_case_ids

#: How :meth:`StorePairs.describe` names the complete maps that were not given as _labels7 files.
_SOURCES = {"seg + tissues file": "from _seg and the given _tissues maps",
            "computed (napari_medsynth.tissues)": "from _seg and the tissue segmentation step at build time"}


#: Bytes of prepared (resized) slices a store dataset keeps for reuse: the slices drawn most
#: recently, so small datasets are as fast as in memory from the second epoch on, while memory
#: stays bounded for large ones (preparing a slice costs ~2 ms, a batch of 16 pairs ~35 ms).
CACHE_BYTES = 512 * 1024**2


class _PreparedCache:
    """Least-recently-used prepared slices, by key, within a byte budget."""

    def __init__(self, budget: int | None = None):
        self.budget, self.used = int(CACHE_BYTES if budget is None else budget), 0
        self._items: OrderedDict = OrderedDict()

    def get(self, key, make):
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        value = make()
        size = sum(a.nbytes for a in value) if isinstance(value, tuple) else value.nbytes
        if size <= self.budget:
            self._items[key] = value
            self.used += size
            while self.used > self.budget:
                _, old = self._items.popitem(last=False)
                self.used -= sum(a.nbytes for a in old) if isinstance(old, tuple) else old.nbytes
        return value


def _open(store) -> SliceStore:
    return store if isinstance(store, SliceStore) else SliceStore.open(store)


class _LabelSlices:
    """``dataset.labels[indices]``: the prepared label slices of dataset indices, read on demand."""

    def __init__(self, dataset: StorePairs):
        self._ds = dataset

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, idx) -> np.ndarray:
        return self._ds.label_slices(idx)


class StorePairs:
    """(MR, label map) slice pairs of the selected cases of a slice store.

    The slices are those of :class:`~.paired.PairedSliceDataset` on the source folder: every
    stored slice whose label map covers at least ``min_label_fraction`` of it, cases in id order
    (a store keeps the slices with at least its ``min_fraction`` of brain or labels, so thresholds
    below that find fewer slices than the folder would).
    """

    def __init__(self, store: SliceStore | str | os.PathLike, size: int, modality: str = "t1ce", include: str = "",
                 exclude: str = "", pad_to: int | None = None, min_label_fraction: float = 0.02):
        self.store = _open(store)
        self.root = self.store.path
        self.size, self.modality, self.pad_to = int(size), modality, pad_to
        if modality not in self.store.modalities:
            raise DatasetError(f"the slice store {self.root} holds {', '.join(self.store.modalities)}, not "
                               f"{modality!r}; choose one of those or rebuild the store with it")
        self._cases = select_case_ids(self.store.cases, include, exclude)
        chosen = self.store.slices(self._cases)
        self.indices = chosen[self.store.fraction("label_px")[chosen] >= min_label_fraction]
        if not len(self.indices):
            raise DatasetError(f"no slice of the selected cases in {self.root} has labelled pixels")
        self.fingerprint = self.store.fingerprint_of(self._cases, f"pairs:{modality}")
        self._cache = _PreparedCache()
        self.oversampled = 0
        self._oversample_note = ""
        self._kept_note = ""

    @property
    def cases(self) -> list[str]:
        return list(self._cases)

    @property
    def sources(self) -> list[tuple[str, int]]:
        """(case id, axial slice) of every dataset index, as :class:`~.paired.PairedSliceDataset` has."""
        cases, z = self.store.index["case"][self.indices], self.store.index["z"][self.indices]
        return [(self.store.cases[c], int(k)) for c, k in zip(cases, z)]

    def oversample(self, classes: tuple[int, ...], factor: int) -> int:
        """Repeat every slice that shows one of ``classes`` so it is drawn ``factor`` times as often.

        Works on the index only (the class bits of each stored slice, on the native grid). Returns the
        number of slices added.
        """
        if factor < 1:
            raise ValueError(f"the oversampling factor must be at least 1, not {factor}")
        base = self.indices[:len(self) - self.oversampled]
        hit = np.flatnonzero(self.store.has_classes(classes)[base])
        if factor == 1 or hit.size == 0:
            return 0
        extra = np.tile(base[hit], factor - 1)
        self.indices = np.concatenate([self.indices, extra])
        self.oversampled += len(extra)
        named = ", ".join(map(str, classes))
        self._oversample_note = f"{hit.size} slices with classes {named} drawn {factor}x as often"
        return len(extra)

    def keep_classes(self, classes: tuple[int, ...], present: bool = True) -> int:
        """Keep only the slices that show one of ``classes`` (or, ``present=False``, none of them);
        before any oversampling. Returns how many slices are left."""
        if self.oversampled:
            raise ValueError("choose the slices before oversampling them")
        hit = self.store.has_classes(classes)[self.indices]
        self.indices = self.indices[hit if present else ~hit]
        self._kept_note = kept_note(classes, present)
        return len(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def describe(self) -> str:
        text = (f"{len(self) - self.oversampled} labelled slices from {len(self._cases)} case(s) in slice store "
                f"{self.root} ({self.modality})")
        numbers = self.store.case_numbers(self._cases)
        sources = [self.store.records[c].get("labels7_source", "") for c in numbers]
        notes = [f"{sources.count(s)} with the complete map {_SOURCES.get(s, 'from ' + s)}"
                 for s in sorted(set(sources)) if s != "labels7 file"]
        if self.oversampled:
            notes.append(self._oversample_note)
        if self._kept_note:
            notes.append(self._kept_note)
        return text[:-1] + (f"; {'; '.join(notes)})" if notes else ")")

    def _pair(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        def make():
            mr = to_canvas(self.store.image(g, self.modality).astype(np.float32), self.size, side=self.pad_to)
            return mr, self._labels(g)

        return self._cache.get(g, make)

    def _labels(self, g: int) -> np.ndarray:
        return to_canvas(self.store.labels7(g), self.size, labels=True, side=self.pad_to)

    def label_slices(self, idx) -> np.ndarray:
        """(n, size, size) uint8 label maps of dataset indices ``idx`` (for previews)."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        return np.stack([self._labels(int(self.indices[i])) for i in idx])

    @property
    def labels(self) -> _LabelSlices:
        """Label slices by dataset index, read on demand: ``ds.labels[idx]`` as on the in-memory dataset."""
        return _LabelSlices(self)

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """(B, 2, size, size): MR in [-1, 1] and the class index as float, for ``items`` [(index, key)]."""
        pairs = [self._pair(int(self.indices[i])) for i, _ in items]
        arr = np.stack([np.stack([m, l.astype(np.float32)]) for m, l in pairs])
        return torch.from_numpy(np.ascontiguousarray(arr))


class StoreSlices:
    """Single MR slices of a slice store, one sample per (slice, modality).

    ``modalities``: which stored sequences (None: all of them; each slice of each is a sample, as
    :class:`~..train.data.SliceDataset` treats every volume of a folder). Slices are centred on
    the training canvas (:func:`~..geometry.to_canvas`, side ``pad_to`` or the slice's own),
    resized to ``load_size`` (default ``size``), and cropped at random to ``size`` when larger.
    ``min_foreground``: slices where less than this fraction is brain (non-zero in any stored
    modality) are skipped.
    """

    def __init__(self, store: SliceStore | str | os.PathLike, size: int, modalities=("t1ce",),
                 load_size: int | None = None, include: str = "", exclude: str = "", pad_to: int | None = None,
                 min_foreground: float = 0.05):
        self.store = _open(store)
        self.root = self.store.path
        self.size, self.load_size, self.pad_to = int(size), int(load_size or size), pad_to
        if self.load_size < self.size:
            raise DatasetError(f"load_size ({self.load_size}) must be at least the sample size ({self.size})")
        self.modalities = list(self.store.modalities if modalities is None else modalities)
        missing = [m for m in self.modalities if m not in self.store.modalities]
        if missing or not self.modalities:
            raise DatasetError(f"the slice store {self.root} holds {', '.join(self.store.modalities)}, not "
                               f"{', '.join(missing) or 'no modality'}")
        self._cases = select_case_ids(self.store.cases, include, exclude)
        chosen = self.store.slices(self._cases)
        chosen = chosen[self.store.fraction("brain_px")[chosen] >= min_foreground]
        if not len(chosen):
            raise DatasetError(f"no slice of the selected cases in {self.root} has at least {min_foreground:.0%} "
                               "brain")
        channel = [self.store.modalities.index(m) for m in self.modalities]
        self.indices = np.repeat(chosen, len(channel))
        self.channels = np.tile(np.asarray(channel, np.int64), len(chosen))
        self.fingerprint = self.store.fingerprint_of(self._cases, "slices:" + ",".join(self.modalities))
        self._cache = _PreparedCache()

    @property
    def cases(self) -> list[str]:
        return list(self._cases)

    def __len__(self) -> int:
        return len(self.indices)

    def describe(self) -> str:
        return (f"{len(self)} images ({', '.join(self.modalities)}) from {len(self._cases)} case(s) in slice store "
                f"{self.root}")

    def sample(self, index: int, rng: np.random.Generator) -> np.ndarray:
        g, c = int(self.indices[index]), int(self.channels[index])
        img = self._cache.get((g, c), lambda: to_canvas(self.store.images(g)[c].astype(np.float32), self.load_size,
                                                        side=self.pad_to))
        if self.load_size == self.size:
            return img
        top, left = rng.integers(0, self.load_size - self.size + 1, size=2)
        return img[top:top + self.size, left:left + self.size]

    def batch(self, items: list[tuple[int, tuple[int, ...]]]) -> torch.Tensor:
        """(B, 1, size, size) samples for ``items`` = [(index, crop key), ...]."""
        arr = np.stack([self.sample(i, np.random.default_rng(key)) for i, key in items])
        return torch.from_numpy(np.ascontiguousarray(arr[:, None]))
