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

VOCABULARIES = {"brats": BRATS, "complete7": COMPLETE7}

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
