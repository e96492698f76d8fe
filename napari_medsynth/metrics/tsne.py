"""t-SNE map of real and synthetic feature vectors, and its figure (Han et al., Fig. 7).

Points from sets that the network cannot tell apart mix in the map; a synthetic set that sits
apart from the real one, or covers only part of it (mode collapse), shows at a glance. Han et
al. used 300 images per category, perplexity 100 and 1,000 iterations. t-SNE distances between
far-apart clusters and the axes carry no meaning, so the figure has no ticks.

Features are reduced to ``pca_components`` dimensions by PCA first when they have more (the
usual practice: faster, and less noise in the neighbour search).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write
from .arrays import feature_matrix

_STYLES = [("tab:blue", "o"), ("tab:orange", "^"), ("tab:green", "s"), ("tab:red", "D"),
           ("tab:purple", "v"), ("tab:brown", "P"), ("tab:pink", "X"), ("tab:gray", "*")]


@dataclass(frozen=True)
class Embedding:
    """2-D t-SNE coordinates with the name of the set each point came from."""

    points: np.ndarray    # (N, 2)
    groups: np.ndarray    # (N,) set name of each point
    names: tuple[str, ...]  # set names in the order given
    perplexity: float

    def of(self, name: str) -> np.ndarray:
        return self.points[self.groups == name]


def tsne_embedding(feature_sets: Mapping[str, object], *, perplexity: float | None = None,
                   max_iter: int = 1000, seed: int = 0, pca_components: int = 50) -> Embedding:
    """Embed several named (N_i, D) feature sets together, e.g. ``{"real": fr, "synthetic": fs}``.

    ``perplexity`` defaults to 30, lowered to (N - 1) / 3 for small sets (it must stay below
    the number of points); Han et al. used 100 with 300 images per set.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if not isinstance(feature_sets, Mapping) or not feature_sets:
        raise ValueError("feature_sets must be a non-empty mapping of set name -> (N, D) features")
    arrays = {str(name): feature_matrix(f, f"features of {name!r}") for name, f in feature_sets.items()}
    dims = {name: a.shape[1] for name, a in arrays.items()}
    if len(set(dims.values())) > 1:
        raise ValueError(f"all sets need the same feature size; got {dims}")
    x = np.concatenate(list(arrays.values()))
    groups = np.concatenate([np.full(len(a), name, dtype=object) for name, a in arrays.items()])
    n = len(x)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points in all; got {n}")
    if perplexity is None:
        perplexity = min(30.0, (n - 1) / 3)
    elif not 0 < perplexity < n:
        raise ValueError(f"perplexity must be between 0 and the number of points ({n}); got {perplexity}")
    if x.shape[1] > pca_components:
        x = PCA(n_components=min(pca_components, n), random_state=seed).fit_transform(x)
    points = TSNE(n_components=2, perplexity=perplexity, max_iter=max_iter, init="pca",
                  learning_rate="auto", random_state=seed).fit_transform(x)
    return Embedding(points, groups, tuple(arrays), float(perplexity))


def save_tsne_figure(embedding: Embedding, path: str | os.PathLike, title: str | None = None,
                     dpi: int = 120) -> Path:
    """Scatter plot of the embedding, one colour and marker per set, written atomically.

    The format follows the file extension (.png, .svg, .pdf). Uses matplotlib's Agg canvas
    directly: no screen and no pyplot state, so it is safe in worker threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    fig = Figure(figsize=(5.5, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, name in enumerate(embedding.names):
        colour, marker = _STYLES[i % len(_STYLES)]
        pts = embedding.of(name)
        ax.scatter(pts[:, 0], pts[:, 1], s=14, c=colour, marker=marker, alpha=0.7, linewidths=0,
                   label=f"{name} (n={len(pts)})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8, frameon=True)
    ax.set_title(title or f"t-SNE (perplexity {embedding.perplexity:g})", fontsize=10)
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi), suffix=path.suffix or ".png")
