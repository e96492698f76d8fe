"""SPADE label -> MR networks (Park et al. 2019) that render at the label map's own resolution.

:class:`SpadeGenerator` is fully convolutional: a 7-class label map of any size divisible by
``2**(len(channels)-1)`` (e.g. a whole 240 x 240 BraTS slice) renders to MR of that size on the
same 1 mm grid, with nothing resized. It trains on random crops (e.g. 128 x 128) of
full-resolution slices, which keeps CPU training affordable, and renders whole slices.

* The coarsest features come from the label map itself (down-sampled, plus noise), not from a
  fixed-size vector: no bottleneck ties the network to one image size.
* Every residual block is SPADE-normalised (batch norm without parameters, then a per-pixel scale
  and shift predicted from the conditioning maps), as in SPADE's generator. Batch norm in eval
  mode uses running statistics, so a render neither depends on the image size nor on what else is
  in the batch (instance norm would normalise a 128 px crop and a 240 px slice differently).
* The conditioning maps are the one-hot label map and ``noise_channels`` maps of spatially
  independent Gaussian noise (texture that is random given the labels, as in OASIS, Sushko et al.
  ICLR 2021); the style code z enters every SPADE modulation, so z sets the contrast of every
  block (a global vector added once before a normalisation would be normalised away).
* One network renders ``out_channels`` sequences (T1, T1-Gd, T2, FLAIR) at once from one z: one
  style seed describes one patient in all four.

:class:`StyleEncoder` is the VAE encoder of the style (all sequences of a real crop -> mu, logvar
of z); it pools globally, so it too takes any size. :func:`build_discriminator` is MONAI's
multi-scale PatchGAN on (label one-hot, MR) with instance norm, as in SPADE's discriminator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets import MultiScalePatchDiscriminator
from torch import nn


class Spade(nn.Module):
    """Parameter-free batch norm of ``x``, then ``x * (1 + gamma) + beta`` with gamma and beta
    predicted per pixel from the conditioning maps (already at ``x``'s size) and the style code.

    The style code is the same at every pixel, so its share of the first convolution is a
    per-channel bias (a linear map of z) instead of z broadcast into extra input maps: the same
    function away from the border, at a fraction of the cost at full resolution.
    """

    def __init__(self, channels: int, cond_nc: int, hidden: int, z_dim: int = 0):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Conv2d(cond_nc, hidden, 3, padding=1)
        self.style = nn.Linear(z_dim, hidden, bias=False) if z_dim else None
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        h = self.shared(cond)
        if self.style is not None and z is not None:
            h = h + self.style(z)[:, :, None, None]
        h = F.relu(h)
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SpadeResBlock(nn.Module):
    """SPADE residual block: (SPADE, leaky ReLU, 3x3 conv) twice, learned 1x1 shortcut when the
    width changes."""

    def __init__(self, c_in: int, c_out: int, cond_nc: int, hidden: int, z_dim: int = 0):
        super().__init__()
        mid = min(c_in, c_out)
        self.norm0, self.conv0 = Spade(c_in, cond_nc, hidden, z_dim), nn.Conv2d(c_in, mid, 3, padding=1)
        self.norm1, self.conv1 = Spade(mid, cond_nc, hidden, z_dim), nn.Conv2d(mid, c_out, 3, padding=1)
        self.skip = None
        if c_in != c_out:
            self.skip_norm = Spade(c_in, cond_nc, hidden, z_dim)
            self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        short = x if self.skip is None else self.skip(self.skip_norm(x, cond, z))
        h = self.conv0(F.leaky_relu(self.norm0(x, cond, z), 0.2))
        h = self.conv1(F.leaky_relu(self.norm1(h, cond, z), 0.2))
        return short + h


class StyleEncoder(nn.Module):
    """Real MR (B, in_channels, H, W), any size -> (mu, logvar) of the style code z (B, z_dim)."""

    def __init__(self, in_channels: int, z_dim: int, channels: tuple[int, ...] = (16, 32, 64, 64)):
        super().__init__()
        layers, c_prev = [], in_channels
        for c in channels:
            layers += [nn.Conv2d(c_prev, c, 3, stride=2, padding=1), nn.InstanceNorm2d(c, affine=True),
                       nn.LeakyReLU(0.2)]
            c_prev = c
        self.features = nn.Sequential(*layers)
        self.mu = nn.Linear(c_prev, z_dim)
        self.logvar = nn.Linear(c_prev, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(image).mean(dim=(2, 3))
        return self.mu(pooled), self.logvar(pooled)


class SpadeGenerator(nn.Module):
    """Label map (+ noise, + style code) -> ``out_channels`` MR images in [-1, 1] of the same size.

    ``channels``: widths of the residual blocks from the coarsest resolution ``H / 2**depth``
    (``depth = len(channels) - 1``) to full resolution. ``z_dim == 0``: no style code (one style
    per label map).
    """

    def __init__(self, label_nc: int = 7, out_channels: int = 4, channels: tuple[int, ...] = (128, 96, 64, 32),
                 z_dim: int = 16, noise_channels: int = 2, spade_hidden: int = 32,
                 encoder_channels: tuple[int, ...] = (16, 32, 64, 64)):
        super().__init__()
        if len(channels) < 2:
            raise ValueError("channels needs at least two widths (coarsest to finest)")
        self.label_nc, self.out_channels = label_nc, out_channels
        self.z_dim, self.noise_channels = z_dim, noise_channels
        self.channels = tuple(channels)
        self.multiple = 2 ** (len(channels) - 1)
        cond_nc = label_nc + noise_channels
        self.encoder = StyleEncoder(out_channels, z_dim, tuple(encoder_channels)) if z_dim > 0 else None
        self.conv_init = nn.Conv2d(cond_nc, channels[0], 3, padding=1)
        self.init_style = nn.Linear(z_dim, channels[0], bias=False) if z_dim else None
        outs = list(channels[1:]) + [channels[-1]]
        # The SPADE branch is never wider than its block: the full-resolution blocks dominate the cost.
        self.blocks = nn.ModuleList(SpadeResBlock(c_in, c_out, cond_nc, min(spade_hidden, max(c_in, 16)), z_dim)
                                    for c_in, c_out in zip(channels, outs))
        self.last = nn.Conv2d(channels[-1], out_channels, 3, padding=1)

    def make_noise(self, batch: int, height: int, width: int, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.randn((batch, self.noise_channels, height, width), generator=generator).to(device)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the style of ``image`` (B, out_channels, H, W)."""
        if self.encoder is None:
            raise ValueError("this generator has no style encoder (trained with z_dim=0)")
        return self.encoder(image)

    def check_size(self, height: int, width: int) -> None:
        if height % self.multiple or width % self.multiple:
            raise ValueError(f"this generator renders images whose sides are multiples of {self.multiple}; "
                             f"got {height} x {width} (pad the label map with background first)")

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                style_from: torch.Tensor | None = None):
        """``seg`` one-hot (B, label_nc, H, W); ``z`` (B, z_dim) or None (mean style, z = 0);
        ``noise`` (B, noise_channels, H, W) or None (fresh noise from the global generator).

        Training passes ``style_from`` (the real images): z is then sampled from the encoder's
        posterior and the result is ``(image, mu, logvar)``; otherwise just the image. (Encoding
        inside ``forward`` keeps the encoder under DistributedDataParallel's gradient sync.)
        """
        b, _, h, w = seg.shape
        self.check_size(h, w)
        if style_from is not None:
            mu, logvar = self.encode(style_from)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.forward(seg, z, noise), mu, logvar
        parts = [seg]
        if self.noise_channels:
            parts.append(self.make_noise(b, h, w, device=seg.device) if noise is None else noise.to(seg.dtype))
        cond = torch.cat(parts, 1)
        if self.z_dim:
            z = torch.zeros(b, self.z_dim, device=seg.device, dtype=seg.dtype) if z is None else z.to(seg.dtype)
        else:
            z = None
        # The conditioning maps at every resolution, made once (nearest: labels stay crisp).
        levels = [cond]
        for _ in range(len(self.blocks) - 1):
            levels.insert(0, F.interpolate(levels[0], scale_factor=0.5, mode="nearest"))
        x = self.conv_init(levels[0])
        if self.init_style is not None:
            x = x + self.init_style(z)[:, :, None, None]
        for i, block in enumerate(self.blocks):
            x = block(x, levels[i], z)
            if i < len(self.blocks) - 1:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return torch.tanh(self.last(F.leaky_relu(x, 0.2)))


def build_discriminator(size: int, label_nc: int = 7, channels: int = 32, num_d: int = 2,
                        num_layers_d: int = 3, image_channels: int = 1) -> MultiScalePatchDiscriminator:
    """Multi-scale PatchGAN on the concatenated (label one-hot, MR) pair."""
    return MultiScalePatchDiscriminator(num_d=num_d, num_layers_d=num_layers_d, spatial_dims=2, channels=channels,
                                        in_channels=label_nc + image_channels, out_channels=1, norm="INSTANCE",
                                        minimum_size_im=size, bias=True)


def kld_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mu, exp(logvar)) from N(0, I), summed over z and averaged over the batch
    as in SPADE's ``KLDLoss`` (which the recipe weights by 0.05)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]
