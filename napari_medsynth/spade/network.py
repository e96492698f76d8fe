"""SPADE label -> MR networks (Park et al. 2019), assembled from MONAI's building blocks.

* :class:`SpadeGenerator` stacks MONAI's ``SPADENetResBlock`` (SPADE-normalised residual blocks
  conditioned on the one-hot label map) and, for the optional style VAE, MONAI's ``SPADEEncoder``.
  It is not MONAI's ``SPADENet`` itself for two reasons, both about texture:

  1. ``SPADEDecoder`` upsamples *after* its last residual block, so the full-resolution image is
     one 3x3 convolution over nearest-upsampled half-resolution features, which draws 2x2 blocks.
     Here the last residual block runs at full resolution.
  2. MR texture (thermal/Rician noise, fine anatomy below the label resolution) is random given the
     label map. A generator fed only the label map and one global style vector can only paint it
     smooth. As in OASIS (Schoenfeld/Sushko et al., ICLR 2021), ``noise_channels`` maps of
     spatially independent Gaussian noise are concatenated to the label map that conditions every
     SPADE block, so the generator can draw texture; a fixed noise seed makes a render repeatable.

* :func:`build_discriminator`: MONAI's ``MultiScalePatchDiscriminator`` on (label one-hot, MR),
  instance normalisation as in SPADE's discriminator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets import MultiScalePatchDiscriminator
from monai.networks.nets.spade_network import SPADEEncoder, SPADENetResBlock
from torch import nn


class SpadeGenerator(nn.Module):
    """Label map (+ noise, + optional style vector) -> one-channel MR image in [-1, 1].

    ``channels`` are the feature widths of the residual blocks from the coarsest resolution
    ``size / 2**(len(channels)-1)`` up to ``size``. With ``z_dim > 0`` a style vector z (the VAE
    latent of :attr:`encoder`, or N(0, I) samples at inference; z = 0 is the mean style) sets the
    coarsest features; with ``z_dim == 0`` they come from the down-sampled label map.
    """

    def __init__(self, size: int = 128, label_nc: int = 7, channels: tuple[int, ...] = (128, 128, 64, 32, 16),
                 z_dim: int = 16, noise_channels: int = 2, spade_hidden: int = 32,
                 encoder_channels: tuple[int, ...] = (16, 32, 64, 64, 64)):
        super().__init__()
        depth = len(channels) - 1
        if size % (2 ** depth) or size % (2 ** len(encoder_channels)):
            raise ValueError(f"image size {size} must be divisible by 2**{max(depth, len(encoder_channels))}")
        self.size, self.label_nc, self.z_dim, self.noise_channels = size, label_nc, z_dim, noise_channels
        self.channels = tuple(channels)
        self.bottom = size // 2 ** depth
        cond_nc = label_nc + noise_channels
        if z_dim > 0:
            self.encoder = SPADEEncoder(spatial_dims=2, in_channels=1, z_dim=z_dim, channels=list(encoder_channels),
                                        input_shape=(size, size))
            self.fc = nn.Linear(z_dim, channels[0] * self.bottom ** 2)
        else:
            self.encoder = None
            self.conv_init = nn.Conv2d(cond_nc, channels[0], 3, padding=1)
        outs = list(channels[1:]) + [channels[-1]]
        self.blocks = nn.ModuleList(
            SPADENetResBlock(spatial_dims=2, in_channels=c_in, out_channels=c_out, label_nc=cond_nc,
                             spade_intermediate_channels=spade_hidden, norm="INSTANCE")
            for c_in, c_out in zip(channels, outs))
        self.last = nn.Conv2d(channels[-1], 1, 3, padding=1)

    def make_noise(self, batch: int, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
        shape = (batch, self.noise_channels, self.size, self.size)
        return torch.randn(shape, generator=generator).to(device)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the style of ``image`` (B, 1, size, size)."""
        if self.encoder is None:
            raise ValueError("this generator has no style encoder (trained with z_dim=0)")
        return self.encoder(image)

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                style_from: torch.Tensor | None = None):
        """``seg`` one-hot (B, label_nc, size, size); ``z`` (B, z_dim) or None (mean style, z = 0);
        ``noise`` (B, noise_channels, size, size) or None (fresh noise from the global generator).

        Training passes ``style_from`` (the real images): z is then sampled from the encoder's
        posterior and the result is ``(image, mu, logvar)``; otherwise just the image. (Encoding
        inside ``forward`` keeps the encoder under DistributedDataParallel's gradient sync.)
        """
        b = seg.shape[0]
        if style_from is not None:
            mu, logvar = self.encode(style_from)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.forward(seg, z, noise), mu, logvar
        if self.noise_channels:
            noise = self.make_noise(b, device=seg.device) if noise is None else noise
            cond = torch.cat([seg, noise.to(seg.dtype)], 1)
        else:
            cond = seg
        if self.encoder is not None:
            z = torch.zeros(b, self.z_dim, device=seg.device, dtype=seg.dtype) if z is None else z
            x = self.fc(z).view(b, self.channels[0], self.bottom, self.bottom)
        else:
            x = self.conv_init(F.interpolate(cond, size=(self.bottom, self.bottom), mode="nearest"))
        for i, block in enumerate(self.blocks):
            x = block(x, cond)
            if i < len(self.blocks) - 1:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return torch.tanh(self.last(F.leaky_relu(x, 0.2)))


def build_discriminator(size: int, label_nc: int = 7, channels: int = 32, num_d: int = 2,
                        num_layers_d: int = 3) -> MultiScalePatchDiscriminator:
    """Multi-scale PatchGAN on the concatenated (label one-hot, MR) pair."""
    return MultiScalePatchDiscriminator(num_d=num_d, num_layers_d=num_layers_d, spatial_dims=2, channels=channels,
                                        in_channels=label_nc + 1, out_channels=1, norm="INSTANCE",
                                        minimum_size_im=size, bias=True)


def kld_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mu, exp(logvar)) from N(0, I), summed over z and averaged over the batch
    as in SPADE's ``KLDLoss`` (which the recipe weights by 0.05)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]
