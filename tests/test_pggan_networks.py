"""PGGAN building blocks: growth schedule, fade-in, equalized learning rate, minibatch stddev."""

import pytest
import torch
import torch.nn.functional as F

from napari_medsynth.pggan.network import (
    EqualizedConv2d,
    PGGANDiscriminator,
    PGGANGenerator,
    channel_plan,
    minibatch_stddev,
    pixel_norm,
)
from napari_medsynth.pggan.schedule import GrowthSchedule


def test_schedule_walks_through_levels_with_fades():
    s = GrowthSchedule(levels=3, stable_kimg=1.0, fade_kimg=2.0)
    assert s.at(0) == (0, 1.0)
    assert s.at(999) == (0, 1.0)
    assert s.at(1000) == (1, 0.0)           # fade-in of 8x8 starts
    assert s.at(2000) == (1, 0.5)
    assert s.at(3000) == (1, 1.0)           # stable 8x8
    assert s.at(4500) == (2, 0.25)          # fading in 16x16
    assert s.at(6000) == (2, 1.0)
    assert s.at(10 ** 9) == (2, 1.0)        # stays at the last level
    assert s.kimg_to_full() == pytest.approx(6.0)
    alphas = [s.at(n) for n in range(0, 7000, 50)]
    assert alphas == sorted(alphas)         # never goes back


def test_schedule_rejects_nonsense():
    with pytest.raises(ValueError, match="at least one level"):
        GrowthSchedule(0, 1, 1)
    with pytest.raises(ValueError, match="must not be negative"):
        GrowthSchedule(3, -1, 1)


def test_channel_plan_and_bad_resolution():
    assert channel_plan(64, 16, 64) == [64, 64, 64, 32, 16]
    with pytest.raises(ValueError, match="power of two"):
        channel_plan(48, 16, 64)


def test_generator_fade_in_starts_from_the_upsampled_previous_level():
    torch.manual_seed(0)
    G = PGGANGenerator(z_dim=8, resolution=16, out_channels=7, width=4, max_width=8)
    z = torch.randn(3, 8)
    with torch.no_grad():
        low = G(z, level=1)
        start = G(z, level=2, alpha=0.0)
        end = G(z, level=2, alpha=1.0)
        mid = G(z, level=2, alpha=0.25)
    assert low.shape == (3, 7, 8, 8) and end.shape == (3, 7, 16, 16)
    assert torch.allclose(start, F.interpolate(low, scale_factor=2, mode="nearest"), atol=1e-6)
    assert torch.allclose(mid, 0.75 * start + 0.25 * end, atol=1e-5)
    assert not torch.allclose(start, end)


def test_discriminator_fade_in_and_levels():
    torch.manual_seed(0)
    D = PGGANDiscriminator(resolution=16, in_channels=7, width=4, max_width=8)
    x16 = torch.rand(4, 7, 16, 16)
    with torch.no_grad():
        assert D(x16).shape == (4,)
        # alpha 0: the new block is ignored, the image is only average-pooled into level 1
        assert torch.allclose(D(x16, 2, 0.0), D(F.avg_pool2d(x16, 2), 1), atol=1e-5)
        assert not torch.allclose(D(x16, 2, 1.0), D(F.avg_pool2d(x16, 2), 1), atol=1e-3)


def test_equalized_conv_scales_weights_at_run_time():
    conv = EqualizedConv2d(32, 8, 3)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.1)  # stored at unit variance
    x = torch.randn(64, 32, 9, 9)
    y = conv(x)[:, :, 1:-1, 1:-1]
    assert y.std().item() == pytest.approx(2 ** 0.5, rel=0.2)       # He gain at run time


def test_pixel_norm_and_minibatch_stddev():
    x = torch.randn(4, 6, 3, 3) * 5
    assert torch.allclose(pixel_norm(x).pow(2).mean(1), torch.ones(4, 3, 3), atol=1e-4)
    same = torch.randn(1, 6, 3, 3).repeat(4, 1, 1, 1)
    out = minibatch_stddev(same)
    assert out.shape == (4, 7, 3, 3)
    assert out[:, -1].abs().max() < 1e-3          # identical samples: no spread
    varied = minibatch_stddev(torch.randn(4, 6, 3, 3))
    assert varied[:, -1].min() > 0.3
