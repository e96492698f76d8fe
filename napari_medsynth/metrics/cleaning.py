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

The paper's filter prefers small images of the object: where real brains of different sizes
overlap only sometimes (the rim of the head), the real spread is small, and a large brain puts
tissue there, while a small brain leaves pixels empty where the real mean is only moderate.
:func:`size_matched_zscore_filter` compares each image with the real images *of its own size*
(foreground area in quantile bins of the real areas), and chooses the threshold on the real
images themselves, from their leave-one-out norms, so the same fraction of real images passes in
every size bin and synthetic images are not judged by their size.
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


@dataclass(frozen=True)
class SizeMatchedReport(ZScoreReport):
    """:class:`ZScoreReport` of :func:`size_matched_zscore_filter`, with the size of every image."""

    sizes: np.ndarray = None        # (N,) foreground fraction of each synthetic image
    real_sizes: np.ndarray = None   # (M,)
    edges: np.ndarray = None        # (bins + 1,) size-bin edges (quantiles of the real sizes)
    real_quantile: float | None = None  # the threshold is this quantile of the real norms (None: given)

    def summary(self) -> str:
        chosen = (f" (the {self.real_quantile:.0%} quantile of the real images' leave-one-out norms)"
                  if self.real_quantile is not None else "")
        return (f"discarded {self.n_discarded} of {len(self.keep)} synthetic images "
                f"({self.fraction_discarded:.1%}) with a norm over {self.threshold:.2f} x the median of the real "
                f"images of their size{chosen}; "
                f"the same threshold discards {self.real_fraction_over:.1%} of the real images")


def foreground_fraction(images) -> np.ndarray:
    """(N,) fraction of non-zero pixels of each image (N, H, W): the brain area of a label map."""
    a = np.asarray(images)
    return (a.reshape(len(a), -1) != 0).mean(axis=1)


def bin_of(sizes, edges: np.ndarray) -> np.ndarray:
    """Bin index 0..len(edges)-2 of each size; sizes beyond the outer edges go to the outer bins."""
    return np.searchsorted(np.asarray(edges)[1:-1], np.asarray(sizes, dtype=np.float64), side="right")


def pass_rate_by_size(sizes, keep, edges: np.ndarray) -> list[dict]:
    """Per size bin: its edges, how many images fall in it and what fraction of them is kept."""
    sizes, keep = np.asarray(sizes), np.asarray(keep, dtype=bool)
    which = bin_of(sizes, edges)
    rows = []
    for b in range(len(edges) - 1):
        hit = which == b
        rows.append({"bin": b, "size_from": round(float(edges[b]), 4), "size_to": round(float(edges[b + 1]), 4),
                     "n": int(hit.sum()), "kept": round(float(keep[hit].mean()), 4) if hit.any() else None})
    return rows


def size_matched_zscore_filter(synthetic, real, *, bins: int = 6, real_quantile: float = 0.99,
                               threshold: float | None = None, sizes=None, real_sizes=None,
                               min_std: float | None = None, prior: float = 4.0, groups=None,
                               chunk_size: int = 256) -> SizeMatchedReport:
    """The Z-score norm filter with the per-pixel statistics of the real images of the same size.

    ``synthetic`` (N, H, W) and ``real`` (M, H, W). ``sizes`` / ``real_sizes`` (default: the
    foreground fraction, :func:`foreground_fraction`) put every image in one of ``bins`` bins with
    edges at quantiles of the real sizes (images outside the real range go to the outer bins).
    Each image is standardised with the mean and spread of the real images of its bin; a real
    image's own norm leaves the image out of its bin's statistics (leave-one-out), so real and
    synthetic images are measured alike. The norm of a typical image grows with its object (about
    the square root of its pixels with real variation), so norms are reported *relative to the
    median real norm of the bin*: 1.0 is a typical real image of that size. The threshold is the
    ``real_quantile`` quantile of the real images' relative norms (or ``threshold``, in the same
    units, if given), so about ``1 - real_quantile`` of the real images is discarded, in every bin
    alike, and a synthetic image passes if it is as typical for its size as most real images are
    for theirs. A bin's per-pixel variance is shrunk towards the variance of all real images at
    that pixel, as if ``prior`` images of every size were added to the bin, so pixels that no real
    image of the bin happens to cover are judged by the real images of other sizes rather than by
    the ``min_std`` floor alone. ``groups`` (one id per real image, e.g. the patient): a real
    image's norm then leaves its whole group out, because slices of one patient resemble each
    other far more than those of two patients do, and leaving out only the slice would make real
    images look more typical than a new patient's slices are.
    """
    if not 0.0 < real_quantile <= 1.0:
        raise ValueError(f"real_quantile must be in (0, 1], not {real_quantile}")
    if threshold is not None and (not np.isfinite(threshold) or threshold <= 0):
        raise ValueError(f"threshold must be a positive number; got {threshold}")
    n_syn = _count(synthetic, "synthetic", 1)
    m = _count(real, "real", 2)
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    if not prior >= 0:
        raise ValueError(f"prior must not be negative; got {prior}")
    if m < 3 * bins:
        raise ValueError(f"{m} real images are too few for {bins} size bins (at least 3 per bin); use fewer bins "
                         "or more real images")
    real_sizes = foreground_fraction(real) if real_sizes is None else np.asarray(real_sizes, dtype=np.float64)
    sizes = foreground_fraction(synthetic) if sizes is None else np.asarray(sizes, dtype=np.float64)
    if len(real_sizes) != m or len(sizes) != n_syn:
        raise ValueError("sizes and real_sizes must give one number per image")
    edges = np.quantile(real_sizes, np.linspace(0.0, 1.0, bins + 1))  # bins of equal real counts
    real_bin, syn_bin = bin_of(real_sizes, edges), bin_of(sizes, edges)

    first = image_stack(real[:1], "real")
    shape = first.shape[1:]
    sums = np.zeros((bins, *shape))
    squares = np.zeros((bins, *shape))
    counts = np.bincount(real_bin, minlength=bins).astype(np.float64)
    # leave-one-out unit: the image itself, or its whole group (patient) when groups are given
    if groups is not None:
        labels = np.asarray(groups)
        if labels.shape != (m,):
            raise ValueError(f"groups must give one id per real image ({m}), not shape {labels.shape}")
        unit = np.unique(labels, return_inverse=True)[1]
        pairs, pair_of = np.unique(real_bin * (unit.max() + 1) + unit, return_inverse=True)  # (bin, group)
        pair_sums, pair_squares = np.zeros((len(pairs), *shape)), np.zeros((len(pairs), *shape))
        pair_counts = np.bincount(pair_of, minlength=len(pairs)).astype(np.float64)
    start = 0
    for chunk in _chunks(real, "real", chunk_size):
        b = real_bin[start:start + len(chunk)]
        np.add.at(sums, b, chunk)
        np.add.at(squares, b, chunk ** 2)
        if groups is not None:
            np.add.at(pair_sums, pair_of[start:start + len(chunk)], chunk)
            np.add.at(pair_squares, pair_of[start:start + len(chunk)], chunk ** 2)
        start += len(chunk)
    if (counts < 3).any():
        raise ValueError("some size bins hold fewer than 3 real images (many images of one size); use fewer bins")
    mean = sums / counts[:, None, None]
    if min_std is None:
        total = sums.sum(0).sum() / (m * first[0].size)
        pooled = float(np.sqrt(max(squares.sum() / (m * first[0].size) - total ** 2, 0.0)))
        min_std = 0.01 * pooled if pooled > 0 else 1.0
    elif not min_std > 0:
        raise ValueError(f"min_std must be positive; got {min_std}")
    # A bin's spread is shrunk towards the spread at that pixel over all real images (``prior``
    # pseudo-images), so a pixel that happens to be constant in a small bin is not a wall.
    overall = np.maximum(squares.sum(0) / m - (sums.sum(0) / m) ** 2, 0.0)
    n_bin = counts[:, None, None]

    def spread(n, var):
        return np.maximum(np.sqrt((n * var + prior * overall) / (n + prior)), min_std)

    scale = spread(n_bin, np.maximum(squares / n_bin - mean ** 2, 0.0))

    syn_norms, start = [], 0
    for chunk in _chunks(synthetic, "synthetic", chunk_size):
        if chunk.shape[1:] != shape:
            raise ValueError(f"synthetic images are {chunk.shape[1:]}, real images {shape}")
        b = syn_bin[start:start + len(chunk)]
        z = (chunk - mean[b]) / scale[b]
        syn_norms.append(np.sqrt((z.reshape(len(z), -1) ** 2).sum(axis=1)))
        start += len(chunk)
    real_norms, start = [], 0
    for chunk in _chunks(real, "real", chunk_size):
        b = real_bin[start:start + len(chunk)]
        if groups is None:
            left_s, left_q, left_n = chunk, chunk ** 2, np.ones(len(chunk))
        else:
            k = pair_of[start:start + len(chunk)]
            left_s, left_q, left_n = pair_sums[k], pair_squares[k], pair_counts[k]
        rest = (counts[b] - left_n)[:, None, None]
        if (rest < 2).any():
            raise ValueError("a size bin holds the images of one group (patient) only; use fewer bins or more "
                             "groups")
        loo_mean = (sums[b] - left_s) / rest
        loo_var = np.maximum((squares[b] - left_q) / rest - loo_mean ** 2, 0.0)
        z = (chunk - loo_mean) / spread(rest, loo_var)
        real_norms.append(np.sqrt((z.reshape(len(z), -1) ** 2).sum(axis=1)))
        start += len(chunk)
    syn_norms, real_norms = np.concatenate(syn_norms), np.concatenate(real_norms)
    typical = np.array([np.median(real_norms[real_bin == b]) for b in range(bins)])
    typical = np.where(typical > 0, typical, 1.0)
    syn_norms, real_norms = syn_norms / typical[syn_bin], real_norms / typical[real_bin]
    quantile = None
    if threshold is None:
        quantile = float(real_quantile)
        threshold = float(np.quantile(real_norms, quantile))
    return SizeMatchedReport(syn_norms, float(threshold), syn_norms <= threshold, real_norms, sizes=sizes,
                             real_sizes=real_sizes, edges=edges, real_quantile=quantile)


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
