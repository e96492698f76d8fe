"""Recipe "spade": the label -> MR renderer of the PGGAN + SPADE paper (Foroozandeh & Eklund),
at the scan's own resolution and for several MR sequences at once.

Data: :class:`~napari_medsynth.data.native_crops.NativeCrops`, random ``image_size`` x
``image_size`` crops (default 128) of whole axial slices that are never resized (a 240 x 240
BraTS slice stays 1 mm per pixel), with the 7-class complete label map and every sequence in
``modalities``. A slice store (:mod:`napari_medsynth.data.store`) is the fast path; a folder of
case folders is read into memory. Select patients with ``include`` / ``exclude`` so that
held-out cases stay unseen.

Networks (:mod:`napari_medsynth.spade.network`): a fully convolutional generator of SPADE
residual blocks conditioned on the one-hot label map, noise maps for texture and a style code,
which renders whole slices of any size after training on crops; a style encoder (VAE,
``z_dim > 0``) so one label map renders in several styles, one style shared by all sequences;
and MONAI's multi-scale PatchGAN discriminator on the (label map, all sequences) pair.

Losses: hinge adversarial loss (MONAI ``PatchAdversarialLoss``), feature matching on the
discriminator's intermediate features (weight 10), KL divergence of the style code (weight
0.05), as in SPADE's defaults, and an L1 reconstruction of the real crop from its own encoded
style (``lambda_l1``), which stands in for SPADE's VGG term (no ImageNet weights can be loaded
offline) and keeps contrast faithful to the real sequences; Adam with beta1 = 0, beta2 = 0.9 and
the two-time-scale learning rates 1e-4 (G) / 4e-4 (D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss

from ..data.native_crops import NativeCrops
from ..data.paired import TISSUE_CHOICES
from ..labels import N_CLASSES, one_hot
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from ..train.rng import derive_seed
from .network import SpadeGenerator, build_discriminator, kld_loss


def parse_channels(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"channels must be comma-separated integers like 64,64,32,16, not {text!r}") from None
    if len(values) < 2 or min(values) < 1:
        raise ValueError(f"channels needs at least two positive widths (coarsest to finest), not {text!r}")
    return values


@dataclass
class SpadeConfig(RecipeConfig):
    ranges = {"tumor_oversample": (1, 100), "spade_hidden": (1, 1024), "noise_channels": (0, 64),
              "d_channels": (1, 1024), "d_layers": (1, 8), "num_d": (1, 8), "lambda_fm": (0.0, 1e6),
              "lambda_kld": (0.0, 1e6), "lambda_l1": (0.0, 1e6)}
    choices = {"tissues": TISSUE_CHOICES}

    batch_size: int = 4
    #: Side of the random training crops (px, at the scan's resolution); renders take any size.
    image_size: int = 128
    preview_count: int = 4
    #: MR sequences the renderer learns, comma-separated (the ``_<modality>`` files of each case).
    modalities: str = "t1,t1ce,t2,flair"
    #: Comma-separated case ids to train on (empty: all) and to leave out (held-out patients).
    include: str = ""
    exclude: str = ""
    #: Tissue classes of case folders without a ``_labels7`` map: ``auto`` (a ``_tissues`` map
    #: the user gives, FSL FAST convention 1 CSF / 2 GM / 3 WM) or ``intensity`` (the documented
    #: intensity-based 3-class fallback, see :mod:`napari_medsynth.data.paired`).
    tissues: str = "auto"
    #: Slices showing tumor (classes 1-3) are drawn this many times as often (1: uniform).
    tumor_oversample: int = 4
    #: Generator widths from the coarsest resolution to image_size (comma-separated).
    channels: str = "96,64,32,16"
    spade_hidden: int = 32
    #: Style code size (0: no style encoder, one style per label map).
    z_dim: int = 16
    noise_channels: int = 2
    d_channels: int = 32
    d_layers: int = 2
    num_d: int = 2
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    lambda_fm: float = 10.0
    lambda_kld: float = 0.05
    lambda_l1: float = 10.0

    def check(self) -> None:
        widths = parse_channels(self.channels)
        if len(widths) > 9 or max(widths) > 2048:
            raise ValueError(f"channels {self.channels!r}: at most 9 levels of at most 2048 channels each")
        parse_modalities(self.modalities)
        multiple = 2 ** (len(widths) - 1)
        if self.image_size % multiple:
            raise ValueError(f"image_size {self.image_size} must be a multiple of {multiple} for {len(widths)} "
                             "generator levels")

    @property
    def modality_list(self) -> list[str]:
        return parse_modalities(self.modalities)


MODALITIES = ("t1", "t1ce", "t2", "flair")


def parse_modalities(text: str) -> list[str]:
    names = [m.strip().lower() for m in str(text).split(",") if m.strip()]
    bad = [m for m in names if m not in MODALITIES]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"modalities must be distinct names from {', '.join(MODALITIES)} (comma-separated), "
                         f"not {text!r}")
    return names


def build_generator(c: SpadeConfig) -> SpadeGenerator:
    """The generator described by a config (also used to rebuild it from a checkpoint)."""
    depth = len(parse_channels(c.channels)) - 1
    enc = tuple(min(16 * 2 ** i, 64) for i in range(max(depth, 1)))
    return SpadeGenerator(label_nc=N_CLASSES, out_channels=len(c.modality_list), channels=parse_channels(c.channels),
                          z_dim=c.z_dim, noise_channels=c.noise_channels, spade_hidden=c.spade_hidden,
                          encoder_channels=enc)


@register_recipe("spade")
class SpadeRecipe(Recipe):
    config_class = SpadeConfig
    network_names = ("G", "D")
    optimizer_names = ("opt_g", "opt_d")
    inference_networks = ("G",)

    @classmethod
    def build_network(cls, name, c):
        if name == "G":
            return build_generator(c)
        if name == "D":
            return build_discriminator(c.image_size, N_CLASSES, c.d_channels, c.num_d, c.d_layers,
                                       image_channels=len(c.modality_list))
        return super().build_network(name, c)

    def build(self) -> None:
        c = self.config
        self.G, self.D = (self.build_network(n, c).to(self.device) for n in self.network_names)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.adv = PatchAdversarialLoss(criterion="hinge")
        self._preview_noise: torch.Tensor | None = None
        self._preview_labels: torch.Tensor | None = None

    def make_dataset(self, data_dir: str, pattern: str = "*") -> NativeCrops:
        c = self.config
        ds = NativeCrops(data_dir, c.image_size, c.modality_list, include=c.include, exclude=c.exclude,
                         tissues=c.tissues)
        ds.oversample((1, 2, 3), c.tumor_oversample)
        # Fixed preview label maps, whole slices spread over the data (never drawn from the training
        # random stream), padded to a size the generator renders.
        idx = np.linspace(0, len(ds) - 1, c.preview_count).round().astype(int)
        maps = torch.from_numpy(ds.labels[idx].astype(np.int64))
        multiple = self.network("G").multiple
        pad_h, pad_w = (-maps.shape[1]) % multiple, (-maps.shape[2]) % multiple
        maps = F.pad(maps, (0, pad_w, 0, pad_h))
        self._preview_labels = one_hot(maps).to(self.device)
        gen = torch.Generator().manual_seed(derive_seed(self.seed, 2))
        self._preview_noise = self.network("G").make_noise(len(idx), maps.shape[1], maps.shape[2], gen, self.device)
        return ds

    def _pair(self, seg: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([seg, image], 1)

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        amp, c = self.precision, self.config
        m = len(c.modality_list)
        real = batch[:, :m]
        seg = one_hot(batch[:, m])
        n = real.shape[0]

        # Generator: fool D, match D's features of the real pair, keep the style code near N(0, I).
        self.opt_g.zero_grad(set_to_none=True)
        with amp.autocast():
            kld = torch.zeros((), device=self.device)
            if c.z_dim > 0:
                fake, mu, logvar = self.G(seg, style_from=real)
                kld = kld_loss(mu.float(), logvar.float())
            else:
                fake = self.G(seg)
            # Fake and real pairs through D in one pass (one forward per backward, as DDP needs).
            logits, feats = self.D(torch.cat([self._pair(seg, fake), self._pair(seg, real)], 0))
            g_adv = self.adv([o[:n] for o in logits], target_is_real=True, for_discriminator=False)
            fm = sum(F.l1_loss(f[:n], f[n:].detach()) for per_d in feats for f in per_d) / len(feats)
            l1 = F.l1_loss(fake, real)
            loss_g = g_adv + c.lambda_fm * fm + c.lambda_kld * kld + c.lambda_l1 * l1
        amp.backward(loss_g)
        amp.step(self.opt_g)

        # Discriminator: hinge loss on real and (detached) fake pairs.
        self.opt_d.zero_grad(set_to_none=True)
        with amp.autocast():
            logits, _ = self.D(torch.cat([self._pair(seg, fake.detach()), self._pair(seg, real)], 0))
            d_fake = self.adv([o[:n] for o in logits], target_is_real=False, for_discriminator=True)
            d_real = self.adv([o[n:] for o in logits], target_is_real=True, for_discriminator=True)
            loss_d = d_fake + d_real
        amp.backward(loss_d)
        amp.step(self.opt_d)

        return {"loss_d": float(loss_d.detach()), "loss_g_adv": float(g_adv.detach()),
                "loss_fm": float(fm.detach()), "loss_kld": float(kld.detach()),
                "l1_to_real": float(l1.detach())}

    @torch.no_grad()
    def previews(self) -> np.ndarray:
        """Renders of fixed whole-slice label maps in the mean style (z = 0) with fixed noise: every
        sequence of the first map, then of the next (rows of the preview grid)."""
        G = self.network("G")
        if self._preview_labels is None:
            return np.zeros((0, self.config.image_size, self.config.image_size), np.float32)
        was_training = G.training
        G.eval()
        try:
            images = G(self._preview_labels, None, self._preview_noise).float().cpu().numpy()
            images = images.reshape(-1, *images.shape[2:])
        finally:
            G.train(was_training)
        return images
