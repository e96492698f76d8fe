"""Adaptive discriminator augmentation (ADA; Karras et al., NeurIPS 2020) for small MR datasets.

With 14 training patients a discriminator soon memorises the real slices and the generator's
gradients turn to noise. ADA shows the discriminator every image (real and generated alike)
through random, differentiable augmentations applied with probability ``p`` each, and adapts
``p`` so that the discriminator's overfitting heuristic r_t = E[sign(D(real))] stays near a
target (0.6): above it (overconfident on reals) ``p`` rises, below it ``p`` falls. Because the
generated images go through the same augmentations, they do not leak into the generator's
output as long as ``p`` stays below ~0.8.

The augmentations suit MR slices: left-right flip, integer translation (up to 1/8 of the side),
isotropic scaling (log-normal, sigma 0.2 * ln 2), rotation (uniform, up to 10 degrees at p = 1),
brightness (+ N(0, 0.2)) and contrast (x lognormal(0, 0.5 ln 2)). Geometric ones are one affine
warp (bilinear); outside the image is air (-1, the background of a skull-stripped slice).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each augmentation applied to each image with probability ``p``; differentiable in ``images``."""
    if p <= 0:
        return images
    b, device = images.shape[0], images.device

    def draw(*shape):
        return torch.rand(*shape, generator=generator, device="cpu").to(device)

    def normal(*shape):
        return torch.randn(*shape, generator=generator, device="cpu").to(device)

    def chosen():
        return (draw(b) < p).float()

    flip = 1.0 - 2.0 * chosen()                                   # -1: mirrored
    shift = (draw(b, 2) * 2 - 1) * 0.125 * 2 * chosen()[:, None]   # in [-1, 1] grid units (1/8 side)
    side = images.shape[-1]
    shift = torch.round(shift * side / 2) / (side / 2)               # integer pixels
    scale = torch.exp2(normal(b) * 0.2 * chosen())
    angle = (draw(b) * 2 - 1) * math.radians(10) * chosen()
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)   # (B, 2, 3)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    warped = F.grid_sample(images + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0

    brightness = normal(b) * 0.2 * chosen()
    contrast = torch.exp2(normal(b) * 0.5 * chosen())
    mean = warped.mean(dim=(1, 2, 3), keepdim=True)
    out = (warped - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]
    return out


class AdaptiveAugment:
    """Holds ``p`` and adapts it from the discriminator's signs on real images."""

    def __init__(self, target: float = 0.6, speed_kimg: float = 100.0, interval: int = 4, p: float = 0.0):
        self.target, self.speed_kimg, self.interval = target, speed_kimg, interval
        self.p = float(p)
        self._signs, self._count, self._steps = 0.0, 0, 0

    def observe(self, real_logits: torch.Tensor) -> None:
        """Accumulate sign(D(real)); every ``interval`` observations, step ``p``."""
        self._signs += float(torch.sign(real_logits.detach()).sum())
        self._count += int(real_logits.numel())
        self._steps += 1
        if self._steps >= self.interval:
            rt = self._signs / max(self._count, 1)
            step = self._count / (self.speed_kimg * 1000.0)
            self.p = float(min(max(self.p + math.copysign(step, rt - self.target), 0.0), 1.0))
            self._signs, self._count, self._steps = 0.0, 0, 0

    @property
    def rt(self) -> float:
        return self._signs / self._count if self._count else float("nan")

    def state(self) -> dict:
        return {"p": self.p}

    def load(self, state: dict) -> None:
        self.p = float(state.get("p", 0.0))
