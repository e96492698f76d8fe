"""Feature extractors whose Gram matrices describe tumor texture (for SAGE's TAN, Eq. 3).

Two extractors, one interface (``forward(x) -> list of feature maps``, ``x`` of shape
``(B, 1, S, S)`` in [0, 1]):

* :class:`VGG19Features` -- the paper's choice: the VGG19 architecture, tapped after the first
  convolution of blocks 3, 4 and 5 (relu3_1, relu4_1, relu5_1). ImageNet weights cannot be
  shipped or downloaded, so it needs a user-supplied weights file in torchvision's layout
  (``features.<i>.weight`` / ``.bias``, e.g. the state dict of ``torchvision.models.vgg19``).
* :class:`RandomMultiScaleFeatures` -- the default: one convolutional layer of fixed random filters
  at several sizes followed by ReLU. Ustyuzhaninov, Brendel, Gatys and Bethge ("Texture synthesis
  using shallow convolutional networks with random filters", 2016) showed that Gram matrices of
  such multi-scale random features already drive texture synthesis to results close to VGG's; on
  64 x 64 single-channel tumor crops they are also 20-50x cheaper, which makes per-sample
  synthesis interactive on a CPU. The filters come from a fixed seed, so every installation
  computes identical features.

Gram matrices are computed over the tumor only (a mask, resampled to each feature map's
resolution), so the background around a tumor and the tumor's size do not enter its texture.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..train.checkpoint import CheckpointError, read_state

#: torchvision's VGG19 ``features`` layout up to conv5_1: channel counts, "M" = max pooling.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
#: Sequential indices of relu3_1, relu4_1 and relu5_1 in torchvision's ``vgg19().features``.
VGG19_TAPS = (11, 20, 29)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """VGG19 (``features`` up to relu5_1) with torchvision's parameter names."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(ch, v, 3, padding=1), nn.ReLU(inplace=False)]
                ch = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in VGG19_TAPS:
                out.append(h)
        return out

    @classmethod
    def from_file(cls, path: str | Path) -> VGG19Features:
        """Load torchvision-format VGG19 weights (classifier keys, if present, are ignored);
        the file's SHA-256 is kept as ``sha256``."""
        path = Path(path)
        state, digest = read_state(path, what="VGG19 weights file",
                                   hint="expected a plain PyTorch state dict (weights only) of torchvision's vgg19")
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CheckpointError(f"{path.name}: expected a state dict of torchvision's vgg19, "
                                  f"found {type(state).__name__}")
        model = cls()
        wanted = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
        missing = sorted(k for k in wanted if k not in state)
        if missing:
            raise CheckpointError(f"{path.name}: not torchvision VGG19 weights; missing {', '.join(missing[:4])}"
                                  f"{' ...' if len(missing) > 4 else ''} (expected keys like features.0.weight)")
        bad = [k for k in wanted if tuple(state[k].shape) != tuple(wanted[k].shape)]
        if bad:
            raise CheckpointError(f"{path.name}: {bad[0]} has shape {tuple(state[bad[0]].shape)}, VGG19 needs "
                                  f"{tuple(wanted[bad[0]].shape)}; is this another VGG variant?")
        model.load_state_dict({k: state[k].float() for k in wanted}, strict=False)
        model.sha256 = digest
        return model.eval().requires_grad_(False)


class RandomMultiScaleFeatures(nn.Module):
    """Fixed random filters + ReLU at several scales of an image pyramid (Ustyuzhaninov et al., 2016).

    Level ``l`` low-pass filters and subsamples the image by ``2**l`` and applies ``channels`` random
    ``kernel`` x ``kernel`` filters (zero-mean, so they respond to structure; intensity enters as
    an extra channel, the pooled image itself). Pooling instead of ever larger kernels covers
    receptive fields of about 5, 10, 20 pixels at a fraction of the cost of 5-, 9- and 15-pixel filters.
    """

    def __init__(self, kernel: int = 5, channels: int = 32, levels: int = 3, seed: int = 20160601):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.kernel, self.levels = int(kernel), int(levels)
        weights = torch.randn(levels, channels, kernel * kernel, generator=gen)
        weights -= weights.mean(dim=2, keepdim=True)
        self.register_buffer("weights", weights / kernel)
        self.register_buffer("biases", torch.randn(levels, channels, 1, generator=gen) * 0.1)
        binomial = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8.0
        self.register_buffer("blur", (binomial[:, None] * binomial[None, :]).view(1, 1, 4, 4))
        self.eval().requires_grad_(False)

    def downsample(self, h: torch.Tensor) -> torch.Tensor:
        """Halve the resolution with a binomial low-pass filter. Plain 2x2 averaging would make the
        gradient piecewise constant, and the synthesis would paint visible 4x4 blocks."""
        return F.conv2d(F.pad(h, (1, 2, 1, 2), mode="reflect"), self.blur, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h, k = [], x, self.kernel
        for level in range(self.levels):
            if level:
                h = self.downsample(h)
            b, _, s, t = h.shape
            # unfold + matmul: with one input channel this is several times faster than conv2d's
            # backward on CPUs, and the synthesis runs ~150 backward passes per crop.
            cols = F.unfold(F.pad(h, (k // 2,) * 4, mode="reflect"), k)
            f = F.relu(self.weights[level] @ cols + self.biases[level]).reshape(b, -1, s, t)
            out.append(torch.cat([f, h], dim=1))
        return out


def state_sha256(module: nn.Module) -> str:
    """SHA-256 over a module's state dict (names, shapes and raw bytes), for provenance."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        arr = tensor.detach().cpu().contiguous().numpy()
        h.update(f"{name}\0{arr.dtype}\0{arr.shape}\0".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def masked_grams(features: list[torch.Tensor], mask: torch.Tensor) -> list[torch.Tensor]:
    """Gram matrix of each feature map over the pixels inside ``mask`` ((B, 1, S, S) in [0, 1])."""
    grams = []
    for f in features:
        b, c, h, w = f.shape
        m = F.interpolate(mask, size=(h, w), mode="area").reshape(b, 1, h * w)
        flat = f.reshape(b, c, h * w)
        grams.append((flat * m) @ flat.transpose(1, 2) / m.sum(-1, keepdim=True).clamp_min(1e-6))
    return grams


def gram_distance(grams_a: list[torch.Tensor], grams_b: list[torch.Tensor],
                  weights: tuple[float, ...] | None = None) -> torch.Tensor:
    """Weighted sum over layers of ||G_a - G_b||^2 / ||G_b||^2 (scale-free, comparable across layers)."""
    weights = weights or (1.0,) * len(grams_a)
    total = grams_a[0].new_zeros(())
    for w, ga, gb in zip(weights, grams_a, grams_b):
        total = total + w * ((ga - gb) ** 2).sum() / (gb ** 2).sum().clamp_min(1e-12)
    return total / sum(weights)
