"""Confusion-matrix figure of a scored study (matplotlib, Agg: no screen, no pyplot state)."""

from __future__ import annotations

import os

import numpy as np

from .scoring import MEAN

_KINDS = {
    "real / synthetic": (("real", "synthetic"), ("real_as_real", "real_as_synthetic",
                                                  "synthetic_as_real", "synthetic_as_synthetic")),
    "tumor / non-tumor": (("tumor", "non-tumor"), ("tumor_as_tumor", "tumor_as_non_tumor",
                                                   "non_tumor_as_tumor", "non_tumor_as_non_tumor")),
}


def confusion_figure(rows: list[dict], path: str | os.PathLike, dpi: int = 110) -> str:
    """One 2x2 matrix per (group, reader) and per group for all readers pooled; a second band of
    tumor / non-tumor matrices when tumor answers were scored (as in Han et al., Table 2)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kinds = ["real / synthetic"] + (["tumor / non-tumor"] if any(r.get("tumor_n") for r in rows) else [])
    groups = list(dict.fromkeys(r["group"] for r in rows))
    readers = sorted({r["reader"] for r in rows if r["reader"] != MEAN})
    columns = readers + [MEAN] if len(readers) > 1 else readers
    bands = [(kind, g) for kind in kinds for g in groups]
    fig = Figure(figsize=(2.3 * len(columns) + 0.6, 2.3 * len(bands) + 0.4))
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(len(bands), len(columns), squeeze=False))
    by_key = {(r["reader"], r["group"]): r for r in rows}
    for i, (kind, group) in enumerate(bands):
        labels, names = _KINDS[kind]
        for j, reader in enumerate(columns):
            ax = axes[i, j]
            row = by_key.get((reader, group))
            counts = np.array([[row[names[0]], row[names[1]]], [row[names[2]], row[names[3]]]]) if row \
                else np.zeros((2, 2), int)
            _matrix(ax, counts, labels)
            who = "all readers" if reader == MEAN else reader
            ax.set_title(f"{who} - {group}\n{kind}", fontsize=8)
            if j:
                ax.set_ylabel("")
    fig.tight_layout()
    fig.savefig(str(path), dpi=dpi)
    return str(path)


def _matrix(ax, counts: np.ndarray, labels) -> None:
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (r, c), v in np.ndenumerate(counts):
        ax.text(c, r, f"{v}\n{share[r, c]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if share[r, c] > 0.6 else "black")
    ax.set_xticks([0, 1], labels, fontsize=7)
    ax.set_yticks([0, 1], labels, fontsize=7)
    ax.set_xlabel("answer", fontsize=7)
    ax.set_ylabel("truth", fontsize=7)
