"""WGAN-GP critic and gradient penalty (Gulrajani et al., 2017), the SAGE texture baseline.

The generator is the DC-GAN one (:class:`~napari_medsynth.networks.dcgan.DCGANGenerator`), as in
the WGAN-GP paper's DC-GAN-style experiments. The critic has no batch normalisation: the gradient
penalty is defined per sample, which batch statistics would couple across the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from .dcgan import _check_size


class WGANCritic(nn.Module):
    """Image ``(B, 1, S, S)`` in [-1, 1] -> unbounded score per image, shape ``(B,)``."""

    def __init__(self, image_size: int = 64, width: int = 32, channels: int = 1):
        super().__init__()
        stages = _check_size(image_size)
        ch = width
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad_x critic(x)||_2 - 1)^2] at random points x between real and fake samples."""
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(mixed)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
