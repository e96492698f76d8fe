"""Finding synthetic images to discard: k-means++ clusters to inspect, and the Z-score norm filter.

GAN outputs include odd, artifact-ridden images; training on them can hurt (Han et al.: with no
ImageNet pre-training, discarding them improved tumor detection). Two tools from the papers:

* :func:`kmeans_clusters` (Han et al.): k-means++ on network features of the synthetic images
  (they used DenseNet-169 features and 200 clusters). Similar weird images land together, so a
  person looks at a few representatives per cluster and discards whole clusters
  (:meth:`Clusters.keep_mask`). Nothing is discarded automatically.
* :func:`zscore_filter` (PGGAN+SPADE, §3.4): each synthetic image is standardized pixel-wise
  with the mean and standard deviation of the real images *at that pixel* (over the batch
  axis); the Euclidean norm of the standardized image says how far it strays from all real
  images, and images above a threshold (500 in the paper) are discarded. The report also says
  what fraction of the *real* images the same threshold would discard, which is how the paper
  chose it (discard many synthetic images, almost no real ones).

The threshold depends on the image size: a real-like image has a norm of about
sqrt(number of pixels) (256 for the paper's 256x256 label maps), so 500 means "about twice a
typical real image"; scale it for other sizes. Pixels that are constant over all real images
(background) have zero spread; there the spread is floored at ``min_std`` (default 1 % of the
real images' overall standard deviation) so that a synthetic image that puts anything there
counts heavily, instead of dividing by zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .arrays import feature_matrix, image_stack


@dataclass(frozen=True)
class Clusters:
    """k-means++ clusters of N images: cluster id per image and what to show per cluster."""

    labels: np.ndarray           # (N,) cluster id of each image
    sizes: np.ndarray            # (k,) images per cluster
    centroids: np.ndarray        # (k, D)
    distances: np.ndarray        # (N,) distance of each image to its centroid
    representatives: tuple[np.ndarray, ...]  # per cluster: indices of the members closest to the centroid
    inertia: float               # sum of squared distances (for comparing k)

    @property
    def k(self) -> int:
        return int(len(self.sizes))

    def members(self, cluster: int) -> np.ndarray:
        """Indices of the images in ``cluster``, closest to the centroid first."""
        return _closest_first(self.labels, self.distances, cluster)

    def keep_mask(self, discard: Iterable[int]) -> np.ndarray:
        """Boolean mask of the images to keep after discarding the listed clusters."""
        discard = np.asarray(list(discard), dtype=np.int64)
        bad = discard[(discard < 0) | (discard >= self.k)]
        if bad.size:
            raise ValueError(f"no such cluster(s): {bad.tolist()} (clusters are 0..{self.k - 1})")
        return ~np.isin(self.labels, discard)


def kmeans_clusters(features, k: int, *, n_representatives: int = 8, seed: int = 0,
                    n_init: int | str = "auto") -> Clusters:
    """Cluster (N, D) features into ``k`` groups with k-means++ (scikit-learn).

    The features usually come from :func:`~napari_medsynth.metrics.features.module_outputs`;
    flattened images work too but group by brightness more than by content.
    ``representatives`` holds up to ``n_representatives`` indices per cluster for a viewer.
    """
    from sklearn.cluster import KMeans

    x = feature_matrix(features, "features")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    if k > len(x):
        raise ValueError(f"k ({k}) must not exceed the number of images ({len(x)})")
    if n_representatives < 1:
        raise ValueError(f"n_representatives must be >= 1; got {n_representatives}")
    model = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=seed).fit(x)
    labels = model.labels_.astype(np.int64)
    centroids = model.cluster_centers_
    distances = np.linalg.norm(x - centroids[labels], axis=1)
    reps = tuple(_closest_first(labels, distances, c)[:n_representatives] for c in range(k))
    return Clusters(labels, np.bincount(labels, minlength=k), centroids, distances, reps, float(model.inertia_))


def _closest_first(labels: np.ndarray, distances: np.ndarray, cluster: int) -> np.ndarray:
    idx = np.flatnonzero(labels == cluster)
    return idx[np.argsort(distances[idx], kind="stable")]


@dataclass(frozen=True)
class ZScoreReport:
    """What the Z-score norm filter keeps and discards."""

    norms: np.ndarray        # (N,) norm of each standardized synthetic image
    threshold: float
    keep: np.ndarray         # (N,) bool
    real_norms: np.ndarray   # (M,) norms of the real images under the same statistics

    @property
    def discarded(self) -> np.ndarray:
        return np.flatnonzero(~self.keep)

    @property
    def n_discarded(self) -> int:
        return int((~self.keep).sum())

    @property
    def fraction_discarded(self) -> float:
        return self.n_discarded / len(self.keep)

    @property
    def real_fraction_over(self) -> float:
        """Fraction of the real images the same threshold would discard (should be ~0)."""
        return float((self.real_norms > self.threshold).mean())

    def summary(self) -> str:
        return (f"discarded {self.n_discarded} of {len(self.keep)} synthetic images "
                f"({self.fraction_discarded:.1%}) with norm > {self.threshold:g}; the same threshold "
                f"would discard {self.real_fraction_over:.1%} of the real images")


def pixel_statistics(real, chunk_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and standard deviation over the real images (N, H, W), in float64.

    Two passes over chunks (mean, then squared deviations), which stays accurate for large
    intensities and never holds more than one chunk in float64.
    """
    n = _count(real, "real", 2)
    total = None
    for chunk in _chunks(real, "real", chunk_size):
        s = chunk.sum(axis=0)
        total = s if total is None else total + s
    mean = total / n
    sq = np.zeros_like(mean)
    for chunk in _chunks(real, "real", chunk_size):
        sq += ((chunk - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(sq / n)


def zscore_filter(synthetic, real, threshold: float = 500.0, *, min_std: float | None = None,
                  chunk_size: int = 512) -> ZScoreReport:
    """Discard synthetic images whose pixel-wise Z-score against the real images has norm > threshold.

    ``synthetic`` (N, H, W) and ``real`` (M >= 2, H, W) are array-likes (memory maps work; they
    are read ``chunk_size`` images at a time).
    """
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number; got {threshold}")
    _count(synthetic, "synthetic", 1)
    mean, std = pixel_statistics(real, chunk_size)
    if min_std is None:
        pooled = float(np.sqrt(np.mean(std ** 2 + (mean - mean.mean()) ** 2)))  # std of all real pixels
        min_std = 0.01 * pooled if pooled > 0 else 1.0
    elif not min_std > 0:
        raise ValueError(f"min_std must be positive; got {min_std}")
    scale = np.maximum(std, min_std)

    def norms(images, name):
        out = []
        for chunk in _chunks(images, name, chunk_size):
            if chunk.shape[1:] != mean.shape:
                raise ValueError(f"{name} images are {chunk.shape[1:]}, real images {mean.shape}")
            z = (chunk - mean) / scale
            out.append(np.sqrt((z.reshape(len(z), -1) ** 2).sum(axis=1)))
        return np.concatenate(out)

    synthetic_norms = norms(synthetic, "synthetic")
    return ZScoreReport(synthetic_norms, float(threshold), synthetic_norms <= threshold, norms(real, "real"))


def _count(images, name: str, minimum: int) -> int:
    n = len(images) if hasattr(images, "__len__") else 0
    if n < minimum:
        raise ValueError(f"{name} needs at least {minimum} image(s); got {n}")
    return n


def _chunks(images, name: str, chunk_size: int):
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    for start in range(0, len(images), chunk_size):
        yield image_stack(images[start:start + chunk_size], name)
