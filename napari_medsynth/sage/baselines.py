"""Whole-crop GAN baselines at inference: tumor crops from a sage-dcgan or sage-wgangp checkpoint.

The SAGE paper compares its sequential generator with DC-GAN and WGAN-GP trained on the same
tumor crops (Tables I and III). ``TumorCropGAN.load("sage-dcgan")`` opens the shipped checkpoint
(a path opens any checkpoint of either recipe); ``sample(seed)`` returns one crop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..networks.dcgan import DCGANGenerator
from ..train.trained import open_trained

RECIPES = ("sage-dcgan", "sage-wgangp")


class TumorCropGAN:
    def __init__(self, generator: DCGANGenerator, recipe: str, size: int, sha256: str):
        self.generator = generator.eval().requires_grad_(False)
        self.recipe, self.size, self.sha256 = recipe, size, sha256

    @classmethod
    def load(cls, name_or_path: str | Path) -> TumorCropGAN:
        """A recipe name ("sage-dcgan", "sage-wgangp": the shipped checkpoint) or a checkpoint path."""
        trained = open_trained(name_or_path, RECIPES, what="a whole-crop baseline")
        return cls(trained.network("G"), trained.recipe, trained.config.image_size, trained.sha256)

    @torch.no_grad()
    def sample(self, seed: int) -> np.ndarray:
        """One crop ``(S, S)`` float32 in [0, 1] (the generator's [-1, 1] output rescaled)."""
        z = torch.randn(1, self.generator.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        img = self.generator(z)[0, 0].numpy()
        return np.clip((img + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
