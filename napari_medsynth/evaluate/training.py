"""Train an evaluation network through the one Trainer and get the trained module back.

The evaluation's classifiers and segmenter are ordinary recipes: their arrays are written into
``work_dir/data`` (:func:`~napari_medsynth.train.arrays.write_array_dataset`), the
:class:`~napari_medsynth.train.trainer.Trainer` runs the recipe into ``work_dir/run`` (checkpoint
and model card included, so every number in a report can be traced to its weights), and the
final checkpoint is loaded back (``weights_only``) into a fresh network in evaluation mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..jobs import Progress
from ..train.arrays import foreground, write_array_dataset
from ..train.checkpoint import latest_checkpoint
from ..train.events import DoneEvent, StepEvent
from ..train.trained import open_trained
from ..train.trainer import Trainer, TrainSettings


class EvaluationError(ValueError):
    """The evaluation cannot run on these inputs; the message says why and what to do."""


def fit_network(recipe: str, work_dir: str | os.PathLike, images, labels, masks=None, *, steps: int,
                seed: int = 0, threads: int | None = None, overrides: dict[str, Any] | None = None,
                progress: Progress | None = None, label: str = "training", network: str = "net"):
    """Train ``recipe`` on the arrays for ``steps`` steps; return (module on CPU in eval mode, config).

    ``work_dir`` must not hold a previous run of this network (the trainer refuses to overwrite).
    """
    work = Path(work_dir)
    data_dir = work / "data"
    write_array_dataset(data_dir, images, labels, masks)
    settings = TrainSettings(data_dir=str(data_dir), out_dir=str(work / "run"), steps=int(steps),
                             checkpoint_every=int(steps), preview_every=0, device="cpu", precision="fp32",
                             seed=int(seed), threads=threads, keep_checkpoints=1)
    listeners = ()
    if progress is not None:
        def listener(event):
            if isinstance(event, StepEvent):
                progress(event.step, event.total_steps, f"{label}: step {event.step}/{event.total_steps}")
        listeners = (listener,)
    done: DoneEvent = Trainer(recipe, settings, overrides=overrides or {}, listeners=listeners).run()
    if done.reason != "finished":
        raise EvaluationError(f"{label} did not finish ({done.reason}{': ' + done.error if done.error else ''})")
    return load_trained(recipe, settings.out_dir, network)


def load_trained(recipe: str, out_dir: str | os.PathLike, network: str = "net"):
    """The network ``network`` of the newest checkpoint in ``out_dir``, on CPU, in eval mode."""
    path = latest_checkpoint(out_dir)
    if path is None:
        raise EvaluationError(f"no checkpoint in {out_dir}")
    trained = open_trained(path, recipe)
    return trained.network(network), trained.config


@torch.no_grad()
def predict_crops(net: torch.nn.Module, images: np.ndarray, size: int, batch_size: int = 64,
                  crops: str = "five", min_foreground: float = 0.5) -> np.ndarray:
    """Softmax class probabilities (N, K) of ``images`` (N, S, S), averaged over crops.

    With ``S > size`` the image is seen through ``size`` x ``size`` crops: the centre one
    (``crops="center"``), the centre and the four corners (``"five"``), or (``"foreground"``)
    every crop of a grid with half-crop stride whose foreground (pixels that differ from the
    image's corner pixel) covers at least ``min_foreground`` of it, or the crop with the most
    foreground where none does; their probabilities are averaged. With ``S == size`` the whole
    image. On brain slices the corners of "five" are empty air, the same in every image, so
    "foreground" is what a classifier of the brain should see.
    """
    images = np.asarray(images, dtype=np.float32)
    side = images.shape[-1]
    if side < size:
        raise EvaluationError(f"images are {side} px, smaller than the network input {size}")
    if crops not in ("center", "five", "foreground"):
        raise ValueError(f"crops must be 'center', 'five' or 'foreground', not {crops!r}")
    c, e = (side - size) // 2, side - size
    if crops == "center" or side == size:
        offsets = [(c, c)]
    elif crops == "five":
        offsets = [(c, c), (0, 0), (0, e), (e, 0), (e, e)]
    else:
        steps = sorted(set(list(range(0, e + 1, max(1, size // 2))) + [e]))
        offsets = [(t, l) for t in steps for l in steps]
    net.eval()
    total = None
    weights = np.ones((len(images), len(offsets)), np.float32)
    if crops == "foreground" and side > size:
        brain = foreground(images)
        fractions = np.stack([brain[:, t:t + size, l:l + size].mean(axis=(1, 2)) for t, l in offsets], 1)
        weights = (fractions >= min_foreground).astype(np.float32)
        none = weights.sum(1) == 0
        weights[none, fractions[none].argmax(1)] = 1.0
    for k, (top, left) in enumerate(offsets):
        use = np.flatnonzero(weights[:, k] > 0)
        if not len(use):
            continue
        view = images[use, top:top + size, left:left + size]
        parts = []
        for start in range(0, len(view), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(view[start:start + batch_size, None]))
            parts.append(torch.softmax(net(x).float(), dim=1).numpy())
        probs = np.concatenate(parts)
        if total is None:
            total = np.zeros((len(images), probs.shape[1]), np.float64)
        total[use] += probs
    return (total / weights.sum(1, keepdims=True)).astype(np.float32)
