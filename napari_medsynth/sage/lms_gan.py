"""LMS-GAN networks (SAGE's shape generator): encoder, densely connected generator, discriminator.

The generator is fully connected, as in the paper: its input is either an encoded real shape
(Z_real) or a noise vector (Z_noise), so there is no spatial layout in the latent vector for a
convolutional decoder to exploit. Its last dense layer predicts logits on a half-resolution grid
that a fixed bilinear upsampling brings to the crop size: tumor outlines are smooth, and this keeps
the largest layer (and the shipped checkpoint) four times smaller at no visible cost.

Encoder and discriminator are small strided CNNs (the paper fixes neither). Outputs: the generator
returns logits (apply ``sigmoid`` for the mask probability), the discriminator one raw logit per
image (for ``BCEWithLogits``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_SIZES = (32, 64, 128)


def _check_size(size: int) -> None:
    if size not in SUPPORTED_SIZES:
        raise ValueError(f"LMS-GAN image_size must be one of {SUPPORTED_SIZES}, not {size}")


def _conv_stack(width: int, size: int) -> tuple[nn.Sequential, int]:
    """Stride-2 convolutions from (1, size, size) down to 4x4; returns the stack and its flat size."""
    layers: list[nn.Module] = []
    ch_in, ch, side = 1, width, size
    while side > 4:
        layers += [nn.Conv2d(ch_in, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch_in, ch, side = ch, min(ch * 2, width * 4), side // 2
    return nn.Sequential(*layers), ch_in * 16


class ShapeEncoder(nn.Module):
    """Binary tumor crop ``(B, 1, S, S)`` in [0, 1] -> a Gaussian in latent space (Z_real).

    Returns ``(mean, log_variance)``, each ``(B, z_dim)``. Training samples Z_real around the mean
    (:func:`sample_latent`), so that the generator learns to decode a neighbourhood of every real
    shape, not only isolated points; inference uses the mean.
    """

    def __init__(self, image_size: int = 64, z_dim: int = 32, width: int = 16):
        super().__init__()
        _check_size(image_size)
        self.z_dim = z_dim
        self.features, flat = _conv_stack(width, image_size)
        self.head = nn.Linear(flat, 2 * z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.features(x * 2.0 - 1.0).flatten(1))
        mean, log_var = out[:, :self.z_dim], out[:, self.z_dim:].clamp(-12.0, 6.0)
        return mean, log_var


def sample_latent(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Z_real: a draw from N(mean, exp(log_var)) that gradients flow through (reparameterisation)."""
    return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)


class DenseShapeGenerator(nn.Module):
    """Latent ``(B, z_dim)`` -> mask logits ``(B, 1, S, S)``, fully connected."""

    def __init__(self, image_size: int = 64, z_dim: int = 32, hidden: int = 512):
        super().__init__()
        _check_size(image_size)
        self.image_size, self.z_dim = image_size, z_dim
        self.grid = image_size // 2
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden // 2), nn.LeakyReLU(0.2, True),
            nn.Linear(hidden // 2, hidden), nn.LeakyReLU(0.2, True),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, True),
            nn.Linear(hidden, self.grid * self.grid),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        logits = self.net(z).reshape(z.shape[0], 1, self.grid, self.grid)
        return F.interpolate(logits, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)


class ShapeDiscriminator(nn.Module):
    """Mask ``(B, 1, S, S)`` in [0, 1] -> one real/fake logit per mask, shape ``(B,)``."""

    def __init__(self, image_size: int = 64, width: int = 16):
        super().__init__()
        _check_size(image_size)
        self.features, flat = _conv_stack(width, image_size)
        self.head = nn.Linear(flat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * 2.0 - 1.0).flatten(1)).reshape(x.shape[0])


def latent_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per latent dimension, averaged over batch and dimensions.

    Z_noise is drawn from N(0, I); pulling the encoded shapes towards the same distribution makes
    both live in one region of latent space, so that noise decodes to shapes like the encoded ones
    and the line between two encoded shapes (interpolation) stays among plausible shapes.
    """
    return 0.5 * (mean ** 2 + log_var.exp() - 1.0 - log_var).mean()
