"""Recipe "unet2d": a small 2-D U-Net (MONAI ``BasicUNet``) that segments tumor vs background.

The downstream segmenter of the evaluation (Dice of a U-Net trained on real, synthetic and mixed
data, as in the PGGAN+SPADE paper). Reads an :class:`~napari_medsynth.train.arrays.ArrayDataset`
with masks; loss: Dice + cross-entropy (MONAI ``DiceCELoss``). Previews are the predicted tumor
probability of fixed training images, in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..train.arrays import AUGMENTATIONS, ArrayDataset
from ..train.recipe import Recipe, RecipeConfig, register_recipe


@dataclass
class UNetConfig(RecipeConfig):
    choices = {"augment": AUGMENTATIONS}

    batch_size: int = 16
    image_size: int = 64
    #: Channels of the first level; deeper levels use 2x, 4x, 8x.
    width: int = 8
    lr: float = 1e-3
    augment: str = "flip"


@register_recipe("unet2d")
class UNetRecipe(Recipe):
    config_class = UNetConfig
    network_names = ("net",)
    optimizer_names = ("opt",)
    inference_networks = ("net",)

    @classmethod
    def build_network(cls, name, c):
        from monai.networks.nets import BasicUNet

        if name == "net":
            w = c.width
            return BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(w, w, 2 * w, 4 * w, 8 * w, w))
        return super().build_network(name, c)

    def build(self) -> None:
        from monai.losses import DiceCELoss
        self.net = self.build_network("net", self.config).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)
        self._preview = None

    def make_dataset(self, data_dir: str, pattern: str = "*") -> ArrayDataset:
        ds = ArrayDataset(data_dir, self.config.image_size, augment=self.config.augment, balance=False,
                          need_masks=True)
        self._preview = torch.from_numpy(np.ascontiguousarray(ds.eval_images()[0][: self.config.preview_count, None]))
        return ds

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        x, y = batch[:, :1], batch[:, 1:].round()
        self.opt.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss = self.loss(self.net(x).float(), y)
        self.precision.backward(loss)
        self.precision.step(self.opt)
        return {"loss": float(loss.detach())}

    @torch.no_grad()
    def previews(self) -> np.ndarray:
        if self._preview is None:
            return np.zeros((0, self.config.image_size, self.config.image_size), np.float32)
        net = self.network("net")
        was = net.training
        net.eval()
        try:
            prob = torch.softmax(net(self._preview.to(self.device)).float(), dim=1)[:, 1]
        finally:
            net.train(was)
        return (prob.cpu().numpy() * 2 - 1).astype(np.float32)
