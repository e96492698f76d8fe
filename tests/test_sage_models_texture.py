"""TAN: per-sample texture synthesis matches the chosen texture (Eq. 3), with either extractor."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
import torch
from sage_helpers import blob_mask, textured

from napari_medsynth.sage.texture import TextureModel, gram_loss
from napari_medsynth.sage.texture_features import VGG19Features
from napari_medsynth.train import CheckpointError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(4)
    shape = blob_mask(rng, 64)
    source_mask = blob_mask(rng, 64)
    source = textured(source_mask, rng)
    yy, xx = np.mgrid[:64, :64]
    stripes = ((0.5 + 0.45 * np.sin(xx / 1.5)) * source_mask).astype(np.float32)  # an unrelated texture
    stripes[source_mask] = np.clip(stripes[source_mask], 0.02, 1)
    return shape, source, stripes


def test_texturize_matches_the_source_texture(crops):
    shape, source, stripes = crops
    model = TextureModel.load()
    start = model.texturize(shape, source, seed=1, steps=0)
    out = model.texturize(shape, source, seed=1, steps=60)
    loss_out, loss_start = gram_loss(out, source), gram_loss(start, source)
    assert loss_out < 0.2 * loss_start
    assert loss_out < 0.2 * gram_loss(stripes, source)
    # ... and it is the *chosen* texture that was matched: aimed at stripes it ends up near them.
    towards_stripes = model.texturize(shape, stripes, seed=1, steps=60)
    assert gram_loss(towards_stripes, stripes) < 0.5 * gram_loss(out, stripes)


def test_output_is_a_tumor_crop_and_deterministic(crops):
    shape, source, _ = crops
    model = TextureModel.load()
    seen = []
    out = model.texturize(shape, source, seed=3, steps=20, progress=lambda i, n, _m: seen.append((i, n)))
    assert out.dtype == np.float32 and out.shape == shape.shape
    assert (out[~shape] == 0).all() and (out[shape] > 0).all() and out.max() <= 1.0
    assert seen[-1] == (20, 20) and len(seen) == 20
    np.testing.assert_array_equal(out, model.texturize(shape, source, seed=3, steps=20))
    assert not np.array_equal(out, model.texturize(shape, source, seed=4, steps=20))
    # the grey levels inside approach the source's (the image itself is one of the features)
    assert abs(np.mean(out[shape]) - np.mean(source[source > 0])) < 0.05


def test_bad_inputs_are_explained(crops):
    shape, source, _ = crops
    model = TextureModel.load()
    with pytest.raises(ValueError, match="empty"):
        model.texturize(np.zeros_like(shape), source, seed=0)
    with pytest.raises(ValueError, match="same size"):
        model.texturize(shape, source[:32, :32], seed=0)
    with pytest.raises(ValueError, match="fewer than 16 non-zero"):
        model.texturize(shape, np.zeros_like(source), seed=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.texturize(shape, source * 255, seed=0)
    with pytest.raises(ValueError, match="2-D"):
        model.texturize(shape[None], source, seed=0)


def test_default_features_are_identified_by_their_hash():
    a, b = TextureModel.load(), TextureModel.load()
    assert a.sha256 == b.sha256 and len(a.sha256) == 64


def test_user_supplied_vgg19_weights(tmp_path, crops):
    shape, source, _ = crops
    torch.manual_seed(0)
    state = VGG19Features().state_dict()
    state = {k: v for k, v in state.items() if k.startswith("features.")}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision state dict has these too
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    model = TextureModel.load(path)
    assert model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(model.extractor(torch.rand(1, 1, 64, 64))) == 3  # relu3_1, relu4_1, relu5_1
    before = gram_loss(model.texturize(shape, source, seed=0, steps=0), source, model.extractor)
    after = gram_loss(model.texturize(shape, source, seed=0, steps=8), source, model.extractor)
    assert after < before

    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(CheckpointError, match="not torchvision VGG19 weights"):
        TextureModel.load(wrong)
    reshaped = dict(state, **{"features.0.weight": torch.zeros(64, 1, 3, 3)})
    torch.save(reshaped, wrong)
    with pytest.raises(CheckpointError, match="shape"):
        TextureModel.load(wrong)
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(VGG19Features))
    with pytest.raises(CheckpointError, match="weights only"):
        TextureModel.load(evil)
    with pytest.raises(CheckpointError, match="not found"):
        TextureModel.load(tmp_path / "nothing.pth")
