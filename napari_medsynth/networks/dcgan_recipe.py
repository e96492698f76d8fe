"""Reference recipe "dcgan": an unconditional DC-GAN on 32x32 crops of MR slices.

Small enough that engine tests train it in seconds on a CPU, complete enough to exercise every
part of the engine (two networks, two optimizers, batch norm buffers, mixed precision, DDP).
Loss: the non-saturating GAN loss of Goodfellow et al. (the generator maximises log D(G(z))),
Adam with lr 2e-4 and betas (0.5, 0.999) as in the DC-GAN paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .dcgan import DCGANDiscriminator, DCGANGenerator
from ..train.data import SliceDataset
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from ..train.rng import derive_seed


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


@register_recipe("dcgan")
class DCGANRecipe(Recipe):
    config_class = DCGANConfig
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")

    def build(self) -> None:
        c = self.config
        self.G = DCGANGenerator(c.z_dim, c.image_size, c.width).to(self.device)
        self.D = DCGANDiscriminator(c.image_size, c.width).to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        # Own generator: the preview noise is fixed for the whole run and drawing it must not
        # move the global random stream that training uses.
        gen = torch.Generator().manual_seed(derive_seed(self.seed, 1))
        self._preview_z = torch.randn(c.preview_count, c.z_dim, generator=gen).to(self.device)

    def make_dataset(self, data_dir: str, pattern: str = "*") -> SliceDataset:
        return SliceDataset(data_dir, size=self.config.image_size, load_size=self.config.load_size, pattern=pattern)

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        amp, c = self.precision, self.config
        z = torch.randn(real.shape[0], c.z_dim, device=self.device)

        # Discriminator: real -> 1, fake -> 0. Each forward is followed by its own backward, which
        # is what DistributedDataParallel supports (and what keeps batch-norm statistics per source).
        self.opt_d.zero_grad(set_to_none=True)
        with amp.autocast():
            fake = self.G(z)
            logit_real = self.D(real)
            loss_real = F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
        amp.backward(loss_real)
        with amp.autocast():
            logit_fake = self.D(fake.detach())
            loss_fake = F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
        amp.backward(loss_fake)
        amp.step(self.opt_d)

        # Generator: non-saturating loss, make D call the same fakes real.
        self.opt_g.zero_grad(set_to_none=True)
        with amp.autocast():
            logit_gen = self.D(fake)
            loss_g = F.binary_cross_entropy_with_logits(logit_gen, torch.ones_like(logit_gen))
        amp.backward(loss_g)
        amp.step(self.opt_g)

        return {
            "loss_d": float(loss_real.detach() + loss_fake.detach()),
            "loss_g": float(loss_g.detach()),
            "d_real": float(torch.sigmoid(logit_real.detach().float()).mean()),
            "d_fake": float(torch.sigmoid(logit_fake.detach().float()).mean()),
        }

    @torch.no_grad()
    def previews(self) -> np.ndarray:
        G = self.network("G")
        was_training = G.training
        G.eval()  # running batch-norm statistics: previews do not depend on (or change) batch stats
        try:
            images = G(self._preview_z).float().cpu().numpy()[:, 0]
        finally:
            G.train(was_training)
        return images
