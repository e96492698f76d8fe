"""Reference recipe "dcgan": an unconditional DC-GAN on 32x32 crops of MR slices.

Small enough that engine tests train it in seconds on a CPU, complete enough to exercise every
part of the engine (two networks, two optimizers, batch norm buffers, mixed precision, DDP).
Loss: the non-saturating GAN loss of Goodfellow et al. (the generator maximises log D(G(z))),
Adam with lr 2e-4 and betas (0.5, 0.999) as in the DC-GAN paper. SAGE's whole-crop baselines
(:mod:`napari_medsynth.sage.baseline_recipes`) are subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.store import is_store
from ..data.store_datasets import StoreSlices
from ..train.data import SliceDataset
from ..train.previews import generator_previews, preview_noise
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .gan_steps import nonsaturating_step


@dataclass
class DCGANConfig(RecipeConfig):
    batch_size: int = 16
    image_size: int = 32
    #: Slices are resized to this side first; training samples are random image_size crops of it.
    load_size: int = 64
    z_dim: int = 64
    width: int = 32
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    #: Target for real images in the discriminator loss (below 1: one-sided label smoothing).
    real_label: float = 1.0


@register_recipe("dcgan")
class DCGANRecipe(Recipe):
    """Generator + discriminator, Adam on both; subclasses change the data, the critic or the step."""

    config_class = DCGANConfig
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")
    inference_networks = ("G",)
    #: The losses :meth:`train_step` reports.
    reported: tuple[str, ...] = ("loss_d", "loss_g", "d_real", "d_fake")

    @classmethod
    def build_network(cls, name, c):
        if name == "G":
            return DCGANGenerator(c.z_dim, c.image_size, c.width)
        if name == "D":
            return DCGANDiscriminator(c.image_size, c.width)
        return super().build_network(name, c)

    def build(self) -> None:
        c = self.config
        self.G, self.D = (self.build_network(n, c).to(self.device) for n in self.network_names)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self._preview_z = preview_noise(self.seed, c.preview_count, c.z_dim, self.device)

    def make_dataset(self, data_dir: str, pattern: str = "*") -> SliceDataset | StoreSlices:
        if is_store(data_dir):  # every stored modality's slices, as a folder gives every volume's
            return StoreSlices(data_dir, self.config.image_size, modalities=None, load_size=self.config.load_size)
        return SliceDataset(data_dir, size=self.config.image_size, load_size=self.config.load_size, pattern=pattern)

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        amp, c = self.precision, self.config
        z = torch.randn(real.shape[0], c.z_dim, device=self.device)

        with amp.autocast():
            fake = self.G(z)
        step = nonsaturating_step(amp, self.D, real, fake, self.opt_d, self.opt_g, c.real_label)
        losses = {
            "loss_d": step.loss_d,
            "loss_g": float(step.loss_g.detach()),
            "d_real": float(torch.sigmoid(step.logit_real.detach().float()).mean()),
            "d_fake": float(torch.sigmoid(step.logit_fake.detach().float()).mean()),
        }
        return {k: losses[k] for k in self.reported}

    def previews(self) -> np.ndarray:
        return generator_previews(self.network("G"), self._preview_z)
