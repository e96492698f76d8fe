"""LMS-GAN: the recipe trains through the engine and ShapeModel serves its checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sage_helpers import make_crop_dataset

from napari_medsynth.sage.lmsgan_recipe import is_noise_step
from napari_medsynth.sage.shape_metrics import (
    iou_matrix,
    leave_one_group_out_nearest_iou,
    mean_pairwise_iou,
    nearest_real_iou,
)
from napari_medsynth.sage.shapes import ShapeModel
from napari_medsynth.train import CheckpointError, DatasetError, StepEvent, Trainer, TrainSettings

torch.set_num_threads(1)
TINY = {"batch_size": 8, "z_dim": 8, "hidden": 64, "width": 4, "preview_count": 4, "image_size": 32}


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    return make_crop_dataset(tmp_path_factory.mktemp("crops"), n_patients=2, crops_per_patient=8, size=32)


def train(data, out, steps, **overrides):
    losses = {}
    trainer = Trainer("sage-lmsgan", TrainSettings(str(data), str(out), steps=steps, checkpoint_every=steps,
                                                   preview_every=0, device="cpu", seed=1),
                      overrides={**TINY, **overrides})
    trainer.add_listener(lambda e: losses.__setitem__(e.step, e.losses) if isinstance(e, StepEvent) else None)
    done = trainer.run()
    assert done.reason == "finished", done.error
    return done.checkpoint, losses


def test_indicator_mixes_both_kinds_of_step_reproducibly():
    draws = [is_noise_step(3, s, 0.3) for s in range(2000)]
    assert 0.25 < np.mean(draws) < 0.35
    assert draws == [is_noise_step(3, s, 0.3) for s in range(2000)]
    assert not any(is_noise_step(3, s, 0.0) for s in range(200))
    assert all(is_noise_step(3, s, 1.0) for s in range(200))


def test_reconstruction_loss_falls_and_checkpoint_serves_the_api(crops, tmp_path):
    ckpt, losses = train(crops, tmp_path / "run", 80, noise_fraction=0.25, lr=2e-3, warmup_steps=20)
    mse = [losses[s]["loss_mse"] for s in sorted(losses) if not np.isnan(losses[s]["loss_mse"])]
    assert np.mean(mse[-10:]) < 0.6 * np.mean(mse[:5])
    assert not any(losses[s]["noise_step"] for s in range(1, 21))  # warm-up: reconstruction only
    assert any(losses[s]["noise_step"] for s in losses)

    model = ShapeModel.load(ckpt)
    assert model.size == 32 and len(model.sha256) == 64
    a, b = model.sample(5), model.sample(5)
    assert a.dtype == bool and a.shape == (32, 32) and np.array_equal(a, b)
    assert not np.array_equal(model.noise(5), model.noise(6))

    from napari_medsynth.sage.dataset import CropDataset
    real = CropDataset.load(crops).btc
    rec = model.reconstruct(real[0])
    assert rec.shape == (32, 32) and rec.dtype == bool
    assert iou_matrix(rec[None], real[:1])[0, 0] > 0.5  # the encoder-decoder kept the shape
    mid = model.interpolate(real[0], real[9], 0.5)
    assert mid.shape == (32, 32)
    assert np.array_equal(model.interpolate(real[0], real[9], 0.0), rec)


def test_bad_inputs_are_explained(crops, tmp_path):
    ckpt, _ = train(crops, tmp_path / "run", 2)
    model = ShapeModel.load(ckpt)
    with pytest.raises(ValueError, match="32x32 binary tumor crop"):
        model.reconstruct(np.ones((64, 64)))
    with pytest.raises(ValueError, match="empty"):
        model.reconstruct(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        model.interpolate(np.ones((32, 32)), np.ones((32, 32)), 1.5)
    with pytest.raises(CheckpointError, match="not found"):
        ShapeModel.load(tmp_path / "missing.pt")


def test_checkpoint_of_another_recipe_is_refused(tmp_path):
    from sage_helpers import make_crop_dataset as mk
    data = mk(tmp_path / "crops64", n_patients=1, crops_per_patient=4)
    trainer = Trainer("sage-dcgan", TrainSettings(str(data), str(tmp_path / "dc"), steps=1, checkpoint_every=1,
                                                  preview_every=0, device="cpu"),
                      overrides={"width": 4, "z_dim": 8, "batch_size": 2})
    ckpt = trainer.run().checkpoint
    with pytest.raises(CheckpointError, match="not a shape model"):
        ShapeModel.load(ckpt)


def test_dataset_errors_name_the_problem(crops, tmp_path):
    with pytest.raises(DatasetError, match="32x32 crops.*64x64"):
        train(crops, tmp_path / "a", 1, image_size=64)
    with pytest.raises(DatasetError, match="unknown patient id"):
        train(crops, tmp_path / "b", 1, patients="P0,NOPE")
    with pytest.raises(DatasetError, match="not a tumor-crop dataset"):
        train(tmp_path, tmp_path / "c", 1)


def test_shape_metrics_detect_copies_and_collapse():
    rng = np.random.default_rng(0)
    real = rng.random((6, 16, 16)) > 0.5
    assert np.allclose(nearest_real_iou(real, real), 1.0)
    assert np.allclose(nearest_real_iou(np.rot90(real, 1, axes=(1, 2)), real), 1.0)  # rotated copies too
    assert nearest_real_iou(rng.random((6, 16, 16)) > 0.5, real).max() < 0.6
    collapsed = np.repeat(real[:1], 5, axis=0)
    assert mean_pairwise_iou(collapsed) == 1.0
    assert mean_pairwise_iou(real) < 0.5
    loo = leave_one_group_out_nearest_iou(np.concatenate([real, real]), [0] * 6 + [1] * 6)
    assert np.allclose(loo, 1.0)  # each patient's shapes reappear in the other group
    with pytest.raises(ValueError, match="two groups"):
        leave_one_group_out_nearest_iou(real, [0] * 6)


def test_shipped_shape_model_is_diverse():
    model = ShapeModel.load()
    assert model.size == 64
    masks = np.stack([model.sample(s) for s in range(24)])
    areas = masks.reshape(24, -1).mean(1)
    assert (areas > 0.05).all() and (areas < 0.95).all()
    assert mean_pairwise_iou(masks) < 0.85
