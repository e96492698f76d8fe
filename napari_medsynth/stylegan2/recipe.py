"""Recipe "stylegan2": class-conditional StyleGAN2 with ADA on MR slices (tumor / non-tumor).

The paper (``stylegan2-brain-tumor-mri``) trained one StyleGAN2 per tumor class. Here one model
learns both classes of BraTS axial slices, those showing tumor (NCR/NET, ED or ET covering at
least ``min_tumor_px`` pixels at the training size) and those without, through a class
embedding in the mapping network and a projection discriminator: with 14 patients a model per
class would see half the data each, while the shared weights learn the anatomy both classes
have. ``sample(..., cls=...)`` then plays the role of choosing the paper's per-class model.

Losses as in StyleGAN2: non-saturating logistic loss; R1 penalty on real images every
``r1_interval`` steps and path-length regularisation every ``pl_interval`` steps ("lazy"
regularisation, scaled by the interval, with Adam's learning rate and betas adjusted for the
extra steps); an exponential moving average of the generator (half-life ``ema_kimg`` thousand
images) is what previews, exports and sampling use. The discriminator sees every image through
:mod:`.augment` (ADA) with a probability that adapts to its overfitting.
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
from ..train.previews import preview_noise
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from .augment import AdaptiveAugment, augment
from .network import StyleGAN2Discriminator, StyleGAN2Generator

TUMOR_CLASSES = (1, 2, 3)
CLASS_NAMES = ("non-tumor", "tumor")


@dataclass
class StyleGAN2Config(RecipeConfig):
    ranges = {"image_size": (8, 1024), "w_dim": (1, 2048), "mapping_layers": (1, 16), "channel_base": (64, 65536),
              "channel_max": (1, 1024), "r1_gamma": (0.0, 1000.0), "r1_interval": (1, 1000),
              "pl_weight": (0.0, 100.0), "pl_interval": (1, 1000), "ema_kimg": (0.0, 1e4),
              "ada_target": (0.0, 1.0), "ada_kimg": (0.001, 1e5), "ada_p": (0.0, 1.0), "mbstd_group": (1, 64),
              "min_tumor_px": (1, 1_000_000), "n_classes": (0, 2)}

    batch_size: int = 8
    #: Side of the generated slices (power of two); slices are centred on the 256 px canvas and resized.
    image_size: int = 128
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    #: Feature channels at resolution r: min(channel_base / r, channel_max).
    channel_base: int = 4096
    channel_max: int = 128
    #: 2: tumor / non-tumor slices, one class embedding each; 0: unconditional.
    n_classes: int = 2
    lr: float = 0.0025
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 0.4
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    ema_kimg: float = 2.5
    #: ADA: target of E[sign(D(real))], images for p to move by 1, initial p.
    ada_target: float = 0.6
    ada_kimg: float = 50.0
    ada_p: float = 0.0
    mbstd_group: int = 4
    #: MR sequence of the slices.
    modality: str = "t1ce"
    include: str = ""
    exclude: str = ""
    #: Tumor pixels (at the training size) that make a slice a "tumor" slice.
    min_tumor_px: int = 10

    def check(self) -> None:
        side = int(self.image_size)
        if side & (side - 1):
            raise ValueError(f"image_size must be a power of two, not {side}")


def lazy_adam(params, lr: float, betas: tuple[float, float], interval: int) -> torch.optim.Adam:
    """Adam for a network regularised every ``interval`` steps (StyleGAN2 Appendix B)."""
    ratio = interval / (interval + 1) if interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8)


@register_recipe("stylegan2")
class StyleGAN2Recipe(Recipe):
    """Class-conditional StyleGAN2 + ADA on MR slices."""

    config_class = StyleGAN2Config
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")
    inference_networks = ("G",)

    @classmethod
    def build_network(cls, name, c):
        if name == "G":
            return StyleGAN2Generator(c.z_dim, c.w_dim, c.image_size, c.n_classes, 1, c.mapping_layers,
                                      c.channel_base, c.channel_max)
        if name == "D":
            return StyleGAN2Discriminator(c.image_size, c.n_classes, 1, c.channel_base, c.channel_max, c.mbstd_group)
        return super().build_network(name, c)

    @classmethod
    def export_state(cls, model):
        """The moving-average generator (what sampling uses) as ``G``."""
        out = super().export_state(model)
        ema = model.get("extra", {}).get("g_ema")
        if ema is not None:
            out["networks"]["G"] = ema
        return out

    def build(self) -> None:
        c = self.config
        c.check()
        self.G, self.D = (self.build_network(n, c).to(self.device) for n in self.network_names)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        betas = (c.beta1, c.beta2)
        self.opt_g = lazy_adam(self.G.parameters(), c.lr, betas, c.pl_interval if c.pl_weight > 0 else 0)
        self.opt_d = lazy_adam(self.D.parameters(), c.lr, betas, c.r1_interval if c.r1_gamma > 0 else 0)
        self.ada = AdaptiveAugment(c.ada_target, c.ada_kimg, interval=4, p=c.ada_p)
        self.steps_done = 0
        self.pl_mean = torch.zeros((), device=self.device)
        self._preview_z = preview_noise(self.seed, c.preview_count, c.z_dim, self.device)
        self._preview_c = torch.arange(c.preview_count, device=self.device) % max(c.n_classes, 1)

    def make_dataset(self, data_dir: str, pattern: str = "*"):
        c = self.config
        if is_store(data_dir):
            return StorePairs(data_dir, c.image_size, modality=c.modality, include=c.include, exclude=c.exclude)
        return PairedSliceDataset(data_dir, size=c.image_size, modality=c.modality, include=c.include,
                                  exclude=c.exclude)

    # --- training ------------------------------------------------------------------------------
    def classes_of(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Class of each slice from its label map: 1 with tumor, 0 without (None if unconditional)."""
        if not self.config.n_classes:
            return None
        tumor = (labels >= min(TUMOR_CLASSES)) & (labels <= max(TUMOR_CLASSES))
        return (tumor.flatten(1).sum(1) >= self.config.min_tumor_px).long()

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        c = self.config
        real = batch[:, :1].to(self.device)
        cls = self.classes_of(batch[:, 1].to(self.device))
        b = real.shape[0]
        p = self.ada.p
        self.steps_done += 1

        # --- discriminator: logistic loss, lazy R1 on reals
        self.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self.G(torch.randn(b, c.z_dim, device=self.device), cls)
        d_fake = self.D(augment(fake, p), cls)
        do_r1 = c.r1_gamma > 0 and self.steps_done % c.r1_interval == 0
        real_in = real.detach().requires_grad_(do_r1)
        d_real = self.D(augment(real_in, p), cls)
        loss_d = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        r1 = torch.zeros((), device=self.device)
        if do_r1:
            grad, = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            r1 = grad.square().flatten(1).sum(1).mean()
            loss_d = loss_d + r1 * (c.r1_gamma / 2) * c.r1_interval
        loss_d.backward()
        self.opt_d.step()
        self.ada.observe(d_real)

        # --- generator: non-saturating loss, lazy path-length regularisation
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        gen = self.G(torch.randn(b, c.z_dim, device=self.device), cls, update_w_avg=True)
        loss_g = F.softplus(-self.D(augment(gen, p), cls)).mean()
        pl = torch.zeros((), device=self.device)
        if c.pl_weight > 0 and self.steps_done % c.pl_interval == 0:
            n, g = max(1, b // 2), self.network("G")
            ws = g.ws(torch.randn(n, c.z_dim, device=self.device), None if cls is None else cls[:n])
            img = g.synthesis(ws)
            noise = torch.randn_like(img) / np.sqrt(img.shape[2] * img.shape[3])
            grad, = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
            lengths = grad.square().sum(2).mean(1).sqrt()
            self.pl_mean = self.pl_mean.lerp(lengths.mean().detach(), 0.01)
            pl = (lengths - self.pl_mean).square().mean()
            loss_g = loss_g + pl * c.pl_weight * c.pl_interval
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self._update_ema(b)
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
                "d_real": float(d_real.detach().mean()), "d_fake": float(d_fake.detach().mean()),
                "r1": float(r1.detach()), "pl": float(pl.detach()), "ada_p": float(self.ada.p)}

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        beta = 0.5 ** (batch / max(self.config.ema_kimg * 1000.0, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.network("G").parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.network("G").buffers()):
            b_ema.copy_(b)

    # --- previews and state ----------------------------------------------------------------------
    @torch.no_grad()
    def previews(self) -> np.ndarray:
        cls = self._preview_c if self.config.n_classes else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            images = self.G_ema(self._preview_z, cls)
        return images[:, 0].clamp(-1, 1).float().cpu().numpy()

    def extra_state(self) -> dict[str, Any]:
        return {"steps_done": int(self.steps_done), "ada": self.ada.state(), "pl_mean": float(self.pl_mean),
                "g_ema": {k: v.detach().cpu() for k, v in self.G_ema.state_dict().items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.steps_done = int(state.get("steps_done", 0))
        self.ada.load(state.get("ada", {}))
        self.pl_mean = torch.tensor(float(state.get("pl_mean", 0.0)), device=self.device)
        if "g_ema" in state:
            self.G_ema.load_state_dict(state["g_ema"])
        else:
            self.G_ema.load_state_dict(self.network("G").state_dict())
