"""Starting points for a 7-class label map that a person edits and the renderer turns into MR.

Maps live on the renderer's square canvas: axial slices are centred on a 256 x 256 canvas (as
the training pairs, :mod:`napari_medsynth.geometry`) and resized by nearest neighbour to
the model size, so a map taken from a volume looks to the model like its training data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import labels as vocab
from ..geometry import CANVAS, to_canvas
from ..labels import N_CLASSES

TUMOR_CLASSES = (1, 2, 3)
TISSUE_CLASSES = (4, 5, 6)


class LabelMapError(ValueError):
    """A label map that cannot be used, with a message for the person who chose it."""


def class_names(values) -> list[str]:
    """Short names ("WM", "ET", ...) of 7-class values, in the order given."""
    short = {c.value: c.name.split(" ")[0] for c in vocab.COMPLETE7}
    return [short[int(v)] for v in values]


def template_map(size: int = CANVAS) -> np.ndarray:
    """An axial brain outline to paint into: grey-matter rim, white matter, two ventricles.

    A schematic, not anatomy: enough tissue for the renderer to produce a brain, with room to
    paint a tumor. Returns (size, size) uint8.
    """
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size  # pixel centres: symmetric
    cy, cx = 0.5, 0.5
    brain = ((yy - cy) / 0.40) ** 2 + ((xx - cx) / 0.33) ** 2 <= 1.0
    inner = ((yy - cy) / 0.36) ** 2 + ((xx - cx) / 0.29) ** 2 <= 1.0
    out = np.zeros((size, size), np.uint8)
    out[brain] = 5  # GM cortex ribbon
    out[inner] = 4  # WM
    for side in (-1, 1):  # lateral ventricles: two crescents either side of the midline
        vent = ((yy - 0.47) / 0.12) ** 2 + ((xx - (cx + side * 0.045)) / 0.03) ** 2 <= 1.0
        out[vent] = 6
    fissure = (np.abs(xx - cx) < 0.006) & ((yy < 0.3) | (yy > 0.66)) & brain
    out[fissure] = 6  # interhemispheric fissure, anterior and posterior
    return out


def fit_to_canvas(slice2d: np.ndarray, size: int, canvas: int = CANVAS) -> np.ndarray:
    """Centre a 2-D label slice on the ``canvas`` square and resize (nearest) to ``size``."""
    return to_canvas(slice2d, size, labels=True, side=canvas)


@dataclass
class SliceMap:
    """A 7-class map taken from one axial slice of a label volume, and what was done to it."""

    labels: np.ndarray  # (size, size) uint8, classes 0-6
    vocabulary: str  # "complete7" or "brats" (converted)
    slice_index: int
    notes: list[str]


def guess_vocabulary(values, class_names_hint: list[str] | None = None) -> str:
    """"complete7" or "brats" for a label volume; raises :class:`LabelMapError` otherwise.

    Class names attached to the layer decide when present; otherwise the values do: BraTS uses
    1, 2, 4 only, so a map holding 3, 5 or 6 is complete.
    """
    values = {int(v) for v in values}
    if class_names_hint:
        names = set(class_names_hint)
        if names >= {c.name for c in vocab.COMPLETE7[1:]} or any(n.startswith(("WM", "GM", "CSF")) for n in names):
            return _checked(values, "complete7")
        if names <= {c.name for c in vocab.BRATS}:
            return _checked(values, "brats")
    if values <= {0, 1, 2, 4} and 4 in values and not values & {3, 5, 6}:
        return "brats"
    return _checked(values, "complete7")


def _checked(values: set[int], vocabulary: str) -> str:
    allowed = {0, 1, 2, 4} if vocabulary == "brats" else set(range(N_CLASSES))
    bad = sorted(values - allowed)
    if bad:
        expected = "0, 1, 2, 4 (BraTS)" if vocabulary == "brats" else "0-6 (BG, NCR/NET, ED, ET, WM, GM, CSF)"
        raise LabelMapError(f"this label map holds value(s) {', '.join(map(str, bad[:8]))}; the renderer "
                            f"needs classes {expected}")
    return vocabulary


def map_from_volume(data: np.ndarray, index: int, size: int, class_names_hint: list[str] | None = None) -> SliceMap:
    """Axial slice ``index`` of a 2-D/3-D label array as a 7-class map at ``size`` x ``size``.

    BraTS segmentations (1 NCR/NET, 2 ED, 4 ET) are converted with
    :func:`napari_medsynth.labels.brats_to_complete7`; they carry no tissue classes, which the
    notes say, since the renderer then draws no brain around the tumor.
    """
    arr = np.asarray(data)
    if arr.dtype.kind not in "iub":
        raise LabelMapError("this layer does not hold integer labels")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise LabelMapError(f"a label volume must be 2-D or 3-D, this one has shape {arr.shape}")
    if not 0 <= index < arr.shape[0]:
        raise LabelMapError(f"slice {index} is outside the volume (0-{arr.shape[0] - 1})")
    sl = arr[index]
    if sl.shape[0] > 2 * CANVAS or sl.shape[1] > 2 * CANVAS:
        raise LabelMapError(f"slice of {sl.shape[0]} x {sl.shape[1]} pixels is too large for the "
                            f"{CANVAS} x {CANVAS} canvas of the renderer")
    vocabulary = guess_vocabulary(np.unique(arr), class_names_hint)
    notes = []
    if vocabulary == "brats":
        sl = vocab.brats_to_complete7(sl)
        notes.append("BraTS labels converted to the 7 classes")
    present = set(np.unique(sl).tolist())
    missing = [v for v in TISSUE_CLASSES if v not in present]
    if missing:
        notes.append(f"no {'/'.join(class_names(missing))} in this slice: paint the healthy tissue "
                     "or the MR shows background there")
    if not present & set(TUMOR_CLASSES):
        notes.append("no tumor in this slice")
    if max(sl.shape) > CANVAS:
        notes.append(f"cropped to the central {CANVAS} x {CANVAS}")
    return SliceMap(fit_to_canvas(sl, size), vocabulary, int(index), notes)


def validate_map(labels: np.ndarray) -> np.ndarray:
    """A 2-D uint8 copy of a map with classes 0-6, or :class:`LabelMapError`."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise LabelMapError(f"a label map must be 2-D, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= N_CLASSES):
        raise LabelMapError(f"the label map holds class {int(arr.max() if arr.max() >= N_CLASSES else arr.min())}; "
                            "only 0-6 (BG, NCR/NET, ED, ET, WM, GM, CSF) can be rendered")
    return arr.astype(np.uint8)
