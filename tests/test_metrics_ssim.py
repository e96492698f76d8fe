"""Paired SSIM: agrees with scikit-image computed independently, 1 for identical images, pairings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from napari_medsynth.metrics import ms_ssim_pairs, ssim_pairs


def _images(n, seed, size=32):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.normal(size=(n, size, size)), sigma=(0, 2, 2))
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())  # in [0, 1]


def test_identical_images_give_one():
    img = _images(1, 0)
    result = ssim_pairs(img, img.copy(), data_range=1.0, pairing="all")
    assert result.mean == pytest.approx(1.0) and result.n_pairs == 1


def test_all_pairs_match_scikit_image_computed_independently():
    gen, real = _images(3, 1), _images(4, 2)
    expected = [structural_similarity(g, r, data_range=1.0) for g in gen for r in real]
    result = ssim_pairs(gen, real, data_range=1.0, pairing="all")
    assert result.n_pairs == 12
    assert result.mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert result.std == pytest.approx(np.std(expected), rel=1e-12)
    assert 0.0 < result.mean < 0.9  # unrelated smooth images are not similar


def test_keyword_arguments_reach_scikit_image():
    gen, real = _images(2, 3), _images(2, 4)
    result = ssim_pairs(gen, real, data_range=2.0, pairing="all", gaussian_weights=True, sigma=1.5,
                        use_sample_covariance=False)
    expected = [structural_similarity(g, r, data_range=2.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False) for g in gen for r in real]
    assert result.mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert result.mean != pytest.approx(ssim_pairs(gen, real, data_range=1.0, pairing="all").mean)


def test_random_pairs_are_distinct_seeded_and_match_scikit_image():
    gen, real = _images(6, 5), _images(5, 6)
    a = ssim_pairs(gen, real, data_range=1.0, n_pairs=10, seed=7)
    b = ssim_pairs(gen, real, data_range=1.0, n_pairs=10, seed=7)
    assert a.n_pairs == 10 and len({tuple(p) for p in a.pairs}) == 10
    np.testing.assert_array_equal(a.pairs, b.pairs)
    expected = [structural_similarity(gen[i], real[j], data_range=1.0) for i, j in a.pairs]
    np.testing.assert_allclose(a.values, expected, rtol=1e-12)
    # fewer possible pairs than requested: every pair, exactly
    assert ssim_pairs(gen[:2], real[:2], data_range=1.0, n_pairs=10).n_pairs == 4


def test_nearest_finds_a_copied_training_image():
    real = _images(5, 8)
    gen = np.stack([real[3], _images(1, 9)[0]])
    result = ssim_pairs(gen, real, data_range=1.0, pairing="nearest")
    assert tuple(result.pairs[0]) == (0, 3) and result.values[0] == pytest.approx(1.0)
    assert result.values[1] < 1.0
    best = max(structural_similarity(gen[1], r, data_range=1.0) for r in real)
    assert result.values[1] == pytest.approx(best)


def test_channel_axis_of_one_is_accepted():
    gen, real = _images(2, 10), _images(2, 11)
    plain = ssim_pairs(gen, real, data_range=1.0, pairing="all").mean
    assert ssim_pairs(gen[:, None], real[:, None], data_range=1.0, pairing="all").mean == plain


@pytest.mark.parametrize("kwargs, message", [
    ({"data_range": 0.0}, "data_range"),
    ({"data_range": 1.0, "pairing": "closest"}, "pairing"),
    ({"data_range": 1.0, "n_pairs": 0}, "n_pairs"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ssim_pairs(_images(2, 0), _images(2, 1), **kwargs)


def test_bad_images_are_refused():
    good = _images(2, 0)
    with pytest.raises(ValueError, match="same image size"):
        ssim_pairs(good, _images(2, 1, size=16), data_range=1.0)
    bad = good.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ssim_pairs(bad, good, data_range=1.0)
    with pytest.raises(ValueError, match="empty"):
        ssim_pairs(np.zeros((0, 32, 32)), good, data_range=1.0)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ssim_pairs(good[0], good, data_range=1.0)


def test_ms_ssim_when_monai_is_installed():
    pytest.importorskip("monai")
    real = _images(2, 12, size=64)
    noisy = np.clip(real + np.random.default_rng(0).normal(scale=0.1, size=real.shape), 0, 1)
    settings = dict(data_range=1.0, pairing="all", kernel_size=3, weights=(0.5, 0.5))
    assert ms_ssim_pairs(real[:1], real[:1], **settings).mean == pytest.approx(1.0, abs=1e-5)
    same = ms_ssim_pairs(noisy[:1], real[:1], **settings).mean
    other = ms_ssim_pairs(noisy[:1], real[1:], **settings).mean
    assert 0 < other < same < 1
