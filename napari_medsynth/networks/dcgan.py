"""DC-GAN networks (Radford et al., 2016) for single-channel square images.

Kept as plain ``nn.Module`` classes so they serve both the engine's reference recipe and SAGE's
DC-GAN baseline. The discriminator returns raw logits (no sigmoid): the loss applies
``BCEWithLogits``, which is numerically stable and safe under fp16/bf16 autocast, unlike
``sigmoid`` followed by ``BCELoss``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Image sizes the architecture supports: a 4x4 core doubled by stride-2 layers.
SUPPORTED_SIZES = (16, 32, 64, 128, 256)


def _check_size(image_size: int) -> int:
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"DC-GAN image_size must be one of {SUPPORTED_SIZES}, not {image_size}")
    return int(math.log2(image_size // 4))  # number of stride-2 stages between 4x4 and the image


def init_dcgan_weights(module: nn.Module) -> None:
    """The paper's initialisation: conv weights ~ N(0, 0.02), batch-norm gains ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """Noise ``(B, z_dim)`` -> image ``(B, channels, S, S)`` in [-1, 1].

    ``width`` is the channel count of the last hidden layer; each earlier stage doubles it, so
    the 4x4 core has ``width * 2**(stages-1)`` channels.
    """

    def __init__(self, z_dim: int = 100, image_size: int = 64, width: int = 64, channels: int = 1):
        super().__init__()
        stages = _check_size(image_size)
        self.z_dim = z_dim
        ch = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Image ``(B, channels, S, S)`` -> one real/fake logit per image, shape ``(B,)``."""

    def __init__(self, image_size: int = 64, width: int = 64, channels: int = 1):
        super().__init__()
        stages = _check_size(image_size)
        ch = width
        # No batch norm on the input layer, as in the paper: it destabilises training there.
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])
