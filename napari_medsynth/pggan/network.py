"""Progressive growing of GANs (Karras et al., ICLR 2018): generator and discriminator networks.

Both networks hold every resolution from 4 x 4 up to ``resolution`` and are evaluated at a
*level* (0: 4 x 4, 1: 8 x 8, ...) with a fade-in weight ``alpha``: while a new level fades in,
the output is ``(1 - alpha)`` times the upsampled output of the previous level plus ``alpha``
times the new level's output (and symmetrically in the discriminator), so growing never shocks
the trained lower levels. The ingredients of the paper:

* equalized learning rate: weights are drawn from N(0, 1) and scaled at run time by He's
  constant, so Adam's per-parameter step sizes are balanced across layers;
* pixel-wise feature normalisation in the generator (instead of batch norm);
* minibatch standard deviation as an extra feature map in the discriminator's last block,
  which lets it see the variety of a batch and so discourages mode collapse.

The number of output channels is free: 1 for MR slices, C for label maps (the generator's
raw output is then C-channel logits).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedConv2d(nn.Module):
    """Conv2d whose weights are scaled by sqrt(2 / fan_in) at run time (equalized learning rate)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit average square (PGGAN §4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one feature map: the standard deviation over groups of the batch, averaged (PGGAN §3).

    Samples are split into groups of ``group_size`` (or the whole batch when it does not divide);
    each group's std over samples, averaged over features and pixels, becomes a constant map.
    """
    b, c, h, w = x.shape
    g = min(group_size, b)
    if b % g:
        g = b
    y = x.reshape(g, -1, c, h, w)
    y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # (B / g,)
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


def channel_plan(resolution: int, width: int, max_width: int) -> list[int]:
    """Feature channels per level (4, 8, ..., resolution): ``width`` at the top, doubling per halving."""
    levels = level_count(resolution)
    return [min(max_width, width * 2 ** (levels - 1 - i)) for i in range(levels)]


def level_count(resolution: int) -> int:
    """Number of levels from 4 x 4 to ``resolution`` (a power of two >= 4)."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"the resolution must be a power of two of at least 4, not {resolution}")
    return int(math.log2(resolution)) - 1


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class PGGANGenerator(nn.Module):
    """Noise (B, z_dim) -> image (B, out_channels, 4 * 2**level, ...)."""

    def __init__(self, z_dim: int, resolution: int, out_channels: int, width: int = 16, max_width: int = 64):
        super().__init__()
        self.z_dim, self.resolution, self.out_channels = z_dim, resolution, out_channels
        ch = channel_plan(resolution, width, max_width)
        self.levels = len(ch)
        self.dense = EqualizedLinear(z_dim, ch[0] * 16, gain=math.sqrt(2.0) / 4)
        self.conv0 = EqualizedConv2d(ch[0], ch[0], 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(ch[i - 1], ch[i], 3), EqualizedConv2d(ch[i], ch[i], 3)])
            for i in range(1, self.levels))
        self.to_out = nn.ModuleList(EqualizedConv2d(c, out_channels, 1, gain=1.0) for c in ch)

    def forward(self, z: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        level = self.levels - 1 if level is None else level
        x = self.dense(pixel_norm(z)).reshape(z.shape[0], -1, 4, 4)
        x = pixel_norm(_lrelu(x))
        x = pixel_norm(_lrelu(self.conv0(x)))
        previous = x
        for i in range(1, level + 1):
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            conv_a, conv_b = self.blocks[i - 1]
            x = pixel_norm(_lrelu(conv_a(x)))
            x = pixel_norm(_lrelu(conv_b(x)))
        out = self.to_out[level](x)
        if level > 0 and alpha < 1.0:
            low = F.interpolate(self.to_out[level - 1](previous), scale_factor=2, mode="nearest")
            out = torch.lerp(low, out, alpha)
        return out


class PGGANDiscriminator(nn.Module):
    """Image (B, in_channels, 4 * 2**level, ...) -> critic score (B,) (no sigmoid: WGAN-GP)."""

    def __init__(self, resolution: int, in_channels: int, width: int = 16, max_width: int = 64,
                 mbstd_group: int = 4):
        super().__init__()
        self.resolution, self.in_channels, self.mbstd_group = resolution, in_channels, mbstd_group
        ch = channel_plan(resolution, width, max_width)
        self.levels = len(ch)
        self.from_in = nn.ModuleList(EqualizedConv2d(in_channels, c, 1) for c in ch)
        # blocks[i] takes level i+1 (ch[i+1]) down to level i (ch[i]).
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(ch[i + 1], ch[i + 1], 3), EqualizedConv2d(ch[i + 1], ch[i], 3)])
            for i in range(self.levels - 1))
        self.final_conv = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.final_dense = EqualizedLinear(ch[0] * 16, ch[0])
        self.score = EqualizedLinear(ch[0], 1, gain=1.0)

    def forward(self, image: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        level = self.levels - 1 if level is None else level
        x = _lrelu(self.from_in[level](image))
        for i in range(level, 0, -1):
            conv_a, conv_b = self.blocks[i - 1]
            x = _lrelu(conv_b(_lrelu(conv_a(x))))
            x = F.avg_pool2d(x, 2)
            if i == level and alpha < 1.0:
                low = _lrelu(self.from_in[level - 1](F.avg_pool2d(image, 2)))
                x = torch.lerp(low, x, alpha)
        x = minibatch_stddev(x, self.mbstd_group)
        x = _lrelu(self.final_conv(x))
        x = _lrelu(self.final_dense(x.flatten(1)))
        return self.score(x).squeeze(1)
