"""k-means++ clusters for inspection and the Z-score norm filter, on made-up data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medsynth.metrics import kmeans_clusters, zscore_filter
from napari_medsynth.metrics.cleaning import pass_rate_by_size, pixel_statistics, size_matched_zscore_filter


def _blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 5, [10.0] * 5, [0.0, 10.0, 0.0, 10.0, 0.0]])
    truth = np.repeat([0, 1, 2], [30, 20, 10])
    return centres[truth] + rng.normal(scale=0.5, size=(60, 5)), truth


def test_kmeans_finds_k_clusters_whose_members_are_closest_to_their_centroid():
    x, truth = _blobs()
    c = kmeans_clusters(x, 3, n_representatives=4)
    assert c.k == 3 and sorted(c.sizes.tolist()) == [10, 20, 30]
    to_all = np.linalg.norm(x[:, None, :] - c.centroids[None], axis=2)  # (N, k)
    assert (to_all.argmin(axis=1) == c.labels).all()
    np.testing.assert_allclose(c.distances, to_all[np.arange(len(x)), c.labels])
    for group in range(3):  # each made-up group is exactly one cluster
        assert len(set(c.labels[truth == group])) == 1
    assert len(set(c.labels)) == 3


def test_representatives_are_the_members_nearest_the_centroid():
    x, _ = _blobs()
    c = kmeans_clusters(x, 3, n_representatives=4)
    for cluster, reps in enumerate(c.representatives):
        members = np.flatnonzero(c.labels == cluster)
        assert len(reps) == 4 and set(reps) <= set(members)
        assert c.distances[reps].max() <= np.sort(c.distances[members])[3] + 1e-12
        assert list(c.members(cluster)[:4]) == list(reps)


def test_discarding_a_cluster_removes_exactly_its_members():
    x, _ = _blobs()
    c = kmeans_clusters(x, 3)
    keep = c.keep_mask([1])
    assert keep.sum() == len(x) - c.sizes[1] and not keep[c.labels == 1].any()
    assert c.keep_mask([]).all()
    with pytest.raises(ValueError, match="no such cluster"):
        c.keep_mask([3])


def test_same_seed_same_clusters():
    x, _ = _blobs()
    np.testing.assert_array_equal(kmeans_clusters(x, 4, seed=1).labels, kmeans_clusters(x, 4, seed=1).labels)


@pytest.mark.parametrize("features, k, message", [
    (np.zeros((5, 2)), 6, "exceed"),
    (np.zeros((5, 2)), 0, "positive"),
    (np.full((5, 2), np.nan), 2, "NaN"),
    (np.zeros(5), 2, "2-D"),
])
def test_kmeans_bad_input(features, k, message):
    with pytest.raises(ValueError, match=message):
        kmeans_clusters(features, k)


def _slices(n, seed):
    """Made-up 'real' slices: a bright disc of varying size and texture on a zero background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    out = np.zeros((n, 32, 32))
    for i in range(n):
        r = rng.uniform(9, 12)
        disc = (yy - 16) ** 2 + (xx - 16) ** 2 < r * r
        texture = ndimage.gaussian_filter(rng.normal(size=(32, 32)), 1.5)
        out[i] = disc * (1.0 + 0.3 * texture)
    return out


def test_pixel_statistics_match_numpy_in_chunks():
    real = _slices(50, 1)
    mean, std = pixel_statistics(real, chunk_size=7)
    np.testing.assert_allclose(mean, real.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(std, real.std(axis=0), atol=1e-12)


def test_norm_of_a_hand_computed_case():
    real = np.stack([np.zeros((2, 2)), np.full((2, 2), 2.0)])  # mean 1, std 1 at every pixel
    report = zscore_filter(np.full((1, 2, 2), 3.0), real, threshold=3.9)
    assert report.norms[0] == pytest.approx(4.0)  # z = 2 at 4 pixels: sqrt(4 * 4)
    assert report.n_discarded == 1
    assert zscore_filter(np.full((1, 2, 2), 3.0), real, threshold=4.0).n_discarded == 0


def test_keeps_real_like_images_and_discards_corrupted_ones():
    real = _slices(300, 2)
    rng = np.random.default_rng(3)
    synthetic = _slices(40, 4)  # new draws of the same kind: must be kept
    corrupted = {
        5: synthetic[5] + rng.normal(scale=3.0, size=(32, 32)),       # heavy noise everywhere
        12: np.ones((32, 32)),                                          # a white square
        20: synthetic[20] + (np.arange(32) < 2)[None, :] * 0.5,         # stripe in the empty background
        33: 1.0 - synthetic[33],                                        # inverted contrast
    }
    for i, img in corrupted.items():
        synthetic[i] = img
    report = zscore_filter(synthetic, real)  # the paper's threshold, 500
    assert report.discarded.tolist() == sorted(corrupted)
    assert report.n_discarded == 4 and report.fraction_discarded == pytest.approx(0.1)
    assert report.keep.sum() == 36
    assert report.real_fraction_over == 0.0
    assert np.median(report.real_norms) < 100  # real-like images: about sqrt(32 * 32) = 32
    assert "discarded 4 of 40" in report.summary()


def test_zscore_bad_input():
    real = _slices(5, 5)
    with pytest.raises(ValueError, match="at least 2"):
        zscore_filter(real, real[:1])
    with pytest.raises(ValueError, match="threshold"):
        zscore_filter(real, real, threshold=0)
    with pytest.raises(ValueError, match=r"\(32, 32\)"):
        zscore_filter(np.zeros((2, 16, 16)), real)
    with pytest.raises(ValueError, match="NaN"):
        zscore_filter(np.full((2, 32, 32), np.nan), real)
    with pytest.raises(ValueError, match="at least 1"):
        zscore_filter(np.zeros((0, 32, 32)), real)


def _discs(radii, seed):
    """Bright textured discs of the given radii (the 'brain') on a zero background, 40 x 40."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :40]
    out = np.zeros((len(radii), 40, 40))
    for i, r in enumerate(radii):
        texture = ndimage.gaussian_filter(rng.normal(size=(40, 40)), 1.5)
        out[i] = ((yy - 20) ** 2 + (xx - 20) ** 2 < r * r) * (1.0 + 0.3 * texture)
    return out


def _small_and_large(n_small, n_large, seed):
    rng = np.random.default_rng(seed)
    return _discs(np.concatenate([rng.uniform(6.0, 7.0, n_small), rng.uniform(15.0, 16.0, n_large)]), seed + 1)


def test_paper_filter_prefers_small_images_and_the_size_matched_one_does_not():
    # Real: 80 % small objects, 20 % large ones. Fresh draws of both kinds are equally real-like.
    real = _small_and_large(160, 40, 10)
    synthetic = _small_and_large(25, 25, 20)
    small, large = slice(0, 25), slice(25, 50)

    # Both filters with the threshold that discards 10 % of the real images.
    paper_real = zscore_filter(real, real)
    assert np.median(paper_real.real_norms[160:]) > 1.5 * paper_real.real_norms[:160].max()
    paper = zscore_filter(synthetic, real, threshold=float(np.quantile(paper_real.real_norms, 0.9)))
    assert paper.keep[small].mean() == 1.0 and paper.keep[large].mean() <= 0.7  # large ones thrown out

    fair = size_matched_zscore_filter(synthetic, real, bins=5, real_quantile=0.9)
    assert fair.keep[small].mean() >= 0.7 and fair.keep[large].mean() >= 0.7
    assert abs(fair.keep[small].mean() - fair.keep[large].mean()) <= 0.2
    assert fair.threshold == pytest.approx(np.quantile(fair.real_norms, 0.9))
    assert fair.real_fraction_over == pytest.approx(0.1, abs=0.006)
    rows = pass_rate_by_size(fair.sizes, fair.keep, fair.edges)
    assert len(rows) == 5 and sum(r["n"] for r in rows) == 50 and rows[-1]["n"] == 25 and rows[-1]["kept"] >= 0.7
    assert "of their size" in fair.summary() and "90%" in fair.summary()


def test_size_matched_filter_discards_odd_images_of_any_size():
    real = _small_and_large(160, 40, 30)
    synthetic = _small_and_large(10, 10, 40)
    synthetic[3, :3, :] += 1.0                 # a stripe in the background of a small object
    synthetic[15] = 1.0 - synthetic[15]        # an inverted large object
    report = size_matched_zscore_filter(synthetic, real, bins=5)
    assert report.discarded.tolist() == [3, 15]


def test_size_matched_norms_by_hand_and_leave_one_out():
    # One bin of three real images; the synthetic image at the bin's mean has norm 0.
    real = np.stack([np.full((2, 2), v) for v in (1.0, 2.0, 3.0)])
    report = size_matched_zscore_filter(np.full((1, 2, 2), 2.0), real, bins=1, threshold=1.0, prior=0.0)
    assert report.norms[0] == pytest.approx(0.0)
    # Leave-one-out: 1.0 against {2, 3}: mean 2.5, std 0.5 -> z = -3 at 4 pixels -> norm 6; 3.0 the
    # same; 2.0 against {1, 3}: norm 0. Norms are relative to the bin's median real norm (6).
    assert report.real_norms.tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert report.real_quantile is None and report.threshold == 1.0 and report.keep.all()
    # The prior shrinks every spread towards that of all three images (var 2/3), with 4 pseudo-images:
    # 3.0 against all: std sqrt((3 * 2/3 + 4 * 2/3) / 7), z = 1 / that; the bin's median real norm is
    # that of 1.0 left out: mean 2.5, std sqrt((2 * 0.25 + 4 * 2/3) / 6), z = 1.5 / that.
    shrunk = size_matched_zscore_filter(np.full((1, 2, 2), 3.0), real, bins=1, threshold=10.0, prior=4.0)
    own = 2 * 1.0 / np.sqrt(2 / 3)
    typical = 2 * 1.5 / np.sqrt((2 * 0.25 + 4 * 2 / 3) / 6)
    assert shrunk.norms[0] == pytest.approx(own / typical)


def test_size_matched_bad_input():
    real = _discs([6.0] * 6, 0)
    with pytest.raises(ValueError, match="too few"):
        size_matched_zscore_filter(real, real, bins=3)
    with pytest.raises(ValueError, match="real_quantile"):
        size_matched_zscore_filter(real, real, bins=1, real_quantile=0.0)
    with pytest.raises(ValueError, match=r"\(40, 40\)"):
        size_matched_zscore_filter(np.zeros((1, 8, 8)), real, bins=1, sizes=[0.1])


def test_patient_wise_leave_out_judges_real_images_as_a_new_patient():
    # Each "patient" has its own texture pattern repeated over its slices (with small changes):
    # leaving out one slice leaves its near-copies in the statistics, leaving out the patient not.
    rng = np.random.default_rng(7)
    patients = [ndimage.gaussian_filter(rng.normal(size=(24, 24)), 2) for _ in range(8)]
    real = np.stack([p + 0.05 * rng.normal(size=p.shape) for p in patients for _ in range(10)])
    groups = np.repeat(np.arange(8), 10)
    others = [ndimage.gaussian_filter(rng.normal(size=(24, 24)), 2) for _ in range(4)]
    new = np.stack([p + 0.05 * rng.normal(size=p.shape) for p in others for _ in range(5)])
    by_slice = size_matched_zscore_filter(new, real, bins=1, sizes=np.ones(20), real_sizes=np.ones(80))
    by_patient = size_matched_zscore_filter(new, real, bins=1, sizes=np.ones(20), real_sizes=np.ones(80),
                                            groups=groups)
    assert by_slice.keep.mean() < 0.5           # a new patient looks atypical against near-copies
    assert by_patient.keep.mean() >= 0.75       # measured like a new patient, real maps set a fair bar
    with pytest.raises(ValueError, match="one id per real image"):
        size_matched_zscore_filter(new, real, bins=1, groups=groups[:5])
