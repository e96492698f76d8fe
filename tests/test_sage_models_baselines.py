"""DC-GAN and WGAN-GP baselines on tumor crops, through the one training engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from sage_helpers import make_crop_dataset
from torch import nn
from train_helpers import REPO_ROOT

from napari_medsynth.networks.wgan_gp import gradient_penalty
from napari_medsynth.train import Trainer, TrainSettings, list_recipes, load_checkpoint

torch.set_num_threads(1)
TINY = {"batch_size": 4, "z_dim": 8, "width": 4, "preview_count": 2, "image_size": 32}


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    return make_crop_dataset(tmp_path_factory.mktemp("crops"), n_patients=2, crops_per_patient=4, size=32)


def settings(data, out, steps, **kw):
    return TrainSettings(str(data), str(out), steps=steps, checkpoint_every=kw.pop("every", steps), preview_every=0,
                         device="cpu", seed=2, **kw)


def test_recipes_are_registered():
    assert {"sage-lmsgan", "sage-dcgan", "sage-wgangp"} <= set(list_recipes())


def test_gradient_penalty_of_a_linear_critic():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))  # |grad| = 5 everywhere
    real, fake = torch.rand(6, 1, 2, 2), torch.rand(6, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)


def weights(checkpoint):
    """The generator's learnt parameters (batch-norm running statistics move on every forward)."""
    g = load_checkpoint(checkpoint)["model"]["networks"]["G"]
    return {k: v for k, v in g.items() if "running_" not in k and "num_batches" not in k}


def test_wgangp_updates_generator_every_n_critic_steps_and_resumes_exactly(crops, tmp_path):
    over = {**TINY, "n_critic": 3}
    full = Trainer("sage-wgangp", settings(crops, tmp_path / "full", 4), overrides=over).run()
    g_full = weights(full.checkpoint)

    first = Trainer("sage-wgangp", settings(crops, tmp_path / "part", 2), overrides=over).run()
    g2 = weights(first.checkpoint)
    init = Trainer("sage-wgangp", settings(crops, tmp_path / "zero", 1), overrides=over).run()
    g1 = weights(init.checkpoint)
    assert all(torch.equal(g1[k], g2[k]) for k in g1)  # no generator update before step 3
    resumed = Trainer("sage-wgangp", settings(crops, tmp_path / "part", 4, resume=True), overrides=over).run()
    g_res = load_checkpoint(resumed.checkpoint)["model"]["networks"]["G"]
    full_state = load_checkpoint(full.checkpoint)["model"]["networks"]["G"]
    assert all(torch.equal(full_state[k], g_res[k]) for k in full_state)  # bit-identical, buffers included
    assert not all(torch.equal(g_full[k], g2[k]) for k in g_full)  # step 3 moved the generator


def test_dcgan_baseline_trains_on_tumor_crops(crops, tmp_path):
    done = Trainer("sage-dcgan", settings(crops, tmp_path / "dc", 3), overrides=TINY).run()
    state = load_checkpoint(done.checkpoint)
    assert state["recipe"] == "sage-dcgan" and state["dataset"]["n_images"] == 8
    assert set(state["metrics"]) == {"loss_d", "loss_g"}


def test_cli_trains_lmsgan(crops, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "napari_medsynth.cli", "train", "sage-lmsgan", "--steps", "2", "--threads", "1",
           "--set", "image_size=32", "--set", "hidden=32", "--set", "width=4", "--set", "batch_size=4",
           "--data", str(crops), "--out", str(tmp_path / "run")]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000002.pt")
    assert state["recipe"] == "sage-lmsgan" and state["config"]["hidden"] == 32
