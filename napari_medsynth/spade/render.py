"""Label map -> MR rendering with a trained SPADE generator (recipe ``spade``).

:class:`SpadeRenderer` loads a checkpoint (``weights_only``; by default the shipped
``models/spade.pt``) and renders 2-D 7-class label maps (0 BG, 1 NCR/NET, 2 ED, 3 ET, 4 WM, 5 GM,
6 CSF) of any size; :func:`render_volume` renders every axial slice of a label volume.

Geometry: the generator is fully convolutional and renders on the label map's own grid, one
pixel per voxel, with nothing resized. A map whose sides are not multiples of the generator's
:attr:`~.network.SpadeGenerator.multiple` is padded with background (centred) and the padding
cropped off again, so the output always has the input's shape. The model learnt 1 mm slices;
a label map on a coarser or finer grid renders anatomy at the wrong scale.

Sequences: one render makes every sequence the model learnt (:attr:`SpadeRenderer.modalities`,
e.g. T1, T1-Gd, T2 and FLAIR) from one style code, so one style seed describes one patient in
all of them; the ``modality`` arguments pick one (default :attr:`SpadeRenderer.modality`).

Background (class 0) is written as exactly 0, as in skull-stripped scans: the network's
near-black there is not passed on.

Styles: ``style_seed=None`` renders the mean style (style code z = 0); an integer seed draws z from
N(0, I) with that seed. The texture-noise maps are drawn from the seed too (seed 0 for the mean
style; each slice of a volume its own stream, so the texture does not repeat through the
slices), so every render is repeatable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..jobs import Progress
from ..labels import N_CLASSES, one_hot
from ..train.trained import open_trained
from .recipe import SpadeConfig

MEAN_STYLE_NOISE_SEED = 0
#: Every sequence at once (``modality="all"``).
ALL = "all"
_NOISE_STREAM = 1_000_003


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
        # channels-last activations: the CPU convolutions of the narrow full-resolution blocks run ~15 % faster
        self.generator = generator.eval().to(memory_format=torch.channels_last)
        self.config = config
        self.sha256 = sha256
        self.path = path
        self.device = torch.device(device)
        #: Side of the crops the model trained on (renders take any size).
        self.size = int(config.image_size)
        self.step = step
        self.modalities: list[str] = list(config.modality_list)
        #: The sequence :meth:`render` returns unless told otherwise: T1-Gd when the model has it.
        self.modality = "t1ce" if "t1ce" in self.modalities else self.modalities[0]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> SpadeRenderer:
        """Load a ``spade`` checkpoint (None: the shipped ``models/spade.pt``), tensors only."""
        trained = open_trained(path, "spade", what="a SPADE label -> MR model")
        return cls(trained.network("G", device), trained.config, trained.sha256, trained.path, device, trained.step)

    def channel(self, modality: str | None) -> int | None:
        """Index of ``modality`` among the rendered sequences (None for ``"all"``)."""
        name = self.modality if modality is None else str(modality).lower()
        if name == ALL:
            return None
        if name not in self.modalities:
            raise ValueError(f"this model renders {', '.join(self.modalities)}, not {modality!r}")
        return self.modalities.index(name)

    # --- geometry -------------------------------------------------------------------------------
    def _padding(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        m = self.generator.multiple
        ph, pw = (-shape[0]) % m, (-shape[1]) % m
        return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2  # left, right, top, bottom

    def _noise_generator(self, seed: int | None, item: int) -> torch.Generator:
        base = MEAN_STYLE_NOISE_SEED if seed is None else int(seed)
        return torch.Generator().manual_seed((base * _NOISE_STREAM + item) % (2**63))

    def _style(self, seed: int | None, count: int) -> torch.Tensor | None:
        g = self.generator
        if seed is None or g.z_dim == 0:
            return None
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(1, g.z_dim, generator=gen).repeat(count, 1).to(self.device)

    @torch.no_grad()
    def _render_same_shape(self, maps: list[np.ndarray], seed: int | None, first_item: int) -> np.ndarray:
        """(B, M, H, W) in [0, 1] for label maps of one shape."""
        shape = maps[0].shape
        left, right, top, bottom = self._padding(shape)
        seg = torch.from_numpy(np.stack(maps))
        seg = F.pad(seg, (left, right, top, bottom))
        h, w = seg.shape[-2:]
        g = self.generator
        noise = torch.cat([g.make_noise(1, h, w, self._noise_generator(seed, first_item + i))
                           for i in range(len(maps))]) if g.noise_channels else None
        cl = torch.channels_last
        out = g(one_hot(seg).to(self.device).contiguous(memory_format=cl), self._style(seed, len(maps)),
                None if noise is None else noise.to(self.device).contiguous(memory_format=cl))
        out = out.float().cpu().contiguous().numpy()
        out = out[:, :, top:top + shape[0], left:left + shape[1]]
        out = np.clip((out + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)
        out[np.stack(maps)[:, None].repeat(out.shape[1], 1) == 0] = 0.0  # background is air: exactly 0
        return out

    # --- public ---------------------------------------------------------------------------------
    def render_all(self, labels: np.ndarray, style_seed: int | None = None) -> np.ndarray:
        """Every sequence of one (H, W) label map: (M, H, W) float32 in [0, 1], in :attr:`modalities` order."""
        return self._render_same_shape([_check_labels(labels)], style_seed, 0)[0]

    def render(self, labels: np.ndarray, style_seed: int | None = None, modality: str | None = None) -> np.ndarray:
        """Render one (H, W) label map as float32 in [0, 1] of the same shape (one sequence;
        ``modality="all"`` gives (M, H, W))."""
        c = self.channel(modality)
        images = self.render_all(labels, style_seed)
        return images if c is None else images[c]

    def render_styles(self, labels: np.ndarray, seeds: Sequence[int | None], modality: str | None = None) -> np.ndarray:
        """The same label map in several styles: (K, H, W) for K seeds (or (K, M, H, W) for "all")."""
        seeds = list(seeds)
        if not seeds:
            raise ValueError("give at least one style seed")
        return np.stack([self.render(labels, s, modality) for s in seeds])

    def render_many(self, maps: Sequence[np.ndarray], style_seed: int | None = None, batch_size: int = 8,
                    progress: Progress | None = None, modality: str | None = None) -> list[np.ndarray]:
        """Render several label maps (each any shape) with one style, in batches of equal shapes.
        Map ``i`` gets its own texture-noise stream, so neighbouring slices do not repeat it."""
        c = self.channel(modality)
        checked = [_check_labels(m) for m in maps]
        out: list[np.ndarray] = []
        start = 0
        while start < len(checked):
            stop = start + 1
            while stop < len(checked) and stop - start < batch_size and checked[stop].shape == checked[start].shape:
                stop += 1
            images = self._render_same_shape(checked[start:stop], style_seed, start)
            out.extend(images if c is None else images[:, c])
            start = stop
            if progress is not None:
                progress(len(out), len(checked), f"rendered {len(out)}/{len(checked)} slices")
        return out


def render_volume(labels_volume: np.ndarray, renderer: SpadeRenderer, style_seed: int | None = None,
                  progress: Progress | None = None, modality: str | None = None) -> np.ndarray:
    """Render every axial slice of a (Z, H, W) 7-class label volume: (Z, H, W) float32 in [0, 1]
    (``modality="all"``: (M, Z, H, W), sequences in ``renderer.modalities`` order).

    Slices without brain (all background) stay 0. One style for the whole volume. ``progress``
    is called with (slices done, slices to render).
    """
    vol = np.asarray(labels_volume)
    if vol.ndim != 3:
        raise ValueError(f"a label volume must be 3-D (Z, H, W); got shape {vol.shape}")
    _check_labels(vol.reshape(vol.shape[0], -1))
    c = renderer.channel(modality)
    n_out = len(renderer.modalities) if c is None else 1
    out = np.zeros((n_out,) + vol.shape, dtype=np.float32)
    with_brain = [z for z in range(vol.shape[0]) if np.any(vol[z] > 0)]
    renders = renderer.render_many([vol[z] for z in with_brain], style_seed, progress=progress, modality=ALL)
    for z, images in zip(with_brain, renders):
        out[:, z] = images if c is None else images[c:c + 1]
    return out if c is None else out[0]
