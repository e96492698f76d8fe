"""Whole-crop GAN baselines at inference: tumor crops from a sage-dcgan or sage-wgangp checkpoint.

The SAGE paper compares its sequential generator with DC-GAN and WGAN-GP trained on the same
tumor crops (Tables I and III). ``TumorCropGAN.load("sage-dcgan")`` opens the shipped checkpoint
(a path opens any checkpoint of either recipe); ``sample(seed)`` returns one crop.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .._shipped import shipped_checkpoint
from ..networks.dcgan import DCGANGenerator
from ..train.checkpoint import CheckpointError, load_checkpoint
from ..train.recipe import config_from_dict
from .baseline_recipes import DCGANTCConfig, WGANGPConfig

RECIPES = {"sage-dcgan": DCGANTCConfig, "sage-wgangp": WGANGPConfig}


class TumorCropGAN:
    def __init__(self, generator: DCGANGenerator, recipe: str, size: int, sha256: str):
        self.generator = generator.eval().requires_grad_(False)
        self.recipe, self.size, self.sha256 = recipe, size, sha256

    @classmethod
    def load(cls, name_or_path: str | Path) -> "TumorCropGAN":
        """A recipe name ("sage-dcgan", "sage-wgangp": the shipped checkpoint) or a checkpoint path."""
        path = shipped_checkpoint(str(name_or_path)) if str(name_or_path) in RECIPES else Path(name_or_path)
        state = load_checkpoint(path)
        recipe = state.get("recipe")
        if recipe not in RECIPES:
            raise CheckpointError(f"{path.name} holds a {recipe!r} model; expected one of {', '.join(RECIPES)}")
        try:
            c = config_from_dict(RECIPES[recipe], dict(state["config"]))
            gen = DCGANGenerator(c.z_dim, c.image_size, c.width)
            gen.load_state_dict(state["model"]["networks"]["G"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path.name}: the generator's weights do not match its configuration "
                                  f"({str(exc).splitlines()[0]})") from exc
        return cls(gen, recipe, c.image_size, hashlib.sha256(path.read_bytes()).hexdigest())

    @torch.no_grad()
    def sample(self, seed: int) -> np.ndarray:
        """One crop ``(S, S)`` float32 in [0, 1] (the generator's [-1, 1] output rescaled)."""
        z = torch.randn(1, self.generator.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        img = self.generator(z)[0, 0].numpy()
        return np.clip((img + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
