"""Recipe "sage-lmsgan": SAGE's shape generator, trained on binary tumor crops (BTC).

Each step is one of two kinds, chosen by the indicator I_x of the paper's Eq. 2:

* I_x = 0 (Z_real): a batch of real BTCs is encoded, decoded by the dense generator and the
  encoder + generator minimise the MSE to the real masks (Eq. 1a). Z_real is drawn around each
  encoded shape, and a small KL term keeps those draws where Z_noise is drawn (N(0, I)) -- see
  :func:`~napari_medsynth.sage.lms_gan.latent_kl`;
* I_x = 1 (Z_noise): noise vectors are decoded and discriminator and generator play the GAN game
  with binary cross-entropy (Eq. 1b; the generator uses the non-saturating form -log D(G(z)),
  which has the same fixed point and usable gradients early on).

I_x is drawn with probability ``noise_fraction`` from a hash of (seed, step), not from a random
generator: every DDP process takes the same branch, and resuming reproduces the schedule. The
first ``warmup_steps`` steps are all Z_real: until the decoder maps latent codes to shapes, the
adversarial steps only pull it towards one average blob.
The dataset folder is a tumor-crop dataset (``napari-medsynth crops``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..networks.gan_steps import nonsaturating_step
from ..train.previews import preview_noise
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from ..train.rng import derive_seed
from .lms_gan import DenseShapeGenerator, ShapeDiscriminator, ShapeEncoder, latent_kl, sample_latent
from .training_data import CropTrainingSet


@dataclass
class LMSGANConfig(RecipeConfig):
    ranges = {"noise_fraction": (0.0, 1.0), "warmup_steps": (0, 10**9), "adv_weight": (0.0, 1e6),
              "latent_weight": (0.0, 1e6)}

    batch_size: int = 32
    image_size: int = 64
    z_dim: int = 32
    #: Width of the dense generator's hidden layers.
    hidden: int = 512
    #: Channels of the first encoder / discriminator convolution.
    width: int = 16
    lr: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    #: Probability of a Z_noise (adversarial) step; the rest are Z_real (reconstruction) steps.
    noise_fraction: float = 0.5
    #: Z_real steps only until this step: the encoder-decoder first learns to map latent codes to
    #: shapes; adversarial steps from the start pin the generator to the mean shape.
    warmup_steps: int = 500
    #: Weight of the generator's adversarial loss (Eq. 1b) relative to the MSE of Eq. 1a.
    adv_weight: float = 1.0
    #: Weight of the KL term (per latent dimension) in Z_real steps.
    latent_weight: float = 2e-3
    #: Target for real masks in the discriminator loss (one-sided label smoothing, Salimans et al.).
    real_label: float = 0.9
    #: Comma-separated patient ids to train on (empty: all), e.g. a fold's training patients.
    patients: str = ""
    augment: bool = True


def is_noise_step(seed: int, step: int, noise_fraction: float) -> bool:
    """The indicator I_x of Eq. 2 for ``step``: True -> Z_noise (adversarial) step."""
    return (derive_seed(seed, 0x1A5, step) % 1_000_000) < noise_fraction * 1_000_000


@register_recipe("sage-lmsgan")
class LMSGANRecipe(Recipe):
    config_class = LMSGANConfig
    network_names = ("E", "G", "D")
    optimizer_names = ("opt_eg", "opt_d")
    inference_networks = ("E", "G")

    @classmethod
    def build_network(cls, name, c):
        if name == "E":
            return ShapeEncoder(c.image_size, c.z_dim, c.width)
        if name == "G":
            return DenseShapeGenerator(c.image_size, c.z_dim, c.hidden)
        if name == "D":
            return ShapeDiscriminator(c.image_size, c.width)
        return super().build_network(name, c)

    def build(self) -> None:
        c = self.config
        self.E, self.G, self.D = (self.build_network(n, c).to(self.device) for n in self.network_names)
        betas = (c.beta1, c.beta2)
        self.opt_eg = torch.optim.Adam([*self.E.parameters(), *self.G.parameters()], lr=c.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=betas)
        self._preview_z = preview_noise(self.seed, c.preview_count, c.z_dim, self.device)
        self._step = 0
        self._last = {"loss_mse": float("nan"), "loss_latent": float("nan"), "loss_d": float("nan"),
                      "loss_g": float("nan")}

    def make_dataset(self, data_dir: str, pattern: str = "*") -> CropTrainingSet:
        c = self.config
        return CropTrainingSet(data_dir, "btc", c.image_size, c.patients, c.augment)

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        real = (batch + 1.0) * 0.5  # masks in {0, 1}
        c = self.config
        noise = self._step >= c.warmup_steps and is_noise_step(self.seed, self._step, c.noise_fraction)
        self._step += 1
        if noise:
            self._adversarial_step(real)
        else:
            self._reconstruction_step(real)
        # The latest value of each loss, from whichever kind of step last computed it (the
        # adversarial ones appear once the warm-up is over).
        seen = {k: v for k, v in self._last.items() if v == v}
        return {**seen, "noise_step": float(noise)}

    def _reconstruction_step(self, real: torch.Tensor) -> None:
        amp = self.precision
        self.opt_eg.zero_grad(set_to_none=True)
        with amp.autocast():
            mean, log_var = self.E(real)
            recon = torch.sigmoid(self.G(sample_latent(mean, log_var)).float())
            loss_mse = F.mse_loss(recon, real)  # Eq. 1a
            loss_lat = latent_kl(mean.float(), log_var.float())
            loss = loss_mse + self.config.latent_weight * loss_lat
        amp.backward(loss)
        amp.step(self.opt_eg)
        self._last.update(loss_mse=float(loss_mse.detach()), loss_latent=float(loss_lat.detach()))

    def _adversarial_step(self, real: torch.Tensor) -> None:
        amp, c = self.precision, self.config
        z = torch.randn(real.shape[0], c.z_dim, device=self.device)
        with amp.autocast():
            fake = torch.sigmoid(self.G(z).float())
        # Eq. 1b: D tells real masks from decoded noise; the generator learns -log D(G(z)).
        step = nonsaturating_step(amp, self.D, real, fake, self.opt_d, self.opt_eg, c.real_label, c.adv_weight)
        self._last.update(loss_d=step.loss_d, loss_g=float(step.loss_g.detach()))

    def extra_state(self) -> dict:
        return {"lms_step": self._step}

    def load_extra_state(self, state: dict) -> None:
        self._step = int(state.get("lms_step", 0))

    @torch.no_grad()
    def previews(self) -> np.ndarray:
        G = self.network("G")
        probs = torch.sigmoid(G(self._preview_z).float()).cpu().numpy()[:, 0]
        return probs * 2.0 - 1.0
