"""Recipes "classifier" and "c2st": a small ResNet-18-style CNN trained with cross-entropy.

"classifier" is the domain classifier of the evaluation (IS/FID/t-SNE/k-means look through it)
and the downstream classifier (e.g. tumor vs non-tumor); "c2st" is the machine Turing test's
fresh network telling real (class 1) from synthetic (class 0) images, trained on random
``image_size`` crops. Both read an :class:`~napari_medsynth.train.arrays.ArrayDataset`;
classes are balanced by default. Adam with weight decay; previews show the training inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..train.arrays import AUGMENTATIONS, ArrayDataset
from ..train.recipe import Recipe, RecipeConfig, register_recipe
from .classifier import SmallResNet


@dataclass
class ClassifierConfig(RecipeConfig):
    choices = {"augment": AUGMENTATIONS}
    ranges = {"min_foreground": (0.0, 1.0)}

    batch_size: int = 32
    image_size: int = 64
    n_classes: int = 2
    width: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: "none", "flip" or "classic" (see napari_medsynth.train.arrays).
    augment: str = "flip"
    balance: bool = True
    #: Redraw random crops until this fraction of them is foreground (0: any crop; see ArrayDataset).
    min_foreground: float = 0.0


@register_recipe("classifier")
class ClassifierRecipe(Recipe):
    config_class = ClassifierConfig
    network_names = ("net",)
    optimizer_names = ("opt",)
    inference_networks = ("net",)

    @classmethod
    def build_network(cls, name, c):
        if name == "net":
            return SmallResNet(c.n_classes, c.width)
        return super().build_network(name, c)

    def build(self) -> None:
        c = self.config
        self.net = self.build_network("net", c).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self._preview = None

    def make_dataset(self, data_dir: str, pattern: str = "*") -> ArrayDataset:
        c = self.config
        ds = ArrayDataset(data_dir, c.image_size, augment=c.augment, balance=c.balance,
                          min_foreground=c.min_foreground)
        if ds.labels.min() < 0 or ds.labels.max() >= c.n_classes:
            raise ValueError(f"class indices must lie in 0..{c.n_classes - 1}; found {ds.labels.min()}.."
                             f"{ds.labels.max()} (set n_classes)")
        self._preview = ds.eval_images()[0][: c.preview_count]
        return ds

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        x = batch[:, :1]
        y = batch[:, 1, 0, 0].round().long()
        self.opt.zero_grad(set_to_none=True)
        with self.precision.autocast():
            logits = self.net(x)
            loss = F.cross_entropy(logits.float(), y)
        self.precision.backward(loss)
        self.precision.step(self.opt)
        acc = (logits.detach().argmax(1) == y).float().mean()
        return {"loss": float(loss.detach()), "train_acc": float(acc)}

    def previews(self) -> np.ndarray:
        if self._preview is None:
            return np.zeros((0, self.config.image_size, self.config.image_size), np.float32)
        return np.clip(self._preview, -1, 1).astype(np.float32)


@dataclass
class C2STConfig(ClassifierConfig):
    augment: str = "flip"


@register_recipe("c2st")
class C2STRecipe(ClassifierRecipe):
    """Real (1) vs synthetic (0); a separate name so checkpoints and model cards say what they are."""

    config_class = C2STConfig
