"""Moving a StyleGAN2 sample through its latent space: what the explorer panel does, without Qt.

An :class:`Edit` describes one image completely: the sample (seed, class, truncation), steps
along principal directions of W (GANSpace, Härkönen et al. 2020: PCA of many mapped w vectors;
the first directions change the most), style mixing (the w of the layers from ``mix_from`` on
taken from another seed: coarse layers set anatomy and size, fine ones texture), and an
interpolation position towards a second seed. :func:`render` draws it; :meth:`Edit.sidecar`
records it so the image can be drawn again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .sample import StyleGAN2Sampler


@dataclass(frozen=True)
class Directions:
    """Principal directions of W for one class: ``components`` (k, w_dim) unit vectors and the
    standard deviation of w along each (``scales``), from ``n`` mapped samples."""

    components: np.ndarray
    scales: np.ndarray
    n: int
    cls: str | None


@torch.no_grad()
def principal_directions(sampler: StyleGAN2Sampler, k: int = 8, n: int = 2000, cls=None,
                         seed: int = 123) -> Directions:
    """The ``k`` leading principal directions of w for class ``cls``, from ``n`` latent codes."""
    if not 1 <= k <= sampler.generator.w_dim:
        raise ValueError(f"k must be from 1 to {sampler.generator.w_dim}, not {k}")
    if n <= k:
        raise ValueError(f"n ({n}) must exceed k ({k})")
    w = sampler.ws(n, seed, cls)[:, 0].double()
    centred = w - w.mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    scales = (s[:k] / np.sqrt(n - 1)).numpy()
    return Directions(vh[:k].numpy().astype(np.float32), scales.astype(np.float32), n, cls)


@dataclass(frozen=True)
class Edit:
    seed: int
    cls: str | None = None
    truncation: float = 1.0
    #: Steps along the principal directions, in standard deviations of w along each.
    steps: tuple[float, ...] = ()
    #: Style mixing: take the w of layers ``mix_from`` onwards from ``mix_seed`` (None: no mixing).
    mix_seed: int | None = None
    mix_from: int = 0
    #: Interpolation: 0 is this sample, 1 is ``towards_seed``'s (linear in W).
    towards_seed: int | None = None
    position: float = 0.0
    noise_seed: int | None = None
    notes: dict = field(default_factory=dict)

    def sidecar(self, sampler: StyleGAN2Sampler, directions: Directions | None) -> dict:
        out = {"source": "stylegan2-explorer", **asdict(self), "checkpoint": sampler.path,
               "checkpoint_sha256": sampler.sha256, "size": sampler.size}
        out["steps"] = list(self.steps)
        if directions is not None and any(self.steps):
            out["directions"] = {"method": "PCA of w (GANSpace)", "n": directions.n, "class": directions.cls}
        return out


def latent(sampler: StyleGAN2Sampler, edit: Edit, directions: Directions | None = None) -> torch.Tensor:
    """(1, num_ws, w_dim) w of ``edit``."""
    ws = sampler.ws(1, edit.seed, edit.cls, edit.truncation)
    if edit.towards_seed is not None and edit.position:
        other = sampler.ws(1, edit.towards_seed, edit.cls, edit.truncation)
        ws = torch.lerp(ws, other, float(edit.position))
    if any(edit.steps):
        if directions is None or len(edit.steps) > len(directions.components):
            raise ValueError("steps along latent directions need the directions (principal_directions)")
        move = sum(float(a) * float(s) * torch.from_numpy(c)
                   for a, s, c in zip(edit.steps, directions.scales, directions.components))
        ws = ws + move.to(ws.dtype)[None, None]
    if edit.mix_seed is not None:
        if not 0 <= edit.mix_from < ws.shape[1]:
            raise ValueError(f"mix_from must be a layer from 0 to {ws.shape[1] - 1}, not {edit.mix_from}")
        mixed = sampler.ws(1, edit.mix_seed, edit.cls, edit.truncation)
        ws = ws.clone()
        ws[:, edit.mix_from:] = mixed[:, edit.mix_from:]
    return ws


def render(sampler: StyleGAN2Sampler, edit: Edit, directions: Directions | None = None) -> np.ndarray:
    """(S, S) float32 image in [0, 1] of ``edit``."""
    noise = edit.seed if edit.noise_seed is None else edit.noise_seed
    return sampler.synthesize(latent(sampler, edit, directions), noise_seed=noise)[0]


def grid(sampler: StyleGAN2Sampler, first_seed: int, count: int, cls=None, truncation: float = 1.0) -> np.ndarray:
    """(count, S, S): the samples of seeds ``first_seed`` .. ``first_seed + count - 1``, to pick from."""
    return np.stack([render(sampler, Edit(first_seed + i, cls, truncation)) for i in range(count)])


def interpolation(sampler: StyleGAN2Sampler, edit: Edit, towards_seed: int, count: int = 8,
                  directions: Directions | None = None) -> np.ndarray:
    """(count, S, S): ``edit`` moved from its own sample to ``towards_seed``'s in ``count`` steps."""
    if count < 2:
        raise ValueError(f"an interpolation needs at least 2 images, not {count}")
    return np.stack([render(sampler, Edit(**{**asdict(edit), "towards_seed": towards_seed, "position": t}),
                            directions) for t in np.linspace(0.0, 1.0, count)])
