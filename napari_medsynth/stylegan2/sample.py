"""Drawing MR slices from a trained ``stylegan2`` checkpoint, reproducibly from a seed.

    sampler = StyleGAN2Sampler.load("runs/sg2/checkpoints/step_N.pt")
    images = sampler.sample(16, seed=0, cls="tumor", truncation=0.7)   # (16, S, S) float32 in [0, 1]

Latent codes *and* the per-pixel noise inputs come from a generator seeded with ``seed``, so the
same call gives the same images on a CPU. The moving-average generator is what checkpoints
export and what is sampled. :meth:`StyleGAN2Sampler.synthesize` renders given w vectors (for
latent-space exploration: truncation, style mixing, directions in W).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .._draws import check_count, check_seed
from ..train.trained import open_trained
from .network import StyleGAN2Generator
from .recipe import CLASS_NAMES

RECIPE = "stylegan2"


class StyleGAN2Sampler:
    def __init__(self, generator: StyleGAN2Generator, *, path: str = "", sha256: str = "", card: dict | None = None):
        self.generator = generator.eval().requires_grad_(False)
        self.path, self.sha256, self.card = path, sha256, dict(card or {})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> StyleGAN2Sampler:
        """Load a ``stylegan2`` checkpoint (training or exported); None: the shipped ``models/stylegan2.pt``."""
        trained = open_trained(path, RECIPE, what="a StyleGAN2 generator")
        generator = trained.network("G", weights=trained.extra.get("g_ema"))
        return cls(generator, path=str(trained.path), sha256=trained.sha256, card=trained.card)

    @property
    def size(self) -> int:
        return self.generator.synthesis.resolution

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASS_NAMES[:self.generator.n_classes] if self.generator.n_classes else ()

    def class_index(self, cls) -> int | None:
        if not self.generator.n_classes:
            if cls not in (None, ""):
                raise ValueError("this generator has no classes; leave the class out")
            return None
        if isinstance(cls, str):
            if cls not in self.classes:
                raise ValueError(f"unknown class {cls!r}; this generator makes {' or '.join(self.classes)} slices")
            return self.classes.index(cls)
        if cls is None or not 0 <= int(cls) < self.generator.n_classes:
            raise ValueError(f"choose a class: {' or '.join(self.classes)}")
        return int(cls)

    @torch.no_grad()
    def ws(self, n: int, seed: int, cls=None, truncation: float = 1.0) -> torch.Tensor:
        """(n, num_ws, w_dim) latent codes of ``n`` samples drawn from ``seed``."""
        n, seed = check_count(n), check_seed(seed)
        z = torch.randn(n, self.generator.z_dim, generator=torch.Generator().manual_seed(seed))
        c = self.class_index(cls)
        classes = None if c is None else torch.full((n,), c, dtype=torch.long)
        return self.generator.ws(z, classes, truncation=float(truncation))

    @torch.no_grad()
    def synthesize(self, ws: torch.Tensor, noise_seed: int = 0, batch: int = 16) -> np.ndarray:
        """Images (n, S, S) float32 in [0, 1] of latent codes ``ws``, with noise drawn from ``noise_seed``."""
        gen = torch.Generator().manual_seed(check_seed(noise_seed))
        out = []
        for start in range(0, len(ws), batch):
            part = ws[start:start + batch]
            # per block (conv0, conv1); the first block has no conv0
            noises = [[torch.randn(len(part), 1, side, side, generator=gen) if j >= 2 - count else None
                       for j in range(2)] for count, side in self.generator.synthesis.noise_shapes()]
            out.append(self.generator.synthesis(part, noises=noises)[:, 0])
        images = torch.cat(out)
        return ((images.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)

    def sample(self, n: int, seed: int, cls=None, truncation: float = 1.0) -> np.ndarray:
        """(n, S, S) float32 images in [0, 1]; the same (n, seed, cls, truncation) gives the same images."""
        return self.synthesize(self.ws(n, seed, cls, truncation), noise_seed=seed)
