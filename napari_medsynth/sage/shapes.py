"""SAGE's shape generator at inference: synthetic binary tumor crops (Syn-BTC) from an LMS-GAN.

``ShapeModel.load()`` opens the shipped ``sage-lmsgan`` checkpoint (or any checkpoint of that
recipe) and offers three ways to make a shape: from noise (:meth:`ShapeModel.sample`), from a real
shape (:meth:`ShapeModel.reconstruct`: encode, decode) and between two real shapes
(:meth:`ShapeModel.interpolate`: a straight line between their latent codes).

A generated mask is the generator's probability map thresholded at 0.5, keeping its largest
connected region (isolated specks of a few pixels are not part of a tumor outline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ..train.trained import open_trained
from .lms_gan import DenseShapeGenerator, ShapeEncoder
from .lmsgan_recipe import LMSGANConfig

RECIPE = "sage-lmsgan"


def largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
    return labels == (int(np.argmax(sizes)) + 1)


class ShapeModel:
    """A trained LMS-GAN's encoder and generator, in evaluation mode on the CPU."""

    def __init__(self, encoder: ShapeEncoder, generator: DenseShapeGenerator, config: LMSGANConfig,
                 sha256: str, path: Path | None = None):
        self.encoder = encoder.eval().requires_grad_(False)
        self.generator = generator.eval().requires_grad_(False)
        self.config = config
        self.size = int(config.image_size)
        self.z_dim = int(config.z_dim)
        self.sha256 = sha256
        self.path = path

    @classmethod
    def load(cls, path: str | Path | None = None) -> ShapeModel:
        """``path`` to a sage-lmsgan checkpoint; ``None``: the shipped one (models/sage-lmsgan.pt)."""
        trained = open_trained(path, RECIPE, what="a shape model")
        return cls(trained.network("E"), trained.network("G"), trained.config, trained.sha256, trained.path)

    # --- latent space -------------------------------------------------------------------------
    def _check_btc(self, btc, name: str) -> torch.Tensor:
        arr = np.asarray(btc)
        if arr.shape != (self.size, self.size):
            raise ValueError(f"{name} must be a {self.size}x{self.size} binary tumor crop, got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a mask of 0/1 (or booleans), not {arr.dtype}")
        mask = arr > 0.5
        if not mask.any():
            raise ValueError(f"{name} is empty: it contains no tumor pixels")
        return torch.from_numpy(mask.astype(np.float32))[None, None]

    @torch.no_grad()
    def encode(self, btc) -> np.ndarray:
        """Latent code (mean of the encoder's Gaussian) of a real binary tumor crop, ``(z_dim,)``."""
        mean, _ = self.encoder(self._check_btc(btc, "btc"))
        return mean[0].numpy()

    @torch.no_grad()
    def decode_probability(self, z) -> np.ndarray:
        """The generator's tumor probability map ``(S, S)`` for latent code(s) ``z``."""
        zt = torch.as_tensor(np.asarray(z, np.float32)).reshape(-1, self.z_dim)
        return torch.sigmoid(self.generator(zt))[:, 0].numpy().squeeze(0)

    def decode(self, z) -> np.ndarray:
        return largest_component(self.decode_probability(z) > 0.5)

    # --- the public operations ----------------------------------------------------------------
    def noise(self, seed: int) -> np.ndarray:
        """The Z_noise vector used by :meth:`sample` for ``seed``."""
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(self.z_dim, generator=gen).numpy()

    def sample(self, seed: int) -> np.ndarray:
        """A new shape from noise: ``(S, S)`` bool, the same for the same seed."""
        return self.decode(self.noise(seed))

    def reconstruct(self, btc: np.ndarray) -> np.ndarray:
        """Encode a real shape and decode it again: ``(S, S)`` bool."""
        return self.decode(self.encode(btc))

    def interpolate(self, btc_a: np.ndarray, btc_b: np.ndarray, t: float) -> np.ndarray:
        """The shape at fraction ``t`` (0: ``btc_a``, 1: ``btc_b``) of the way between two real shapes."""
        t = float(t)
        if not 0.0 <= t <= 1.0 or np.isnan(t):
            raise ValueError(f"t must be between 0 and 1, not {t}")
        za, zb = self.encode(btc_a), self.encode(btc_b)
        return self.decode((1.0 - t) * za + t * zb)
