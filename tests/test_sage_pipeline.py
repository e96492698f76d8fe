"""SAGE generation: specs, sidecars, batches and exact regeneration from a sidecar."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sage_studio_helpers import STEPS, make_shape_checkpoint, make_small_dataset

from napari_medsynth.sage.batches import random_spec
from napari_medsynth.sage.dataset import CropDataset
from napari_medsynth.sage.pipeline import GenerationSpec, PhiSource, ProvenanceError, SageGenerator, ShapeSource
from napari_medsynth.sage.samples import generate_batch, regenerate, write_sample


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sage")
    data = make_small_dataset(root / "data", root / "work")
    ckpts = make_shape_checkpoint(data, root / "ckpt")
    return data, ckpts


def _specs(gen, n, seed=0, **kw):
    rng = np.random.default_rng(seed)
    out = [random_spec(gen.dataset, rng, **kw) for _ in range(n)]
    for s in out:
        s.texture_steps = STEPS
    return out


@pytest.mark.parametrize("mode", ["noise", "real", "interpolate"])
def test_generate_then_regenerate_is_bit_identical(setup, tmp_path, mode):
    data, ckpts = setup
    gen = SageGenerator.open(data, ckpts)
    [sidecar] = generate_batch(gen, _specs(gen, 1, seed=7, shape_mode=mode), tmp_path / "out")
    image = np.load(tmp_path / "out" / "sage_00000.npy")
    label = np.load(tmp_path / "out" / "sage_00000_label.npy")
    assert image.dtype == np.float32 and label.dtype == np.uint8 and label.any()
    regenerated, identical = regenerate(sidecar)  # a fresh generator: models and dataset reloaded
    assert identical
    np.testing.assert_array_equal(regenerated.image, image)
    np.testing.assert_array_equal(regenerated.label, label)
    assert regenerated.image.tobytes() == image.tobytes()


def test_sidecar_records_every_choice_and_input(setup, tmp_path):
    data, ckpts = setup
    gen = SageGenerator.open(data, ckpts)
    specs = _specs(gen, 2, seed=1, klass="mutated")
    paths = generate_batch(gen, specs, tmp_path, formats=("png", "nifti"))
    record = json.loads(paths[1].read_text())
    assert (record["patient"], record["class"], record["source"]) == ("synthetic", "mutated", "sage")
    assert GenerationSpec.from_dict(record["spec"]) == specs[1]
    assert len(record["checkpoints"]["shape"]["sha256"]) == 64 and record["checkpoints"]["texture"]["sha256"]
    assert record["dataset"]["manifest_sha256"] and record["dataset"]["phi_sha256"]
    for key in ("image", "label", "png", "nifti", "nifti_label"):
        assert (tmp_path / record["files"][key]).is_file()
    label = np.load(tmp_path / record["files"]["label"])
    assert record["result"]["size_rel"] == pytest.approx(label.sum() / gen.dataset.phi_mask[specs[1].phi.index].sum())
    # textures came from the asked class only
    ds = CropDataset.load(data)
    assert all(ds.crops[s.texture_index].klass == "mutated" for s in specs)
    # two samples from different draws differ
    assert not np.array_equal(np.load(tmp_path / "sage_00000.npy"), np.load(tmp_path / "sage_00001.npy"))


def test_the_tumor_lands_where_and_as_large_as_asked(setup):
    data, ckpts = setup
    gen = SageGenerator.open(data, ckpts)
    k = int(np.argmax(gen.dataset.phi_mask.sum(axis=(1, 2))))  # the largest brain section
    spec = GenerationSpec(ShapeSource("real", index=2), texture_index=3, texture_seed=5, phi=PhiSource(index=k),
                          centroid_rel=(0.4, 0.6), size_rel=0.03, orientation_deg=30.0, texture_steps=STEPS)
    out = gen.generate(spec)
    brain = gen.dataset.phi_mask[k].astype(bool)
    assert out.merge.size_rel == pytest.approx(0.03, rel=0.15)
    assert not out.merge.shifted, out.merge.notes
    rows, cols = np.nonzero(brain)
    rel = ((np.nonzero(out.label)[0].mean() + 0.5 - rows.min()) / (np.ptp(rows) + 1),
           (np.nonzero(out.label)[1].mean() + 0.5 - cols.min()) / (np.ptp(cols) + 1))
    assert rel == pytest.approx((0.4, 0.6), abs=0.02)
    assert not (out.label.astype(bool) & ~brain).any()


def test_a_different_checkpoint_or_dataset_is_refused(setup, tmp_path):
    data, ckpts = setup
    gen = SageGenerator.open(data, ckpts)
    [sidecar] = generate_batch(gen, _specs(gen, 1, seed=3), tmp_path / "out")
    record = json.loads(sidecar.read_text())
    record["checkpoints"]["shape"]["sha256"] = "0" * 64
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(record))
    with pytest.raises(ProvenanceError, match="shape \\(LMS-GAN\\) checkpoint .* was made with 000000000000"):
        regenerate(forged)
    # the dataset item it used changed
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    ds = CropDataset.load(copy)
    ds.tc[json.loads(sidecar.read_text())["spec"]["texture_index"]] *= 0.5
    ds.save()
    with pytest.raises(ProvenanceError, match="tumor crop .* is not the one this sample was made from"):
        regenerate(sidecar, dataset_dir=copy)
    with pytest.raises(ProvenanceError, match="not a SAGE sample sidecar"):
        bad = tmp_path / "other.json"
        bad.write_text("{}")
        regenerate(bad)


def test_volume_slices_from_any_file_and_bad_volumes(setup, tmp_path):
    from napari_medsynth._sample_data import sample_case_dir

    data, ckpts = setup
    gen = SageGenerator.open(data, ckpts)
    volume = sample_case_dir("MSYN-H01") / "MSYN-H01_t1ce.nii.gz"
    [spec] = _specs(gen, 1, seed=4, phi=PhiSource(volume=str(volume), slice=80))
    out = gen.generate(spec)
    assert out.image.shape == (240, 240) and out.label.any()
    path = write_sample(out, tmp_path, "vol")
    again, identical = regenerate(path)
    assert identical and np.array_equal(again.image, out.image)
    with pytest.raises(ValueError, match="shows no brain"):
        gen.generate(_specs(gen, 1, phi=PhiSource(volume=str(volume), slice=0))[0])
    with pytest.raises(ValueError, match="outside"):
        gen.generate(_specs(gen, 1, phi=PhiSource(volume=str(volume), slice=500))[0])
