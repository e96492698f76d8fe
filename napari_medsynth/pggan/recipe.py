"""Recipes "pggan-labels" and "pggan-mr": progressive growing of GANs on axial slices.

* ``pggan-labels`` generates 7-class complete label maps (0 BG, 1 NCR/NET, 2 ED, 3 ET, 4 WM,
  5 GM, 6 CSF) as in Foroozandeh & Eklund. Instead of one channel squeezed into [0, 6] (where
  the network has to place class boundaries on a continuous scale and "between" values turn
  into wrong classes), the generator outputs C-channel logits; the discriminator sees their
  softmax, and real maps one-hot encoded; a map is the argmax. At low resolutions the real maps
  are one-hot maps average-pooled, i.e. soft class fractions, matching the soft generator output.
* ``pggan-mr`` generates MR slices (noise -> image) as in Han et al.; real slices are scaled to
  [-1, 1] and average-pooled to the current resolution.

Loss: WGAN-GP (Han et al., Eq. 1) with lambda = 10, plus PGGAN's small drift term
``drift * E[D(real)^2]`` that keeps the critic's scores near zero. One critic step per generator
step, Adam lr 1e-3 with betas (0, 0.99) as in PGGAN (Han et al. also used lr 1e-3). The generator
used for previews and sampling is an exponential moving average of the trained one (PGGAN's
"G smoothing"), kept in the recipe's extra state.

Resolution and fade-in come from the number of real images shown (see
:class:`~napari_medsynth.pggan.schedule.GrowthSchedule`), counted by the recipe and restored on
resume, so a resumed run continues at the same level and alpha. Gradient penalty needs double
backward through the critic, which ``DistributedDataParallel`` does not support: these recipes
train in one process.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.paired import PairedSliceDataset
from ..data.store import is_store
from ..data.store_datasets import StorePairs
from ..labels import N_CLASSES, one_hot
from ..train.data import DatasetError
from ..train.previews import preview_noise
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from .network import PGGANDiscriminator, PGGANGenerator, level_count
from .schedule import GrowthSchedule

#: Which slices a run trains on: every slice, those showing tumor (NCR/NET, ED or ET), or those
#: without (Han et al. trained one PGGAN per class).
SLICE_CHOICES = ("all", "tumor", "non-tumor")
TUMOR_CLASSES = (1, 2, 3)


@dataclass
class PGGANConfig(RecipeConfig):
    choices = {"slices": SLICE_CHOICES}
    ranges = {"image_size": (4, 1024), "stable_kimg": (0.0, 1e6), "fade_kimg": (0.0, 1e6), "gp_lambda": (0.0, 1e6),
              "drift": (0.0, 1e6), "ema_kimg": (0.0, 1e6), "mbstd_group": (0, 256)}

    batch_size: int = 16
    #: Final resolution (a power of two, 8-256); slices are padded to 256 and resized to it.
    image_size: int = 64
    z_dim: int = 64
    #: Feature channels at the final resolution; doubling per halving up to ``max_width``.
    width: int = 16
    max_width: int = 64
    #: Thousands of real images per stable phase and per fade-in phase.
    stable_kimg: float = 4.0
    fade_kimg: float = 3.0
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    gp_lambda: float = 10.0
    drift: float = 0.001
    #: Half-life, in thousands of images, of the generator's moving average used for previews
    #: and sampling (StyleGAN's ``ema_kimg``; PGGAN's fixed 0.999 per step is 11 kimg at batch 16).
    ema_kimg: float = 1.0
    mbstd_group: int = 4
    #: Flip slices left-right at random (tumors occur in either hemisphere).
    mirror: bool = True
    #: MR sequence paired with the label maps (the MR mode trains on it).
    modality: str = "t1ce"
    #: Case ids to train on / leave out (comma-separated; empty: all).
    include: str = ""
    exclude: str = ""
    #: Slices to train on: all, those showing tumor, or those without (one model per class).
    slices: str = "all"


class _PGGANRecipe(Recipe):
    config_class = PGGANConfig
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")
    #: "labels" or "mr"
    mode = ""

    inference_networks = ("G",)
    inference_extra = ("level", "alpha")

    @property
    def channels(self) -> int:
        return N_CLASSES if self.mode == "labels" else 1

    @classmethod
    def build_network(cls, name, c):
        channels = N_CLASSES if cls.mode == "labels" else 1
        if name == "G":
            return PGGANGenerator(c.z_dim, c.image_size, channels, c.width, c.max_width)
        if name == "D":
            return PGGANDiscriminator(c.image_size, channels, c.width, c.max_width, c.mbstd_group)
        return super().build_network(name, c)

    @classmethod
    def export_state(cls, model):
        """The moving-average generator (what sampling uses) as ``G``, with its growth level."""
        out = super().export_state(model)
        ema = model.get("extra", {}).get("g_ema")
        if ema is not None:
            out["networks"]["G"] = ema
        return out

    def build(self) -> None:
        c = self.config
        levels = level_count(c.image_size)
        if not 8 <= c.image_size <= 256:
            raise ValueError(f"image_size must be a power of two from 8 to 256, not {c.image_size}")
        if c.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (the minibatch standard deviation needs a group)")
        self.schedule = GrowthSchedule(levels, c.stable_kimg, c.fade_kimg)
        self.G, self.D = (self.build_network(n, c).to(self.device) for n in self.network_names)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.images_seen = 0
        self._preview_z = preview_noise(self.seed, c.preview_count, c.z_dim, self.device)

    def make_dataset(self, data_dir: str, pattern: str = "*") -> PairedSliceDataset | StorePairs:
        c = self.config
        if is_store(data_dir):
            ds = StorePairs(data_dir, c.image_size, modality=c.modality, include=c.include, exclude=c.exclude)
        else:
            ds = PairedSliceDataset(data_dir, size=c.image_size, modality=c.modality, include=c.include,
                                    exclude=c.exclude)
        if c.slices != "all":
            kept = ds.keep_classes(TUMOR_CLASSES, present=c.slices == "tumor")
            if kept == 0:
                raise DatasetError(f"no {c.slices} slice in {data_dir}: the label maps have "
                                   f"{'no' if c.slices == 'tumor' else 'only'} tumor slices")
        return ds

    # --- growing ------------------------------------------------------------------------------
    @property
    def level_alpha(self) -> tuple[int, float]:
        return self.schedule.at(self.images_seen)

    def _real(self, batch: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        """Real slices as the critic sees them at ``level``, blended like the generator during fade-in."""
        x = one_hot(batch[:, 1]) if self.mode == "labels" else batch[:, :1]
        if self.config.mirror:
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        side = 4 * 2 ** level
        if x.shape[-1] != side:
            x = F.adaptive_avg_pool2d(x, side)
        if level > 0 and alpha < 1.0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, alpha)
        return x

    def _as_image(self, raw: torch.Tensor) -> torch.Tensor:
        """Generator output -> what the critic compares with real data (label mode: class probabilities)."""
        return torch.softmax(raw, dim=1) if self.mode == "labels" else raw

    # --- training -----------------------------------------------------------------------------
    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        if isinstance(self.D, torch.nn.parallel.DistributedDataParallel):
            raise ValueError(f"recipe {self.name!r} trains in one process (its gradient penalty differentiates "
                             "through the critic twice, which DistributedDataParallel does not support); "
                             "run it without torchrun")
        amp, c = self.precision, self.config
        level, alpha = self.level_alpha
        real = self._real(batch, level, alpha)
        b = real.shape[0]

        # Critic: E[D(fake)] - E[D(real)] + lambda * GP + drift * E[D(real)^2].
        self.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad(), amp.autocast():
            fake = self._as_image(self.G(torch.randn(b, c.z_dim, device=self.device), level, alpha))
        fake = fake.float()
        with amp.autocast():
            d_real = self.D(real, level, alpha).float()
            d_fake = self.D(fake, level, alpha).float()
        eps = torch.rand(b, 1, 1, 1, device=self.device)
        mixed = torch.lerp(real, fake, eps).requires_grad_(True)
        d_mixed = self.D(mixed, level, alpha)  # fp32: the penalty is a gradient, keep it exact
        grad, = torch.autograd.grad(d_mixed.sum(), mixed, create_graph=True)
        penalty = (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()
        wasserstein = d_real.mean() - d_fake.mean()
        loss_d = -wasserstein + c.gp_lambda * penalty + c.drift * d_real.pow(2).mean()
        amp.backward(loss_d)
        amp.step(self.opt_d)

        # Generator: raise the critic's score of fresh fakes.
        self.opt_g.zero_grad(set_to_none=True)
        for p in self.D.parameters():
            p.requires_grad_(False)
        with amp.autocast():
            gen = self._as_image(self.G(torch.randn(b, c.z_dim, device=self.device), level, alpha))
            loss_g = -self.D(gen, level, alpha).float().mean()
        amp.backward(loss_g)
        amp.step(self.opt_g)
        for p in self.D.parameters():
            p.requires_grad_(True)

        self._update_ema()
        self.images_seen += b * _world_size()
        return {
            "loss_d": float(loss_d.detach()),
            "loss_g": float(loss_g.detach()),
            "wasserstein": float(wasserstein.detach()),
            "gp": float(penalty.detach()),
            "resolution": float(4 * 2 ** level),
            "alpha": float(alpha),
        }

    @torch.no_grad()
    def _update_ema(self) -> None:
        beta = 0.5 ** (self.config.batch_size / max(self.config.ema_kimg * 1000.0, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.network("G").parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)

    # --- previews and state -------------------------------------------------------------------
    @torch.no_grad()
    def previews(self) -> np.ndarray:
        level, alpha = self.level_alpha
        raw = self.G_ema(self._preview_z, level, alpha).float()
        if self.mode == "labels":
            images = raw.argmax(1, keepdim=True).float() / (N_CLASSES - 1) * 2.0 - 1.0
        else:
            images = raw.clamp(-1, 1)
        images = F.interpolate(images, size=self.config.image_size, mode="nearest")
        return images[:, 0].cpu().numpy()

    def extra_state(self) -> dict[str, Any]:
        level, alpha = self.level_alpha
        return {"images_seen": int(self.images_seen), "level": level, "alpha": float(alpha),
                "g_ema": {k: v.detach().cpu() for k, v in self.G_ema.state_dict().items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.images_seen = int(state.get("images_seen", 0))
        if "g_ema" in state:
            self.G_ema.load_state_dict(state["g_ema"])
        else:
            self.G_ema.load_state_dict(self.network("G").state_dict())


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@register_recipe("pggan-labels")
class PGGANLabelsRecipe(_PGGANRecipe):
    """7-class complete label maps (C-channel logits -> argmax)."""
    mode = "labels"


@register_recipe("pggan-mr")
class PGGANMRRecipe(_PGGANRecipe):
    """MR slices from noise (Han et al.)."""
    mode = "mr"
