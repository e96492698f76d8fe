"""Multi-scale sliced Wasserstein distance: pyramid, self-distance, noise, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medsynth.metrics.swd import (
    laplacian_pyramid,
    pyramid_resolutions,
    sliced_wasserstein,
    sliced_wasserstein_distance,
)

FAST = dict(patches_per_image=64, n_directions=64)


def _images(n, seed, size=32):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.normal(size=(n, size, size)), sigma=(0, 2, 2))
    return smooth / smooth.std()


def test_pyramid_levels_add_back_to_the_image():
    x = _images(3, 0, size=64)[:, None]
    levels = laplacian_pyramid(x, 3)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    from napari_medsynth.metrics.swd import _expand

    rebuilt = levels[-1]
    for band in levels[-2::-1]:
        rebuilt = band + _expand(rebuilt)
    np.testing.assert_allclose(rebuilt, x, atol=1e-5)
    # the band-pass levels carry detail only: a constant image leaves nothing in them
    flat = laplacian_pyramid(np.full((1, 1, 32, 32), 5.0), 2)
    np.testing.assert_allclose(flat[0], 0.0, atol=1e-5)
    np.testing.assert_allclose(flat[1], 5.0, atol=1e-5)


def test_resolutions_go_down_to_16_pixels():
    assert pyramid_resolutions((256, 256)) == [256, 128, 64, 32, 16]
    assert pyramid_resolutions((48, 64)) == [48, 24]


def test_sliced_distance_of_point_sets():
    a = np.random.default_rng(1).normal(size=(500, 1)).astype(np.float32)
    rng = np.random.default_rng(0)
    assert sliced_wasserstein(a, a, 8, 2, rng) == 0.0
    # in one dimension every direction is +-1, so a shift by 3 is a distance of exactly 3
    assert sliced_wasserstein(a, a + 3, 8, 2, rng) == pytest.approx(3.0, rel=1e-5)


def test_a_set_against_itself_is_near_zero_and_shrinks_with_more_patches():
    x = _images(32, 2)
    few = sliced_wasserstein_distance(x, x, patches_per_image=16, n_directions=64).mean
    many = sliced_wasserstein_distance(x, x, patches_per_image=256, n_directions=64).mean
    # only the random patch sample differs between the two sides: sampling noise, ~ 1/sqrt(patches)
    assert many < 0.6 * few
    noisy = sliced_wasserstein_distance(x, x + np.random.default_rng(3).normal(scale=1.0, size=x.shape), **FAST)
    assert many < 0.25 * noisy.mean


def test_grows_monotonically_with_added_noise():
    x = _images(32, 4)
    noise = np.random.default_rng(5).normal(size=x.shape)
    values = [sliced_wasserstein_distance(x, x + s * noise, **FAST).mean for s in (0.0, 0.1, 0.3, 1.0)]
    assert values[0] < values[1] < values[2] < values[3], values
    fine = [sliced_wasserstein_distance(x, x + s * noise, **FAST).per_level[0] for s in (0.0, 0.1, 0.3, 1.0)]
    assert fine[3] > 4 * fine[0], "white noise must show at the finest level"


def test_same_seed_same_result_and_unequal_set_sizes():
    x, y = _images(20, 6), _images(12, 7)
    a = sliced_wasserstein_distance(x, y, seed=3, **FAST)
    assert a == sliced_wasserstein_distance(x, y, seed=3, **FAST)
    assert a != sliced_wasserstein_distance(x, y, seed=4, **FAST)
    assert a.resolutions == (32, 16) and len(a.per_level) == 2


def test_reference_normalization_sees_a_contrast_change():
    x = _images(32, 8)
    each = sliced_wasserstein_distance(x, 3 * x, **FAST).mean
    reference = sliced_wasserstein_distance(x, 3 * x, normalize="reference", **FAST).mean
    same = sliced_wasserstein_distance(x, x, **FAST).mean
    assert each == pytest.approx(same, rel=0.3)  # PGGAN's per-set normalization ignores contrast
    assert reference > 10 * same


def test_multichannel_images():
    x = np.stack([_images(16, 9), _images(16, 10)], axis=1)  # (N, 2, H, W)
    assert sliced_wasserstein_distance(x, x[:, ::-1], **FAST).mean > 0


@pytest.mark.parametrize("a, b, kwargs, message", [
    (np.zeros((4, 66, 66)), np.zeros((4, 66, 66)), {}, "divisible by 4"),
    (np.zeros((4, 8, 8)), np.zeros((4, 8, 8)), {}, "smaller than"),
    (np.zeros((4, 32, 32)), np.zeros((4, 16, 16)), {}, "same image size"),
    (np.zeros((4, 2, 32, 32)), np.zeros((4, 1, 32, 32)), {}, "channel"),
    (np.zeros((4, 32, 32)), np.full((4, 32, 32), np.nan), {}, "NaN"),
    (np.zeros((4, 32, 32)), np.zeros((4, 32, 32)), {"patch_size": 6}, "odd"),
    (np.zeros((4, 32, 32)), np.zeros((4, 32, 32)), {"normalize": "global"}, "normalize"),
    (np.zeros((0, 32, 32)), np.zeros((4, 32, 32)), {}, "empty"),
])
def test_bad_input_is_refused_with_a_reason(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sliced_wasserstein_distance(a, b, **kwargs)
