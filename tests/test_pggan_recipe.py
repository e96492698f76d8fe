"""The pggan-labels / pggan-mr recipes train through the one Trainer, grow, learn and resume exactly."""

import numpy as np
import pytest
import torch

from napari_medsynth.train import StepEvent, load_checkpoint, latest_checkpoint
from napari_medsynth.train.checkpoint import list_checkpoints
from pggan_helpers import train_tiny


def _losses(events):
    return {e.step: e.losses for e in events if isinstance(e, StepEvent)}


def test_labels_recipe_grows_4_8_16_and_stores_the_schedule(tmp_path):
    events = []
    train_tiny(tmp_path / "run", steps=12, listeners=[events.append])
    losses = _losses(events)
    res = [losses[s]["resolution"] for s in sorted(losses)]
    assert res[:2] == [4, 4] and res[2:6] == [8] * 4 and res[6:] == [16] * 6
    assert [round(losses[s]["alpha"], 3) for s in (3, 4, 7, 8)] == [0.0, 0.5, 0.0, 0.5]
    assert all(np.isfinite(v) for l in losses.values() for v in l.values())
    state = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    extra = state["model"]["extra"]
    assert extra["images_seen"] == 48 and extra["level"] == 2 and extra["alpha"] == 1.0
    assert set(extra["g_ema"]) == set(state["model"]["networks"]["G"])


def test_resume_mid_fade_continues_exactly(tmp_path):
    full, part = [], []
    train_tiny(tmp_path / "full", steps=9, listeners=[full.append])
    train_tiny(tmp_path / "part", steps=5, listeners=[part.append])   # stops inside the 16 px fade-in
    train_tiny(tmp_path / "part", steps=9, listeners=[part.append], settings={"resume": True})
    a, b = _losses(full), _losses(part)
    assert b[6]["resolution"] == 8 and b[7]["alpha"] == 0.0
    for step in range(6, 10):
        assert b[step] == pytest.approx(a[step], rel=1e-5), step


def test_labels_generator_learns_the_class_layout(tmp_path):
    """From random logits (about 1/7 of pixels per class) to mostly background with tissue in
    the middle, like the real 8x8 maps, in 120 steps."""
    from napari_medsynth.pggan.sample import LabelMapSampler

    train_tiny(tmp_path / "learn", steps=120, image_size=8, batch_size=8, stable_kimg=0.2, fade_kimg=0.2,
               ema_kimg=0.05, lr=0.003)
    maps = LabelMapSampler.load(latest_checkpoint(tmp_path / "learn")).sample(64, seed=1)
    assert maps.shape == (64, 8, 8)
    border = np.concatenate([maps[:, 0], maps[:, -1], maps[:, :, 0], maps[:, :, -1]], axis=1)
    assert (border == 0).mean() > 0.9                # the corners and edges are background
    centre = maps[:, 3:5, 3:5]
    assert np.isin(centre, (4, 5, 6)).mean() > 0.5   # brain tissue in the middle


def test_mr_recipe_trains_and_moves_towards_the_data(tmp_path):
    events = []
    train_tiny(tmp_path / "mr", steps=60, recipe="pggan-mr", image_size=8, batch_size=8, stable_kimg=0.2,
               fade_kimg=0.2, ema_kimg=0.05, lr=0.003, listeners=[events.append])
    losses = _losses(events)
    assert all(np.isfinite(l["loss_d"]) for l in losses.values())
    state = load_checkpoint(latest_checkpoint(tmp_path / "mr"))
    assert state["recipe"] == "pggan-mr"
    from napari_medsynth.models.pggan import PGGANGenerator

    cfg = state["config"]
    G = PGGANGenerator(cfg["z_dim"], cfg["image_size"], 1, cfg["width"], cfg["max_width"])
    G.load_state_dict(state["model"]["extra"]["g_ema"])
    with torch.no_grad():
        img = G(torch.randn(32, cfg["z_dim"], generator=torch.Generator().manual_seed(0)), 0)
    corners = img[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.mean() < -0.5                     # background is dark (real: -1)
    assert img[:, 0, 1:3, 1:3].mean() > corners.mean() + 0.3  # brighter brain in the middle


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="power of two"):
        train_tiny(tmp_path / "a", steps=1, image_size=48)
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        train_tiny(tmp_path / "b", steps=1, batch_size=1)
    assert list_checkpoints(tmp_path / "a") == []
