"""The pggan-labels / pggan-mr recipes train through the one Trainer, grow, learn and resume exactly."""

import numpy as np
import pytest
import torch
from pggan_helpers import make_small_case, train_tiny

from napari_medsynth.train import StepEvent, latest_checkpoint, load_checkpoint
from napari_medsynth.train.checkpoint import list_checkpoints


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_small_case(tmp_path_factory.mktemp("data"))


def _losses(events):
    return {e.step: e.losses for e in events if isinstance(e, StepEvent)}


def test_labels_recipe_grows_4_8_16_and_resumes_mid_fade_exactly(tmp_path, case):
    full, part = [], []
    train_tiny(data=case, out=tmp_path / "full", steps=12, listeners=[full.append])
    losses = _losses(full)
    res = [losses[s]["resolution"] for s in sorted(losses)]
    assert res[:2] == [4, 4] and res[2:6] == [8] * 4 and res[6:] == [16] * 6
    assert [round(losses[s]["alpha"], 3) for s in (3, 4, 7, 8)] == [0.0, 0.5, 0.0, 0.5]
    assert all(np.isfinite(v) for l in losses.values() for v in l.values())
    state = load_checkpoint(latest_checkpoint(tmp_path / "full"))
    extra = state["model"]["extra"]
    assert extra["images_seen"] == 48 and extra["level"] == 2 and extra["alpha"] == 1.0
    assert set(extra["g_ema"]) == set(state["model"]["networks"]["G"])

    # Stopped inside the 16 px fade-in, resumed: same level, alpha and losses as without a stop.
    train_tiny(data=case, out=tmp_path / "part", steps=7, listeners=[part.append])
    assert load_checkpoint(latest_checkpoint(tmp_path / "part"))["model"]["extra"]["alpha"] == 0.5
    train_tiny(data=case, out=tmp_path / "part", steps=12, listeners=[part.append], settings={"resume": True})
    resumed = _losses(part)
    for step in range(8, 13):
        assert resumed[step] == pytest.approx(losses[step], rel=1e-5), step


def _class_tv(maps, real):
    h = np.bincount(maps.ravel(), minlength=7) / maps.size
    r = np.bincount(real.ravel(), minlength=7) / real.size
    return 0.5 * np.abs(h - r).sum()


def test_labels_generator_learns_the_class_layout(tmp_path, case):
    """From random logits to maps with the real class mix, background at the edges and tissue in
    the middle, like the real 8x8 maps of the case, in 120 steps."""
    from napari_medsynth.data.paired import PairedSliceDataset
    from napari_medsynth.pggan.network import PGGANGenerator
    from napari_medsynth.pggan.sample import LabelMapSampler

    real = PairedSliceDataset(case, 8).labels
    untrained = LabelMapSampler(PGGANGenerator(8, 8, 7, 4, 8), level=1, alpha=1.0).sample(64, seed=1)
    assert _class_tv(untrained, real) > 0.4

    train_tiny(tmp_path / "learn", steps=120, data=case, image_size=8, batch_size=8, stable_kimg=0.2,
               fade_kimg=0.2, ema_kimg=0.05, lr=0.003)
    maps = LabelMapSampler.load(latest_checkpoint(tmp_path / "learn")).sample(64, seed=1)
    assert maps.shape == (64, 8, 8)
    assert _class_tv(maps, real) < 0.25
    border = np.concatenate([maps[:, 0], maps[:, -1], maps[:, :, 0], maps[:, :, -1]], axis=1)
    assert (border == 0).mean() > 0.75               # the edges are background (real: all)
    assert np.isin(maps[:, 3:5, 3:5], (4, 5, 6)).mean() > 0.6   # tissue in the middle (real: 0.8)


def test_mr_recipe_trains_and_moves_towards_the_data(tmp_path, case):
    """The MR mode (noise -> slice, Han et al.): its average image approaches the real average."""
    from napari_medsynth.data.paired import PairedSliceDataset
    from napari_medsynth.pggan.network import PGGANGenerator

    events = []
    train_tiny(tmp_path / "mr", steps=60, recipe="pggan-mr", data=case, image_size=8, batch_size=8,
               stable_kimg=0.2, fade_kimg=0.2, ema_kimg=0.05, lr=0.003, listeners=[events.append])
    assert all(np.isfinite(l["loss_d"]) for l in _losses(events).values())
    state = load_checkpoint(latest_checkpoint(tmp_path / "mr"))
    assert state["recipe"] == "pggan-mr" and state["model"]["extra"]["level"] == 1
    cfg = state["config"]
    real_mean = torch.from_numpy(PairedSliceDataset(case, 8).mr.mean(0))

    def mean_error(weights=None):
        torch.manual_seed(0)
        G = PGGANGenerator(cfg["z_dim"], cfg["image_size"], 1, cfg["width"], cfg["max_width"])
        if weights is not None:
            G.load_state_dict(weights)
        with torch.no_grad():
            img = G(torch.randn(64, cfg["z_dim"], generator=torch.Generator().manual_seed(0)), 1)
        return (img[:, 0].mean(0) - real_mean).abs().mean().item()

    before, after = mean_error(), mean_error(state["model"]["extra"]["g_ema"])
    assert after < 0.65 * before, (before, after)   # measured: 0.74 -> 0.40


def test_bad_settings_are_refused(tmp_path, case):
    with pytest.raises(ValueError, match="power of two"):
        train_tiny(data=case, out=tmp_path / "a", steps=1, image_size=48)
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        train_tiny(data=case, out=tmp_path / "b", steps=1, batch_size=1)
    assert list_checkpoints(tmp_path / "a") == []
