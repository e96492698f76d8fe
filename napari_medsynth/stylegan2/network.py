"""StyleGAN2 (Karras et al., CVPR 2020) networks for single-channel MR slices, class-conditional.

Generator = mapping network (z and a class embedding -> intermediate latent w, with a running
mean of w for truncation) + synthesis network (a learned 4 x 4 constant, then per resolution two
modulated 3 x 3 convolutions with per-pixel noise, and a 1 x 1 "to image" layer whose outputs are
summed over resolutions: the skip architecture). Every layer's weights are stored at unit
variance and scaled at run time ("equalized learning rate"); the mapping network's learning
rate is 100x lower (``lr_mul``), as in the paper.

Modulation/demodulation replaces StyleGAN's AdaIN: the style ``s`` (an affine map of w) scales
the convolution's input channels, and demodulation rescales each output channel so that the
expected output variance is one, which removes the "droplet" artifacts of instance norm. The
per-sample weights are applied as one grouped convolution.

Discriminator: residual blocks halving the resolution, minibatch standard deviation, and a
projection head for the class (the score is the dot product of the features with an embedding
of the class, as in StyleGAN2-ADA's conditional discriminator).

Simplifications, said plainly: upsampling and downsampling are bilinear (the paper uses a
[1, 3, 3, 1] FIR filter with transposed convolutions), and there is no mixed precision.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Activation gain that keeps leaky-ReLU (slope 0.2) outputs at unit variance.
LRELU_GAIN = math.sqrt(2.0)


class ScaledLinear(nn.Module):
    """Fully connected layer with run-time weight scaling and a learning-rate multiplier."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class MappingNetwork(nn.Module):
    """z (and a class) -> w. The class enters as a learned embedding concatenated to z, both
    normalised to unit mean square first. ``w_avg`` tracks the mean w during training."""

    def __init__(self, z_dim: int, w_dim: int, n_classes: int = 0, layers: int = 4, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.n_classes = z_dim, w_dim, n_classes
        self.embed = ScaledLinear(n_classes, w_dim) if n_classes else None
        width = z_dim + (w_dim if n_classes else 0)
        self.layers = nn.ModuleList(ScaledLinear(width if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activation=True)
                                    for i in range(layers))
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation: float = 1.0,
                update_w_avg: bool = False) -> torch.Tensor:
        x = _unit_mean_square(z)
        if self.embed is not None:
            if c is None:
                raise ValueError("this generator is class-conditional: give a class for every sample")
            x = torch.cat([x, _unit_mean_square(self.embed(c))], dim=1)
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation != 1.0:
            x = self.w_avg.lerp(x, truncation)
        return x


def _unit_mean_square(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0) -> torch.Tensor:
    """Convolve each sample of ``x`` (B, I, H, W) with ``weight`` (O, I, k, k) scaled per input
    channel by its ``styles`` (B, I), optionally demodulated (each output channel's weights
    rescaled to unit norm), as one grouped convolution."""
    b, i, h, w = x.shape
    o = weight.shape[0]
    wts = weight[None] * styles[:, None, :, None, None]          # (B, O, I, k, k)
    if demodulate:
        wts = wts * (wts.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    out = F.conv2d(x.reshape(1, b * i, h, w), wts.reshape(b * o, i, *weight.shape[2:]), padding=padding, groups=b)
    return out.reshape(b, o, *out.shape[2:])


class ModulatedConv(nn.Module):
    """A modulated convolution with its style affine (w -> s, bias initialised to 1)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, kernel: int = 3, demodulate: bool = True):
        super().__init__()
        self.affine = ScaledLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if not self.demodulate:  # to-image layers: the plain weight gain instead of demodulation
            styles = styles * self.weight_gain
        return modulated_conv2d(x, self.weight, styles, self.demodulate, self.padding)


class SynthesisLayer(nn.Module):
    """Modulated 3 x 3 conv (after a 2x upsample if ``up``), per-pixel noise, bias, leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, w_dim)
        self.up = up
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None,
                noise_mode: str = "random") -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w)
        if noise_mode != "none":
            if noise is None:
                noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * LRELU_GAIN


class SynthesisBlock(nn.Module):
    """One resolution: (upsample +) two synthesis layers and a to-image layer added to the
    upsampled image of the resolutions below (skip architecture)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, channels: int, first: bool = False):
        super().__init__()
        self.first = first
        self.conv0 = None if first else SynthesisLayer(in_ch, out_ch, w_dim, up=True)
        self.conv1 = SynthesisLayer(out_ch, out_ch, w_dim)
        self.to_image = ModulatedConv(out_ch, channels, w_dim, kernel=1, demodulate=False)
        self.image_bias = nn.Parameter(torch.zeros(channels))
        self.num_ws = 2 if first else 3  # w's used: conv0 (if any), conv1, to_image

    def forward(self, x, image, ws, noise_mode="random", noises=(None, None)):
        i = 0
        if self.conv0 is not None:
            x = self.conv0(x, ws[:, i], noises[0], noise_mode)
            i += 1
        x = self.conv1(x, ws[:, i], noises[1], noise_mode)
        y = self.to_image(x, ws[:, i + 1]) + self.image_bias[None, :, None, None]
        image = y if image is None else F.interpolate(image, scale_factor=2, mode="bilinear",
                                                      align_corners=False) + y
        return x, image


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    return int(min(channel_base // resolution, channel_max))


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, resolution: int, channels: int = 1, channel_base: int = 4096,
                 channel_max: int = 128):
        super().__init__()
        levels = int(round(math.log2(resolution)))
        if 2 ** levels != resolution or resolution < 8:
            raise ValueError(f"resolution must be a power of two of at least 8, not {resolution}")
        self.resolution = resolution
        self.resolutions = [2 ** k for k in range(2, levels + 1)]
        c4 = channels_at(4, channel_base, channel_max)
        self.const = nn.Parameter(torch.randn(c4, 4, 4))
        blocks, prev = [], c4
        for res in self.resolutions:
            ch = channels_at(res, channel_base, channel_max)
            blocks.append(SynthesisBlock(prev, ch, w_dim, channels, first=res == 4))
            prev = ch
        self.blocks = nn.ModuleList(blocks)
        # consecutive blocks share a w (to_image of one and conv0 of the next), as in the paper
        self.num_ws = sum(b.num_ws for b in self.blocks) - (len(self.blocks) - 1)

    def noise_shapes(self) -> list[tuple[int, int]]:
        """(layer count, side) of the noise inputs, block by block, for fixed noise."""
        return [(1 if b.first else 2, res) for b, res in zip(self.blocks, self.resolutions)]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", noises=None) -> torch.Tensor:
        if ws.shape[1] != self.num_ws:
            raise ValueError(f"expected {self.num_ws} w vectors per sample, got {ws.shape[1]}")
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        image, i = None, 0
        for k, block in enumerate(self.blocks):
            n = (None, None) if noises is None else noises[k]
            x, image = block(x, image, ws[:, i:i + block.num_ws], noise_mode, n)
            i += block.num_ws - 1
        return image


class StyleGAN2Generator(nn.Module):
    """z (B, z_dim) and class (B,) long -> image (B, channels, R, R), roughly in [-1, 1]."""

    def __init__(self, z_dim: int = 128, w_dim: int = 128, resolution: int = 128, n_classes: int = 0,
                 channels: int = 1, mapping_layers: int = 4, channel_base: int = 4096, channel_max: int = 128):
        super().__init__()
        self.z_dim, self.w_dim, self.n_classes = z_dim, w_dim, n_classes
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, channel_base, channel_max)
        self.mapping = MappingNetwork(z_dim, w_dim, n_classes, mapping_layers)
        self.num_ws = self.synthesis.num_ws

    def one_hot(self, c: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if not self.n_classes:
            return None
        if c is None:
            raise ValueError("this generator is class-conditional: give a class for every sample")
        c = torch.as_tensor(c, device=self.mapping.w_avg.device).long().reshape(-1)
        if c.numel() != batch or c.min() < 0 or c.max() >= self.n_classes:
            raise ValueError(f"classes must be {batch} integers from 0 to {self.n_classes - 1}")
        return F.one_hot(c, self.n_classes).float()

    def ws(self, z: torch.Tensor, c=None, truncation: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        w = self.mapping(z, self.one_hot(c, z.shape[0]), truncation, update_w_avg)
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, c=None, truncation: float = 1.0, noise_mode: str = "random",
                update_w_avg: bool = False) -> torch.Tensor:
        return self.synthesis(self.ws(z, c, truncation, update_w_avg), noise_mode)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean standard deviation over groups of the batch as one feature map."""
    b, c, h, w = x.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / g,)
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class ScaledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activation: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.activation, self.padding = activation, kernel // 2

    def forward(self, x):
        x = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.padding)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class DiscriminatorBlock(nn.Module):
    """Two 3 x 3 convs and a 2x downsample, plus a 1 x 1 residual path, scaled by 1/sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = ScaledConv(in_ch, in_ch, 3)
        self.conv1 = ScaledConv(in_ch, out_ch, 3)
        self.skip = ScaledConv(in_ch, out_ch, 1, bias=False, activation=False)

    def forward(self, x):
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(self.conv1(self.conv0(x)), 2)
        return (x + skip) / math.sqrt(2.0)


class StyleGAN2Discriminator(nn.Module):
    """image (B, channels, R, R) and class -> realness logit (B,)."""

    def __init__(self, resolution: int = 128, n_classes: int = 0, channels: int = 1, channel_base: int = 4096,
                 channel_max: int = 128, mbstd_group: int = 4):
        super().__init__()
        levels = int(round(math.log2(resolution)))
        if 2 ** levels != resolution or resolution < 8:
            raise ValueError(f"resolution must be a power of two of at least 8, not {resolution}")
        self.n_classes = n_classes
        self.from_image = ScaledConv(channels, channels_at(resolution, channel_base, channel_max), 1)
        blocks = []
        for res in [2 ** k for k in range(levels, 2, -1)]:
            blocks.append(DiscriminatorBlock(channels_at(res, channel_base, channel_max),
                                             channels_at(res // 2, channel_base, channel_max)))
        self.blocks = nn.Sequential(*blocks)
        c4 = channels_at(4, channel_base, channel_max)
        self.mbstd_group = mbstd_group
        self.conv = ScaledConv(c4 + 1, c4, 3)
        self.fc = ScaledLinear(c4 * 16, c4, activation=True)
        self.cmap_dim = c4 if n_classes else 1
        self.out = ScaledLinear(c4, self.cmap_dim)
        self.embed = ScaledLinear(n_classes, self.cmap_dim) if n_classes else None

    def forward(self, image: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self.blocks(self.from_image(image))
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        x = self.out(self.fc(x.flatten(1)))
        if self.embed is None:
            return x[:, 0]
        if c is None:
            raise ValueError("this discriminator is class-conditional: give a class for every image")
        cmap = self.embed(F.one_hot(c.long(), self.n_classes).float())
        return (x * cmap).sum(dim=1) / np.sqrt(self.cmap_dim)
