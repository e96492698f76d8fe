"""A tiny pggan-labels run on one sample case, shared by the PGGAN tests (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

import torch

from napari_medsynth.train import Trainer, TrainSettings

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
ONE_CASE = REPO_ROOT / "sample_data" / "MSYN-001"

#: 4 -> 8 -> 16 px: two steps per stable phase and per fade-in at batch 4.
TINY = {"image_size": 16, "batch_size": 4, "z_dim": 8, "width": 4, "max_width": 8, "stable_kimg": 0.008,
        "fade_kimg": 0.008, "preview_count": 4, "ema_kimg": 0.01}


def train_tiny(out: Path, steps: int = 12, recipe: str = "pggan-labels", listeners=(), **overrides) -> Trainer:
    run = dict(steps=steps, checkpoint_every=steps, preview_every=0, device="cpu", seed=5, keep_checkpoints=0)
    run.update(overrides.pop("settings", {}))
    settings = TrainSettings(str(ONE_CASE), str(out), **run)
    trainer = Trainer(recipe, settings, {**TINY, **overrides}, listeners=tuple(listeners))
    trainer.run()
    return trainer
