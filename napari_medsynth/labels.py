"""Label vocabularies shared by readers, models and widgets.

Two conventions appear throughout the project:

* BraTS tumor labels: 1 necrotic / non-enhancing core, 2 peritumoral edema, 4 enhancing tumor.
* The 7-class "complete" map of the PGGAN+SPADE paper: BraTS tumor classes renumbered to 1-3
  plus the healthy tissues 4 WM, 5 GM, 6 CSF.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelClass:
    value: int
    name: str
    color: str  # hex RGB, used for napari colormaps and figures


BRATS = (
    LabelClass(0, "background", "#000000"),
    LabelClass(1, "NCR/NET (necrotic / non-enhancing core)", "#e41a1c"),
    LabelClass(2, "ED (peritumoral edema)", "#4daf4a"),
    LabelClass(4, "ET (enhancing tumor)", "#ffd92f"),
)

COMPLETE7 = (
    LabelClass(0, "BG (background)", "#000000"),
    LabelClass(1, "NCR/NET (necrotic / non-enhancing core)", "#e41a1c"),
    LabelClass(2, "ED (peritumoral edema)", "#4daf4a"),
    LabelClass(3, "ET (enhancing tumor)", "#ffd92f"),
    LabelClass(4, "WM (white matter)", "#f0f0f0"),
    LabelClass(5, "GM (grey matter)", "#8c8c8c"),
    LabelClass(6, "CSF (cerebrospinal fluid)", "#377eb8"),
)

#: BraTS 2023+ segmentations store ET as 3. Layers hold the internal values (4 for ET, as BraTS
#: 2018-2021); these names tell the user which value the file itself holds.
BRATS2023 = (
    LabelClass(0, "background", "#000000"),
    LabelClass(1, "NCR (necrotic core; 1 in the file, BraTS 2023)", "#e41a1c"),
    LabelClass(2, "ED (peritumoral edema; 2 in the file, BraTS 2023)", "#4daf4a"),
    LabelClass(4, "ET (enhancing tumor; 3 in the file, BraTS 2023)", "#ffd92f"),
)

VOCABULARIES = {"brats": BRATS, "brats2023": BRATS2023, "complete7": COMPLETE7}

#: Tumor-label conventions of BraTS segmentation files -> {file value: internal value}.
#: The internal vocabulary is the 2018-2021 one (1 NCR/NET, 2 ED, 4 ET).
SEG_CONVENTIONS = {
    "brats2018": {0: 0, 1: 1, 2: 2, 4: 4},
    "brats2023": {0: 0, 1: 1, 2: 2, 3: 4},
}


def detect_seg_convention(values, naming: str = "brats2018") -> str:
    """The tumor-label convention of a segmentation from its values, else from the file naming.

    ET is 4 in BraTS 2018-2021 files and 3 in BraTS 2023+ files; a segmentation without ET (a
    low-grade glioma, say) keeps the convention its naming implies. Raises ``ValueError`` for
    values that are neither.
    """
    vals = {int(v) for v in values}
    if not vals <= {0, 1, 2, 3, 4}:
        raise ValueError(f"holds label values {sorted(vals - {0, 1, 2, 3, 4})}; BraTS tumor labels are "
                         "1, 2 and 4 (2018-2021) or 1, 2 and 3 (2023+)")
    if 3 in vals and 4 in vals:
        raise ValueError("holds both 3 and 4; BraTS files use 4 (2018-2021) or 3 (2023+) for enhancing tumor, "
                         "never both")
    if 4 in vals:
        return "brats2018"
    if 3 in vals:
        return "brats2023"
    return naming if naming in SEG_CONVENTIONS else "brats2018"


def seg_to_internal(seg, convention: str):
    """A segmentation in ``convention`` -> the internal values (1 NCR/NET, 2 ED, 4 ET)."""
    import numpy as np

    seg = np.asarray(seg)
    if convention == "brats2023":
        out = seg.copy()
        out[seg == 3] = 4
        return out
    return seg


def seg_from_internal(seg, convention: str):
    """Internal tumor labels -> the values a ``convention`` file stores (inverse of :func:`seg_to_internal`)."""
    import numpy as np

    seg = np.asarray(seg)
    if convention == "brats2023":
        out = seg.copy()
        out[seg == 4] = 3
        return out
    return seg

#: Classes of the complete map: what label-map generators produce and renderers take.
N_CLASSES = len(COMPLETE7)


def one_hot(labels, n_classes: int = N_CLASSES):
    """(B, H, W) or (B, 1, H, W) class-index tensor -> (B, C, H, W) float one-hot tensor."""
    import torch

    if labels.dim() == 4:
        labels = labels[:, 0]
    return torch.nn.functional.one_hot(labels.long().clamp(0, n_classes - 1), n_classes).permute(0, 3, 1, 2).float()


def brats_to_complete7(seg, tissues=None):
    """Map BraTS labels (1/2/4) and an optional tissue map (1 CSF, 2 GM, 3 WM) to the 7-class map."""
    import numpy as np

    seg = np.asarray(seg)
    out = np.zeros(seg.shape, dtype=np.uint8)
    if tissues is not None:
        tissues = np.asarray(tissues)
        out[tissues == 3] = 4
        out[tissues == 2] = 5
        out[tissues == 1] = 6
    out[seg == 2] = 2
    out[seg == 1] = 1
    out[seg == 4] = 3
    return out
