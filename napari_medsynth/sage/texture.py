"""SAGE's Texture Alignment Network (TAN): give a synthetic tumor shape the texture of a real crop.

``TextureModel.texturize(btc, source_tc, seed)`` returns a synthetic tumor crop (Syn-TC): an image
inside the shape ``btc`` whose feature statistics match those of the sampled real crop
``source_tc``. It minimises the paper's Eq. 3,

    L_TAN = sum_i w_i ||g_i(T) - g_i(I)||^2  +  c ||F(B) - F(I)||^2,

(g_i: Gram matrix of feature layer i, T: source crop, B: shape, I: output) by per-sample
optimisation of the output pixels (Gatys et al.), not with a feed-forward network. Why: a
feed-forward texturiser would have to be trained on the few hundred crops of a small cohort and
generalise to textures it never saw, while optimisation matches each chosen texture directly; with
the default shallow random-filter features (:mod:`.texture_features`) 100 iterations take about
1.5 s on one shared CPU core (``benchmarks/bench_sage.py``), fast enough to steer in the viewer.

Details that make the result a usable tumor crop:

* the output is ``mask * sigmoid(u)``: exactly 0 outside the shape, in (0, 1) inside;
* Gram matrices are taken over the tumor pixels only (of the output and of the source);
* the content term (weight ``content_weight``) compares features of the output with features of
  the binary shape, which keeps the tumor filled up to its outline (no dark gaps at the edge);
* the features include the image itself, so the Gram matrices also carry the mean and spread of
  the grey levels: the Syn-TC gets the source's brightness, not only its patterns.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..jobs import Progress
from .texture_features import RandomMultiScaleFeatures, VGG19Features, gram_distance, masked_grams, state_sha256

DEFAULT_STEPS = 100


def _as_image(array, name: str, size: int | None = None) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D image (S, S), got shape {arr.shape}")
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} is {arr.shape[0]}x{arr.shape[1]} but the shape is {size}x{size}; crops must "
                         "have the same size")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, not {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]


def gram_loss(image, texture, extractor: nn.Module | None = None, image_mask=None, texture_mask=None) -> float:
    """Gram-matrix texture distance between ``image`` and ``texture`` (2-D arrays in [0, 1]).

    Each image's statistics are taken inside its mask (default: its non-zero pixels, which for a
    tumor crop is the tumor). Relative per layer (0: identical statistics), averaged over layers.
    """
    extractor = extractor if extractor is not None else TextureModel.load().extractor
    img = _as_image(image, "image")
    tex = _as_image(texture, "texture")
    m_img = _as_image(image_mask, "image_mask") > 0 if image_mask is not None else img > 0
    m_tex = _as_image(texture_mask, "texture_mask") > 0 if texture_mask is not None else tex > 0
    if not m_img.any() or not m_tex.any():
        raise ValueError("gram_loss needs a non-empty region in both images (all pixels are 0)")
    with torch.no_grad():
        g_img = masked_grams(extractor(_tensor(img)), _tensor(m_img.astype(np.float32)))
        g_tex = masked_grams(extractor(_tensor(tex)), _tensor(m_tex.astype(np.float32)))
        return float(gram_distance(g_img, g_tex))


class TextureModel:
    """Per-sample texture synthesis for tumor shapes (see the module docstring)."""

    _default: TextureModel | None = None
    _default_lock = threading.Lock()

    def __init__(self, extractor: nn.Module, sha256: str, source: str, layer_weights: tuple[float, ...] | None = None,
                 content_weight: float = 0.05, lr: float = 0.08, steps: int = DEFAULT_STEPS):
        self.extractor = extractor.eval().requires_grad_(False)
        self.sha256 = sha256
        self.source = source
        self.layer_weights = layer_weights
        self.content_weight = float(content_weight)
        self.lr = float(lr)
        self.steps = int(steps)

    @classmethod
    def load(cls, path: str | Path | None = None) -> TextureModel:
        """``None``: the default random multi-scale features (nothing to download or ship).
        A path: torchvision-format VGG19 weights, tapped at relu3_1 / relu4_1 / relu5_1 as in the paper."""
        if path is None:
            with cls._default_lock:
                if cls._default is None:
                    ext = RandomMultiScaleFeatures()
                    what = "random multi-scale features (Ustyuzhaninov et al. 2016)"
                    cls._default = cls(ext, state_sha256(ext), what)
                return cls._default
        path = Path(path)
        ext = VGG19Features.from_file(path)
        return cls(ext, ext.sha256, f"VGG19 weights {path.name}")

    def texturize(self, btc: np.ndarray, source_tc: np.ndarray, seed: int, steps: int | None = None,
                  progress: Progress | None = None) -> np.ndarray:
        """Syn-TC (S, S) float32 in [0, 1], 0 outside ``btc``, with the texture of ``source_tc``.

        ``source_tc``'s texture is read from its non-zero pixels (a tumor crop is 0 outside the
        tumor). ``progress(done, total, message)`` is called after each iteration. Deterministic on the CPU
        for a given ``seed``.
        """
        shape = _as_image(btc, "btc") > 0.5
        src = _as_image(source_tc, "source_tc", size=shape.shape[0])
        if not shape.any():
            raise ValueError("the shape (btc) is empty: nothing to texture")
        src_mask = src > 0
        if src_mask.sum() < 16:
            raise ValueError("the source tumor crop has fewer than 16 non-zero pixels; choose a crop that "
                             "contains a tumor")
        if src.min() < 0 or src.max() > 1.0 + 1e-6:
            raise ValueError(f"source_tc must be in [0, 1] (a tumor crop), got values {src.min():.3g}..{src.max():.3g}")
        steps = self.steps if steps is None else int(steps)
        if steps < 0:
            raise ValueError(f"steps must be 0 or positive, not {steps}")

        inside = src[src_mask]
        gen = torch.Generator().manual_seed(int(seed))
        mask_t = _tensor(shape.astype(np.float32))
        init = float(inside.mean()) + float(inside.std()) * torch.randn(mask_t.shape, generator=gen)
        u = torch.logit(init.clamp(0.02, 0.98)).requires_grad_(True)
        with torch.no_grad():
            target = masked_grams(self.extractor(_tensor(src)), _tensor(src_mask.astype(np.float32)))
            content = self.extractor(mask_t)
        opt = torch.optim.Adam([u], lr=self.lr)
        for i in range(steps):
            opt.zero_grad(set_to_none=True)
            image = mask_t * torch.sigmoid(u)
            feats = self.extractor(image)
            loss = gram_distance(masked_grams(feats, mask_t), target, self.layer_weights)
            if self.content_weight:
                loss = loss + self.content_weight * sum(
                    ((f - c) ** 2).mean() / (c ** 2).mean().clamp_min(1e-12) for f, c in zip(feats, content)
                ) / len(feats)
            loss.backward()
            opt.step()
            if progress is not None:
                progress(i + 1, steps, f"texture step {i + 1}/{steps}")
        out = (torch.sigmoid(u) * mask_t).detach().numpy()[0, 0].astype(np.float32)
        out[~shape] = 0.0
        return out
