"""Recipes "sage-dcgan" and "sage-wgangp": the whole-crop GAN baselines of the SAGE paper.

Both learn the textured tumor crops (TC) of a tumor-crop dataset directly, image by image, which
is what SAGE's sequential shape -> texture generation is compared against (Tables I and III).

* sage-dcgan: DC-GAN (Radford et al.), non-saturating BCE loss, Adam(2e-4, 0.5, 0.999), one-sided
  label smoothing (real target 0.9).
* sage-wgangp: WGAN-GP (Gulrajani et al.), critic without batch norm, gradient penalty
  lambda = 10, Adam(1e-4, 0.0, 0.9). Every trainer step is one critic update; the generator is
  updated every ``n_critic`` (5) steps, so N trainer steps are N / 5 generator iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..networks.dcgan import DCGANDiscriminator, DCGANGenerator
from ..networks.wgan_gp import WGANCritic, gradient_penalty
from .training_data import CropTrainingSet
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from ..train.rng import derive_seed


@dataclass
class TCGANConfig(RecipeConfig):
    batch_size: int = 16
    image_size: int = 64
    z_dim: int = 64
    width: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    #: Comma-separated patient ids to train on (empty: all), e.g. a fold's training patients.
    patients: str = ""
    augment: bool = True


@dataclass
class DCGANTCConfig(TCGANConfig):
    #: At width 16 the discriminator wins within 100 steps on ~500 crops and the generator never
    #: leaves grey noise; width 32 with one-sided label smoothing trains.
    width: int = 32
    #: Target for real crops in the discriminator loss (one-sided label smoothing, Salimans et al.).
    real_label: float = 0.9


@dataclass
class WGANGPConfig(TCGANConfig):
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    gp_weight: float = 10.0


class _TCGANBase(Recipe):
    def _preview_noise(self) -> None:
        gen = torch.Generator().manual_seed(derive_seed(self.seed, 1))
        self._preview_z = torch.randn(self.config.preview_count, self.config.z_dim, generator=gen).to(self.device)

    def make_dataset(self, data_dir: str, pattern: str = "*") -> CropTrainingSet:
        c = self.config
        return CropTrainingSet(data_dir, "tc", c.image_size, c.patients, c.augment)

    @torch.no_grad()
    def previews(self) -> np.ndarray:
        G = self.network("G")
        was_training = G.training
        G.eval()
        try:
            return G(self._preview_z).float().cpu().numpy()[:, 0]
        finally:
            G.train(was_training)


@register_recipe("sage-dcgan")
class SageDCGANRecipe(_TCGANBase):
    config_class = DCGANTCConfig
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")

    def build(self) -> None:
        c = self.config
        self.G = DCGANGenerator(c.z_dim, c.image_size, c.width).to(self.device)
        self.D = DCGANDiscriminator(c.image_size, c.width).to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self._preview_noise()

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        amp = self.precision
        z = torch.randn(real.shape[0], self.config.z_dim, device=self.device)
        self.opt_d.zero_grad(set_to_none=True)
        with amp.autocast():
            fake = self.G(z)
            logit_real = self.D(real)
            loss_real = F.binary_cross_entropy_with_logits(logit_real, torch.full_like(logit_real, self.config.real_label))
        amp.backward(loss_real)
        with amp.autocast():
            logit_fake = self.D(fake.detach())
            loss_fake = F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
        amp.backward(loss_fake)
        amp.step(self.opt_d)
        self.opt_g.zero_grad(set_to_none=True)
        with amp.autocast():
            logit_gen = self.D(fake)
            loss_g = F.binary_cross_entropy_with_logits(logit_gen, torch.ones_like(logit_gen))
        amp.backward(loss_g)
        amp.step(self.opt_g)
        return {"loss_d": float(loss_real.detach() + loss_fake.detach()), "loss_g": float(loss_g.detach())}


@register_recipe("sage-wgangp")
class SageWGANGPRecipe(_TCGANBase):
    config_class = WGANGPConfig
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")

    def build(self) -> None:
        c = self.config
        if c.n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, not {c.n_critic}")
        self.G = DCGANGenerator(c.z_dim, c.image_size, c.width).to(self.device)
        self.D = WGANCritic(c.image_size, c.width).to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self._preview_noise()
        self._critic_steps = 0
        self._loss_g = float("nan")

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        c, amp = self.config, self.precision
        z = torch.randn(real.shape[0], c.z_dim, device=self.device)
        with torch.no_grad():
            fake = self.G(z)
        # The penalty differentiates through a gradient: kept in fp32, outside autocast and the
        # loss scaler, where double backward is well defined on every device.
        self.opt_d.zero_grad(set_to_none=True)
        wasserstein = self.D(real).mean() - self.D(fake).mean()
        penalty = gradient_penalty(self.D, real, fake)
        (-wasserstein + c.gp_weight * penalty).backward()
        self.opt_d.step()
        self._critic_steps += 1
        if self._critic_steps % c.n_critic == 0:
            self.opt_g.zero_grad(set_to_none=True)
            with amp.autocast():
                loss_g = -self.D(self.G(torch.randn(real.shape[0], c.z_dim, device=self.device))).float().mean()
            amp.backward(loss_g)
            amp.step(self.opt_g)
            self._loss_g = float(loss_g.detach())
        return {"wasserstein": float(wasserstein.detach()), "penalty": float(penalty.detach()),
                "loss_g": self._loss_g}

    def extra_state(self) -> dict:
        return {"critic_steps": self._critic_steps}

    def load_extra_state(self, state: dict) -> None:
        self._critic_steps = int(state.get("critic_steps", 0))
