"""Drawing 7-class label maps from a trained ``pggan-labels`` checkpoint, and MR slices from a
``pggan-mr`` one.

    sampler = LabelMapSampler.load()            # the shipped checkpoint models/pggan-labels.pt
    maps = sampler.sample(16, seed=0, size=256)  # (16, 256, 256) uint8, classes 0..6
    mr = MRSliceSampler.load("runs/pggan-mr-tumor/checkpoints/step_N.pt")
    images = mr.sample(16, seed=0)               # (16, S, S) float32 in [0, 1]

Maps are axial slices in the project's display orientation (anterior at the top, the patient's
right on the viewer's left), like the slices the generator was trained on. The generator works
at the checkpoint's native resolution (:attr:`LabelMapSampler.size`); larger sizes are made by
upsampling the class *logits* (bilinear) and taking the most likely class per pixel, so class
boundaries are smooth at the full size instead of staircases of native pixels, and every pixel
is still a valid class. Noise is drawn from a
generator seeded with ``seed``, so the same (n, seed) gives the same maps on a CPU, and the
first k maps of ``sample(n, seed)`` are ``sample(k, seed)``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from .._draws import check_count, check_seed
from ..train.checkpoint import CheckpointError
from ..train.trained import open_trained
from .network import PGGANGenerator, level_count

RECIPE = "pggan-labels"
SHIPPED_NAME = "pggan-labels"
MR_RECIPE = "pggan-mr"
MAX_SIZE = 1024


class _PGGANSampler:
    """A PGGAN generator at the growth level it reached, ready to sample (CPU by default)."""

    recipe = RECIPE
    what = "a label-map generator"

    def __init__(self, generator: PGGANGenerator, level: int, alpha: float, *, path: str = "",
                 sha256: str = "", card: dict | None = None, device: str | torch.device = "cpu"):
        self.generator = generator.to(device).eval().requires_grad_(False)
        self.level = int(level)
        self.alpha = float(alpha)
        self.path = path
        self.sha256 = sha256
        self.card = dict(card or {})
        self.device = torch.device(device)

    @property
    def size(self) -> int:
        """Native resolution: the side of the maps the generator makes at the level it reached."""
        return 4 * 2 ** self.level

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim

    @classmethod
    def _open(cls, path, default: str, device):
        trained = open_trained(path, cls.recipe, what=cls.what, default=default)
        # The moving-average generator is what PGGAN samples from (exports store it as G).
        generator = trained.network("G", weights=trained.extra.get("g_ema"))
        levels = level_count(trained.config.image_size)
        try:
            level = int(trained.extra.get("level", levels - 1))
            alpha = float(trained.extra.get("alpha", 1.0))
        except (TypeError, ValueError, RuntimeError):
            level, alpha = -1, float("nan")
        if not 0 <= level < levels or not 0.0 <= alpha <= 1.0:
            shown = f"level {repr(trained.extra.get('level'))[:40]}, alpha {repr(trained.extra.get('alpha'))[:40]}"
            raise CheckpointError(f"{trained.path.name}: its growth state ({shown}) does not fit a "
                                  f"{trained.config.image_size} px generator (levels 0-{levels - 1}, alpha 0-1); "
                                  "the file is damaged or was edited")
        return cls(generator, level, alpha, path=str(trained.path), sha256=trained.sha256, card=trained.card,
                   device=device)

    @staticmethod
    def _check_size(size) -> None:
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 4 <= size <= MAX_SIZE:
                raise ValueError(f"size must be a whole number of pixels from 4 to {MAX_SIZE}, not {size!r}")

    def _resized(self, out: torch.Tensor, size: int | None) -> torch.Tensor:
        """Generator outputs at ``size`` x ``size``: upsampled bilinearly, in chunks."""
        if size is None or size == self.size:
            return out
        return torch.cat([F.interpolate(out[i:i + 16], size=(int(size), int(size)), mode="bilinear",
                                        align_corners=False) for i in range(0, len(out), 16)])

    @torch.no_grad()
    def logits(self, n: int, seed: int, batch: int = 32) -> torch.Tensor:
        """(n, C, size, size) raw generator outputs at the native resolution (class logits of a
        label-map generator, the image of an MR one)."""
        n, seed = check_count(n, "maps"), check_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=gen)
        outs = [self.generator(z[i:i + batch].to(self.device), self.level, self.alpha).float().cpu()
                for i in range(0, n, batch)]
        return torch.cat(outs)



class LabelMapSampler(_PGGANSampler):
    """A label-map generator (``pggan-labels``) ready to sample."""

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LabelMapSampler:
        """Load a ``pggan-labels`` checkpoint; ``None`` loads the shipped one (``models/pggan-labels.pt``)."""
        return cls._open(path, SHIPPED_NAME, device)

    def sample(self, n: int, seed: int, size: int | None = None) -> np.ndarray:
        """(n, H, W) uint8 maps with classes 0..6, at ``size`` x ``size`` if given (class logits
        upsampled bilinearly, then the most likely class)."""
        self._check_size(size)
        return self._resized(self.logits(n, seed), size).argmax(1).numpy().astype(np.uint8)


class MRSliceSampler(_PGGANSampler):
    """An MR-slice generator (``pggan-mr``, Han et al.) ready to sample; :attr:`slices` says which
    slices it learnt (``tumor``, ``non-tumor`` or ``all``)."""

    recipe = MR_RECIPE
    what = "an MR-slice generator"

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, slices: str = "tumor",
             device: str | torch.device = "cpu") -> MRSliceSampler:
        """Load a ``pggan-mr`` checkpoint; ``None`` loads the shipped ``models/pggan-mr-<slices>.pt``."""
        return cls._open(path, f"pggan-mr-{slices}", device)

    @property
    def slices(self) -> str:
        return str((self.card.get("config") or {}).get("slices", "all"))

    def sample(self, n: int, seed: int, size: int | None = None) -> np.ndarray:
        """(n, H, W) float32 MR slices in [0, 1] (the training scaling of [-1, 1] mapped to [0, 1]),
        at ``size`` x ``size`` if given (upsampled bilinearly)."""
        self._check_size(size)
        out = self._resized(self.logits(n, seed), size)[:, 0]
        return ((out.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)
