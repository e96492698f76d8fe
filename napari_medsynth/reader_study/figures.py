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


def roc_figure(panels, path: str | os.PathLike, dpi: int = 110) -> str:
    """One ROC plot per group (``analysis.RocPanel``): each reader's empirical curve, all readings
    pooled (bold), the binormal fit of the pooled ratings (dashed) and the chance diagonal. The
    axes follow "positive = called synthetic": x = real images called synthetic, y = synthetic
    images called synthetic."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = list(panels)
    cols = min(3, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig = Figure(figsize=(4.2 * cols, 4.3 * rows))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for ax, panel in zip(axes, panels):
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=1, label="chance (AUC 0.5)")
        for i, (reader, (fpf, tpf, auc)) in enumerate(sorted(panel.readers.items())):
            ax.plot(fpf, tpf, "-o", ms=2.5, lw=1, alpha=0.8, color=colours[i % len(colours)],
                    label=f"{reader}: {auc:.2f}")
        if panel.pooled is not None:
            fpf, tpf, auc = panel.pooled
            ax.plot(fpf, tpf, "-", color="black", lw=2.2, label=f"pooled: {auc:.2f}")
        if panel.fit is not None:
            grid = np.linspace(0, 1, 201)
            kind = "equal-var. binormal" if panel.fit.equal_variance else "binormal"
            ax.plot(grid, panel.fit.tpf(grid), "--", color="black", lw=1.2, label=f"{kind}: {panel.fit.auc:.2f}")
        title = f"{panel.group}"
        if panel.mean_auc is not None:
            low, high = panel.ci
            title += f": mean AUC {panel.mean_auc:.2f}"
            if low is not None:
                title += f" [{low:.2f}–{high:.2f}]"
        ax.set_title(title, fontsize=11)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("real images called synthetic (FPF)", fontsize=10)
        ax.set_ylabel("synthetic images called synthetic (TPF)", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.legend(fontsize=9, loc="lower right", title="AUC", title_fontsize=9)
    for ax in axes[len(panels):]:
        ax.axis("off")
    if not panels:
        axes[0].text(0.5, 0.5, "no group has both real and synthetic answers", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(str(path), dpi=dpi)
    return str(path)
