"""A small ResNet-18-style image classifier, and views of it that return features.

The evaluation needs a network that knows MR: ImageNet Inception weights cannot be downloaded
here and would not know brain MR anyway. This is ResNet-18's layout (a stem, then four stages of
two basic residual blocks, strides 1-2-2-2, global average pooling, one linear layer; group
normalisation, see :func:`_norm`) with a
configurable width, so that it trains in minutes on a CPU at 64 x 64 pixels. ``width=64`` gives
the original channel counts (64-128-256-512); the default 8 gives 8-16-32-64.

The same network serves as domain classifier (IS on its logits, FID / t-SNE / k-means on its
pooled features), as the machine Turing test's real-vs-synthetic classifier, and as the
downstream classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    """Group normalisation instead of ResNet's batch normalisation: an image's output does not
    depend on the batch it came in, and there are no running statistics that lag behind the weights
    in short runs (with batch norm, a C2ST net at 100 % training accuracy scored chance in eval mode)."""
    return nn.GroupNorm(4 if channels % 4 == 0 else 1, channels)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = _norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = _norm(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class SmallResNet(nn.Module):
    """ResNet-18 layout for one-channel images; ``forward`` gives (B, n_classes) logits."""

    def __init__(self, n_classes: int = 2, width: int = 8, in_channels: int = 1):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes; got {n_classes}")
        if width < 1:
            raise ValueError(f"width must be at least 1; got {width}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), _norm(width),
                                  nn.ReLU())
        widths = [width, 2 * width, 4 * width, 8 * width]
        blocks, c = [], width
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            blocks += [BasicBlock(c, w, stride), BasicBlock(w, w, 1)]
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, n_classes)
        self.feature_dim = c

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled activations of the last stage: (B, 8 * width)."""
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class PooledFeatures(nn.Module):
    """A (B, D) view of a :class:`SmallResNet`: its pooled features, for FID, t-SNE and k-means."""

    def __init__(self, net: SmallResNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)
