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

import torch

from ..networks.dcgan_recipe import DCGANRecipe
from ..networks.wgan_gp import WGANCritic, gradient_penalty
from ..train.recipe import RecipeConfig, register_recipe
from .training_data import CropTrainingSet


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
    ranges = {"n_critic": (1, 100), "gp_weight": (0.0, 1e6)}

    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    gp_weight: float = 10.0


class _TCMixin:
    """Whole-crop baselines learn the textured tumor crops of a tumor-crop dataset."""

    def make_dataset(self, data_dir: str, pattern: str = "*") -> CropTrainingSet:
        c = self.config
        return CropTrainingSet(data_dir, "tc", c.image_size, c.patients, c.augment)


@register_recipe("sage-dcgan")
class SageDCGANRecipe(_TCMixin, DCGANRecipe):
    config_class = DCGANTCConfig
    reported = ("loss_d", "loss_g")


@register_recipe("sage-wgangp")
class SageWGANGPRecipe(_TCMixin, DCGANRecipe):
    config_class = WGANGPConfig

    @classmethod
    def build_network(cls, name, c):
        if name == "D":
            return WGANCritic(c.image_size, c.width)
        return super().build_network(name, c)

    def build(self) -> None:
        super().build()
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
