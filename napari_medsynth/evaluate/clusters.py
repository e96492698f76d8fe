"""Discarding clusters of synthetic images (Han et al.): read a report's ``clusters.npz``, write
the list of images kept.

``clusters.npz`` (written by :func:`~.report.evaluate`) holds every synthetic image as evaluated,
its cluster, its distance to the cluster centre and its source ("file" or "file[index]" relative
to the synthetic folder). A reviewer looks at the clusters, picks those that look unrealistic,
and :func:`write_kept_list` records the decision in ``kept.json`` next to it; the images
themselves are never deleted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_text
from .training import EvaluationError


@dataclass
class ClusterFile:
    path: Path
    images: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    sources: list[str]
    root: str

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1

    def members(self, cluster: int) -> np.ndarray:
        """Indices of a cluster's images, closest to its centre first."""
        idx = np.flatnonzero(self.labels == cluster)
        return idx[np.argsort(self.distances[idx], kind="stable")]


def load_clusters(path: str | os.PathLike) -> ClusterFile:
    path = Path(path)
    if path.is_dir():
        path = path / "clusters.npz"
    if not path.is_file():
        raise EvaluationError(f"{path} not found: run the evaluation with clusters (--clusters K) first")
    try:
        with np.load(path, allow_pickle=False) as z:
            return ClusterFile(path, z["images"], z["labels"], z["distances"], [str(s) for s in z["sources"]],
                               str(z["root"]))
    except (KeyError, ValueError, OSError) as exc:
        raise EvaluationError(f"{path} is not a clusters file written by the evaluation ({exc})") from exc


def write_kept_list(clusters: ClusterFile, discard, path: str | os.PathLike | None = None) -> Path:
    """Write ``kept.json``: the synthetic images outside the discarded clusters, and the discarded ones."""
    discard = sorted({int(c) for c in discard})
    bad = [c for c in discard if not 0 <= c < clusters.k]
    if bad:
        raise EvaluationError(f"cluster(s) {bad} do not exist; there are {clusters.k} (0..{clusters.k - 1})")
    keep = ~np.isin(clusters.labels, discard)
    target = Path(path) if path is not None else clusters.path.with_name("kept.json")
    doc = {"synthetic_root": clusters.root, "discarded_clusters": discard,
           "kept": [s for s, k in zip(clusters.sources, keep) if k],
           "discarded": [s for s, k in zip(clusters.sources, keep) if not k]}
    atomic_write_text(target, json.dumps(doc, indent=2) + "\n")
    return target
