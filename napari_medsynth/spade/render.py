"""Label map -> MR rendering with a trained SPADE generator (recipe ``spade``).

:class:`SpadeRenderer` loads a checkpoint (``weights_only``; by default the shipped
``models/spade.pt``) and renders 2-D 7-class label maps (0 BG, 1 NCR/NET, 2 ED, 3 ET, 4 WM, 5 GM,
6 CSF) of any size; :func:`render_volume` renders every axial slice of a label volume.

Geometry follows the training data: a label map is padded (centred, with background) to a square
whose side is the next power of two of its larger side, as the paper padded 240 x 240 BraTS slices
to 256 x 256, then resized by nearest neighbour to the trained resolution :attr:`size`. The render
is resized back (linear) and the padding cropped off, so the output has the input's shape.

Styles: ``style_seed=None`` renders the mean style (style code z = 0); an integer seed draws z from
N(0, I) with that seed. The generator's texture-noise maps are drawn from the seed too (seed 0 for
the mean style), so every render is repeatable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..geometry import canvas_side, from_canvas, to_canvas
from ..jobs import Progress
from ..labels import N_CLASSES, one_hot
from ..train.trained import open_trained
from .recipe import SpadeConfig

MEAN_STYLE_NOISE_SEED = 0


#: The square the training data used for a slice of a given size (kept under its old name).
padded_side = canvas_side


def _check_labels(labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"a label map must be 2-D (H, W); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("the label map is empty")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("a label map holds whole class numbers 0-6; this one has fractional or non-finite values")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= N_CLASSES:
        raise ValueError(f"a 7-class label map holds classes 0-{N_CLASSES - 1} (0 BG, 1 NCR/NET, 2 ED, 3 ET, 4 WM, "
                         f"5 GM, 6 CSF); this one has values {lo}..{hi}. BraTS _seg maps (1, 2, 4) must be "
                         "converted first (labels.brats_to_complete7)")
    return arr.astype(np.int64)


class SpadeRenderer:
    """A trained SPADE generator ready to render label maps; see the module docstring."""

    def __init__(self, generator: torch.nn.Module, config: SpadeConfig, sha256: str, path: Path | None = None,
                 device: str | torch.device = "cpu", step: int | None = None):
        self.generator = generator.eval()
        self.config = config
        self.sha256 = sha256
        self.path = path
        self.device = torch.device(device)
        self.size = int(config.image_size)
        self.step = step

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> SpadeRenderer:
        """Load a ``spade`` checkpoint (None: the shipped ``models/spade.pt``), tensors only."""
        trained = open_trained(path, "spade", what="a SPADE label -> MR model")
        return cls(trained.network("G", device), trained.config, trained.sha256, trained.path, device, trained.step)

    # --- geometry -------------------------------------------------------------------------------
    def _to_model(self, labels: np.ndarray) -> tuple[np.ndarray, int]:
        return to_canvas(labels, self.size, labels=True).astype(np.int64), canvas_side(*labels.shape)

    def _from_model(self, image: np.ndarray, side: int, shape: tuple[int, int]) -> np.ndarray:
        return np.clip(from_canvas(image, side, shape), 0.0, 1.0).astype(np.float32)

    def _style(self, seed: int | None, count: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        g = self.generator
        gen = torch.Generator().manual_seed(MEAN_STYLE_NOISE_SEED if seed is None else int(seed))
        z = None
        if seed is not None and g.z_dim > 0:
            z = torch.randn(1, g.z_dim, generator=gen).repeat(count, 1).to(self.device)
        noise = g.make_noise(1, gen).repeat(count, 1, 1, 1).to(self.device)
        return z, noise

    @torch.no_grad()
    def _render_batch(self, maps: list[np.ndarray], seed: int | None) -> np.ndarray:
        seg = one_hot(torch.from_numpy(np.stack(maps))).to(self.device)
        z, noise = self._style(seed, len(maps))
        out = self.generator(seg, z, noise).float().cpu().numpy()[:, 0]
        return (out + 1.0) / 2.0

    # --- public ---------------------------------------------------------------------------------
    def render(self, labels: np.ndarray, style_seed: int | None = None) -> np.ndarray:
        """Render one (H, W) label map as float32 in [0, 1] of the same shape."""
        arr = _check_labels(labels)
        model_in, side = self._to_model(arr)
        return self._from_model(self._render_batch([model_in], style_seed)[0], side, arr.shape)

    def render_styles(self, labels: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        """The same label map in several styles: (K, H, W) for K seeds."""
        seeds = list(seeds)
        if not seeds:
            raise ValueError("give at least one style seed")
        return np.stack([self.render(labels, s) for s in seeds])

    def render_many(self, maps: Sequence[np.ndarray], style_seed: int | None = None, batch_size: int = 16,
                    progress: Progress | None = None) -> list[np.ndarray]:
        """Render several label maps (each any shape) with one style, in batches."""
        checked = [_check_labels(m) for m in maps]
        out: list[np.ndarray] = []
        for start in range(0, len(checked), batch_size):
            chunk = checked[start:start + batch_size]
            prepared = [self._to_model(m) for m in chunk]
            renders = self._render_batch([p[0] for p in prepared], style_seed)
            out.extend(self._from_model(r, side, m.shape) for r, (_, side), m in zip(renders, prepared, chunk))
            if progress is not None:
                progress(len(out), len(checked), f"rendered {len(out)}/{len(checked)} slices")
        return out


def render_volume(labels_volume: np.ndarray, renderer: SpadeRenderer, style_seed: int | None = None,
                  progress: Progress | None = None) -> np.ndarray:
    """Render every axial slice of a (Z, H, W) 7-class label volume: (Z, H, W) float32 in [0, 1].

    Slices without brain (all background) stay 0. One style for the whole volume. ``progress``
    is called with (slices done, slices to render).
    """
    vol = np.asarray(labels_volume)
    if vol.ndim != 3:
        raise ValueError(f"a label volume must be 3-D (Z, H, W); got shape {vol.shape}")
    _check_labels(vol.reshape(vol.shape[0], -1))
    out = np.zeros(vol.shape, dtype=np.float32)
    with_brain = [z for z in range(vol.shape[0]) if np.any(vol[z] > 0)]
    renders = renderer.render_many([vol[z] for z in with_brain], style_seed, progress=progress)
    for z, image in zip(with_brain, renders):
        out[z] = image
    return out
