"""Run a user-chosen network over batches of images and collect its outputs.

IS, FID, t-SNE and the k-means cleaning all look at images through a network: ImageNet Inception
weights cannot be downloaded here and would not know MR anyway, so the caller brings a domain
classifier (its logits for IS, a feature layer for FID, t-SNE and clustering). This is the one
place that runs it: evaluation mode, no gradients, outputs gathered as float64 numpy, the
module's training flag restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def module_outputs(module, batches: Iterable, device=None) -> np.ndarray:
    """Outputs of ``module`` for every batch, stacked into an (N, D) float64 array.

    ``batches`` yields image batches as torch tensors or numpy arrays, e.g. (B, 1, H, W); a
    tuple or list (as a DataLoader of ``(images, labels)`` gives) contributes its first element.
    ``device`` defaults to the device of the module's first parameter (CPU for a module without
    parameters). The module must return one (B, D) tensor per batch: a feature map (B, C, H, W)
    is refused, pool it inside the module so the choice of pooling is explicit.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if device is None:
        first = next(module.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    was_training = module.training
    module.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for i, batch in enumerate(batches):
                if isinstance(batch, (tuple, list)):
                    if not batch:
                        raise ValueError(f"batch {i} is an empty tuple/list")
                    batch = batch[0]
                x = batch if torch.is_tensor(batch) else torch.as_tensor(np.asarray(batch))
                out = module(x.to(device=device, dtype=dtype))
                if not torch.is_tensor(out) or out.ndim != 2:
                    shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
                    raise ValueError(f"module must return a (batch, features) tensor; got {shape} for batch {i}")
                if out.shape[0] != x.shape[0]:
                    raise ValueError(f"module returned {out.shape[0]} rows for a batch of {x.shape[0]} images "
                                     f"(batch {i})")
                outputs.append(out.detach().to("cpu", torch.float64).numpy())
    finally:
        module.train(was_training)
    if not outputs:
        raise ValueError("batches yielded no images")
    result = np.concatenate(outputs, axis=0)
    if not np.isfinite(result).all():
        raise ValueError("module produced NaN/Inf outputs; check the input scaling and the checkpoint")
    return result


def iterate_batches(images, batch_size: int = 64):
    """Batches of (B, 1, H, W) float32 from an in-memory stack (N, H, W) or (N, 1, H, W).

    Convenience for the common case where the images are already a numpy array or tensor.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    a = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float32)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4:
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W); got shape {a.shape}")
    for start in range(0, a.shape[0], batch_size):
        yield a[start:start + batch_size]
