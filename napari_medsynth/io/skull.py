"""Is a volume skull-stripped? A check for every step that takes the non-zero voxels as the brain.

Crops, the SAGE merge, tissue maps and SPADE training pairs find the brain as the non-zero voxels
of a skull-stripped scan (as BraTS distributes them). On a scan that still has scalp and skull
that mask is the whole head, and every result made from it is wrong without any error. Two signs
give such a scan away:

* its background is not zero: a skull-stripped volume is zero outside the brain (80-90 % of a
  BraTS grid), a native scan has noise and head everywhere (here 3-10 % zeros);
* its foreground is larger than a brain: the head above a noise threshold (Otsu) measures about
  3000 ml on native scans, an adult brain 1000-1800 ml.

No skull stripping is offered inside napari-medsynth: the maintained tools (HD-BET, SynthStrip,
FSL BET, ROBEX) are separate installs, and the deep-learning ones fetch their weights on first
use. The warning says what to run instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .errors import NotSkullStrippedWarning

#: Fewer exactly-zero voxels than this (fraction of the grid) means the background was not removed.
MIN_ZERO_FRACTION = 0.3
#: A foreground larger than this (ml) is a head, not a brain.
MAX_BRAIN_ML = 2200.0

ADVICE = ("strip the skull first (for example with HD-BET, SynthStrip or FSL BET) and open the stripped "
          "volume; BraTS and the shipped sample cases already are skull-stripped")


def skull_strip_problem(volume: np.ndarray, spacing: Sequence[float] | None = None) -> str | None:
    """Why ``volume`` does not look skull-stripped, or None if it does (or is too small to tell)."""
    v = np.asarray(volume)
    if v.ndim != 3 or v.size == 0 or min(v.shape) < 2:
        return None
    zero = float(np.mean(v == 0))
    if zero < MIN_ZERO_FRACTION:
        return (f"only {zero:.0%} of its voxels are zero, so the background around the head was not removed "
                "and the 'brain' would be the whole field of view")
    step = max(1, v.shape[0] // 40)  # every step-th axial slice stands for its neighbours
    sample = v[::step].astype(np.float32)
    nz = sample[sample != 0]
    if nz.size < 100:
        return None
    from skimage.filters import threshold_otsu

    threshold = 0.5 * float(threshold_otsu(nz))
    filled = np.stack([ndimage.binary_fill_holes(s) for s in sample > threshold])
    voxel_ml = float(np.prod(spacing[-3:])) / 1000.0 if spacing is not None else 0.001
    ml = float(filled.sum()) * step * voxel_ml
    if ml > MAX_BRAIN_ML:
        return (f"its foreground measures {ml:,.0f} ml, more than a brain (about 1000-1800 ml): scalp and skull "
                "are probably still there")
    return None


def warn_if_not_skull_stripped(volume: np.ndarray, spacing: Sequence[float] | None = None, name: str = "the volume",
                               use: str = "the brain mask") -> str | None:
    """Warn (:class:`NotSkullStrippedWarning`) when ``volume`` still shows the head; returns the message."""
    problem = skull_strip_problem(volume, spacing)
    if problem is None:
        return None
    message = (f"{name} does not look skull-stripped: {problem}. {use[:1].upper() + use[1:]} assumes a "
               f"skull-stripped brain, so the result will include scalp and skull; {ADVICE}.")
    warnings.warn(message, NotSkullStrippedWarning, stacklevel=3)
    return message
