"""One way to open a trained model: bounds before building, shapes before allocating, exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY, make_dataset, settings

from napari_medsynth.pggan.sample import LabelMapSampler
from napari_medsynth.sage.baselines import TumorCropGAN
from napari_medsynth.sage.shapes import ShapeModel
from napari_medsynth.spade import SpadeRenderer
from napari_medsynth.train import CheckpointError, Trainer, get_recipe, list_recipes, load_checkpoint
from napari_medsynth.train.checkpoint import model_card, save_checkpoint
from napari_medsynth.train.recipe import config_fields, config_from_dict
from napari_medsynth.train.trained import export_checkpoint, open_trained

#: Settings inside every bound that describe networks of hundreds of GB (the weights in the
#: crafted file are a few bytes).
HUGE = {
    "spade": (SpadeRenderer.load, {"image_size": 1024, "channels": "2048,2048,2048,2048,2048,2048,2048,2048",
                                   "spade_hidden": 1024}),
    "pggan-labels": (LabelMapSampler.load, {"image_size": 1024, "width": 1024, "max_width": 2048, "z_dim": 4096}),
    "sage-lmsgan": (ShapeModel.load, {"image_size": 128, "hidden": 16384, "z_dim": 4096, "width": 1024}),
    "sage-dcgan": (TumorCropGAN.load, {"image_size": 256, "width": 1024, "z_dim": 4096}),
}


def crafted(path, recipe: str, config: dict):
    """A well-formed checkpoint file whose config says one thing and whose weights are tiny."""
    tiny = {"weight": torch.zeros(2, 2)}
    nets = {"G": tiny, "E": tiny}
    payload = {"recipe": recipe, "config": config, "step": 1, "seed": 0,
               "model": {"networks": nets, "optimizers": {}, "extra": {}}}
    save_checkpoint(path, payload, model_card(payload))
    return path


@pytest.mark.parametrize("recipe", sorted(HUGE))
def test_a_config_asking_for_huge_networks_is_refused_without_allocating(recipe, tmp_path, monkeypatch):
    load, config = HUGE[recipe]
    path = crafted(tmp_path / "crafted.pt", recipe, config)
    built_on = []
    cls = get_recipe(recipe)
    original = cls.build_network.__func__

    def spy(klass, name, c):
        built_on.append(torch.empty(0).device.type)  # the device new tensors would go to
        return original(klass, name, c)

    monkeypatch.setattr(cls, "build_network", classmethod(spy))
    with pytest.raises(CheckpointError, match=r"crafted\.pt: the \w+ weights do not fit its configuration"):
        load(path)
    assert built_on and set(built_on) == {"meta"}  # only skeletons that allocate nothing were built


@pytest.mark.parametrize("setting", [{"image_size": 2 ** 20}, {"width": 10 ** 9}, {"z_dim": -1},
                                     {"lr": float("nan")}, {"width": "8; rm -rf /"}, {"width": [8]}])
def test_values_outside_sane_bounds_are_refused_before_any_network(setting, tmp_path, monkeypatch):
    path = crafted(tmp_path / "crafted.pt", "sage-dcgan", setting)
    cls = get_recipe("sage-dcgan")
    monkeypatch.setattr(cls, "build_network", classmethod(lambda *a: pytest.fail("a network was built")))
    with pytest.raises(CheckpointError, match=r"crafted\.pt: refused: its configuration .*" + next(iter(setting))):
        TumorCropGAN.load(path)


def test_every_number_of_every_recipe_config_has_bounds_and_defaults_pass_them():
    for name in list_recipes():
        cls = get_recipe(name).config_class
        unbounded = [k for k, kind, _ in config_fields(cls) if kind in (int, float) and cls.range_of(k) is None]
        assert not unbounded, f"{name}: {unbounded}"
        config_from_dict(cls, {})  # the defaults are inside their own bounds


def test_wrong_recipe_is_named(tmp_path):
    path = crafted(tmp_path / "x.pt", "sage-dcgan", {})
    with pytest.raises(CheckpointError, match="x.pt was trained with recipe 'sage-dcgan', not a shape model"):
        ShapeModel.load(path)


def test_export_keeps_only_inference_weights_and_opens_identically(tmp_path):
    data = make_dataset(tmp_path / "data")
    done = Trainer("dcgan", settings(data, tmp_path / "run", steps=2, checkpoint_every=2), TINY).run()
    full = load_checkpoint(done.checkpoint)
    out, card_path = export_checkpoint(done.checkpoint, tmp_path / "shipped" / "dcgan.pt", {"note": "test"})
    small = load_checkpoint(out)
    assert small["inference_only"] and set(small["model"]["networks"]) == {"G"}
    assert small["model"]["optimizers"] == {} and "rng" not in small and "sampler" not in small
    assert out.stat().st_size < 0.5 * Path(done.checkpoint).stat().st_size
    card = json.loads(card_path.read_text())
    assert card["note"] == "test" and card["exported_from"]["checkpoint"] == "step_00000002.pt"
    assert card["checkpoint_sha256"] == open_trained(out, "dcgan").sha256
    assert card["dataset"]["n_images"] == full["dataset"]["n_images"]  # the training record stays

    z = torch.randn(3, TINY["z_dim"], generator=torch.Generator().manual_seed(0))
    g_full = open_trained(done.checkpoint, "dcgan").network("G")
    g_small = open_trained(out, "dcgan").network("G")
    with torch.no_grad():
        np.testing.assert_array_equal(g_full(z).numpy(), g_small(z).numpy())

    with pytest.raises(CheckpointError, match="already an inference-only export"):
        export_checkpoint(out, tmp_path / "again.pt")
    (tmp_path / "resume" / "checkpoints").mkdir(parents=True)
    (tmp_path / "resume" / "checkpoints" / "step_00000002.pt").write_bytes(out.read_bytes())
    with pytest.raises(CheckpointError, match="inference-only export"):
        Trainer("dcgan", settings(data, tmp_path / "resume", steps=4, resume=True), TINY).run()
