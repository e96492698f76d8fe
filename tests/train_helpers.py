"""Small datasets and settings for the training-engine tests (kept tiny: 2 shared CPU cores)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from napari_medsynth.train import StepEvent, Trainer, TrainSettings

# One intra-op thread: the tests are dominated by overhead, and other jobs share the cores.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The smallest DC-GAN the engine tests need: a few thousand parameters, 4 images per step.
TINY = {"width": 8, "batch_size": 4, "z_dim": 16, "preview_count": 4}


def blob_images(n: int, size: int = 40, seed: int = 0) -> np.ndarray:
    """``n`` dark images with 1-3 bright Gaussian blobs each: structured, cheap, reproducible."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    out = np.zeros((n, size, size), np.float32)
    for img in out:
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.2, 0.8, 2) * size
            r = rng.uniform(0.05, 0.2) * size
            img += rng.uniform(200, 800) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += rng.normal(0, 5, img.shape)
    return out


def make_dataset(folder: Path, n: int = 12, size: int = 40) -> Path:
    """A dataset folder with an (N, H, W) stack and a single (H, W) image, in a subfolder."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    np.save(folder / "stack.npy", blob_images(n - 1, size))
    np.save(folder / "sub" / "single.npy", blob_images(1, size, seed=1)[0])
    return folder


def settings(data: Path, out: Path, **kw) -> TrainSettings:
    base = dict(steps=6, checkpoint_every=3, preview_every=0, device="cpu", seed=3)
    base.update(kw)
    return TrainSettings(data_dir=str(data), out_dir=str(out), **base)


def run_collect(trainer: Trainer, stop_at: int | None = None) -> tuple[list, dict[int, dict[str, float]]]:
    """Run ``trainer`` to the end (stopping it from a listener after step ``stop_at``); return
    all events and the losses by step."""
    events: list = []

    def listen(event):
        events.append(event)
        if stop_at is not None and isinstance(event, StepEvent) and event.step == stop_at:
            trainer.stop()

    trainer.add_listener(listen)
    trainer.run()
    return events, {e.step: e.losses for e in events if isinstance(e, StepEvent)}


def cli_env() -> dict[str, str]:
    """Environment for a CLI subprocess that runs this checkout's code on one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "napari_medsynth.cli", *args]
