"""LabelMapSampler (the public sampling API), the Z-score cleaning of maps and 'pggan sample'."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from pggan_helpers import REPO_ROOT, make_small_case, train_tiny

from napari_medsynth.cli import main
from napari_medsynth.io import read_volume
from napari_medsynth.pggan.cleaning import filter_label_maps, real_label_maps, report_dict, scaled_threshold
from napari_medsynth.pggan.figures import colorize, contact_sheet
from napari_medsynth.pggan.sample import LabelMapSampler
from napari_medsynth.train import latest_checkpoint
from napari_medsynth.train.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_small_case(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, case):
    out = tmp_path_factory.mktemp("pggan")
    train_tiny(out, steps=12, data=case)
    return latest_checkpoint(out)


def test_sampler_contract(tiny_checkpoint):
    s = LabelMapSampler.load(tiny_checkpoint)
    assert s.size == 16 and len(s.sha256) == 64
    maps = s.sample(6, seed=3)
    assert maps.shape == (6, 16, 16) and maps.dtype == np.uint8 and maps.max() <= 6
    assert np.array_equal(maps, s.sample(6, seed=3))              # deterministic
    assert np.array_equal(maps[:2], s.sample(2, seed=3))          # prefix of a longer draw
    assert not np.array_equal(maps, s.sample(6, seed=4))
    big = s.sample(6, seed=3, size=64)
    assert big.shape == (6, 64, 64) and big.dtype == np.uint8 and big.max() <= 6
    # logits upsampled, not labels: the same classes where a native pixel sits ...
    assert np.mean(big[:, 1::4, 1::4] == maps) > 0.9
    # ... but boundaries that do not follow the native 4 x 4 blocks (no staircases)
    blocky = np.repeat(np.repeat(maps, 4, 1), 4, 2)
    assert 0 < np.mean(big != blocky) < 0.3


def test_sampler_refuses_bad_input(tiny_checkpoint, tmp_path):
    s = LabelMapSampler.load(tiny_checkpoint)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="number of maps"):
            s.sample(bad, seed=0)
    with pytest.raises(ValueError, match="seed"):
        s.sample(1, seed=-1)
    with pytest.raises(ValueError, match="size"):
        s.sample(1, seed=0, size=3)
    with pytest.raises(CheckpointError, match="not found"):
        LabelMapSampler.load(tmp_path / "missing.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pt: not a PyTorch checkpoint .the file is empty, truncated"):
        LabelMapSampler.load(cut)


def test_sampler_refuses_a_checkpoint_of_another_recipe(tmp_path, case):
    train_tiny(tmp_path / "mr", steps=1, recipe="pggan-mr", data=case)
    with pytest.raises(CheckpointError, match="trained with recipe 'pggan-mr'"):
        LabelMapSampler.load(latest_checkpoint(tmp_path / "mr"))


def test_shipped_checkpoint_is_the_default():
    s = LabelMapSampler.load()
    assert s.size == 128 and s.alpha == 1.0   # grown to 128 px and faded in
    card = json.loads((REPO_ROOT / "models" / "pggan-labels.json").read_text())
    assert card["recipe"] == "pggan-labels" and card["checkpoint_sha256"] == s.sha256
    maps = s.sample(32, seed=0)
    counts = np.bincount(maps.ravel(), minlength=7)
    assert counts[0] > counts[1:].sum() * 0.5 and counts[4:].min() > 0   # background and all tissues


def test_zscore_cleaning_keeps_real_maps_and_drops_misplaced_ones(case):
    real = real_label_maps(case, 32)
    assert real.dtype == np.uint8 and real.shape[1:] == (32, 32) and len(real) == 41
    odd = real[:4].copy()
    odd[:, :8, :8] = 6                     # tissue in a corner no real slice has
    maps = np.concatenate([real[10:14], odd])
    report = filter_label_maps(maps, real, threshold=500, method="paper")
    assert report.threshold == pytest.approx(scaled_threshold(500, 32)) == pytest.approx(62.5)
    assert report.keep.tolist() == [True] * 4 + [False] * 4
    assert report.real_fraction_over == 0.0
    with pytest.raises(ValueError, match="compare at one size"):
        filter_label_maps(maps[:, :16, :16], real)
    with pytest.raises(ValueError, match="positive"):
        filter_label_maps(maps, real, threshold=0)
    with pytest.raises(ValueError, match="unknown filter method"):
        filter_label_maps(maps, real, method="median")


def test_size_matched_cleaning_keeps_real_maps_of_every_size_and_drops_misplaced_ones(case):
    real = real_label_maps(case, 32)
    odd = real[10:14].copy()
    odd[:, :8, :8] = 6
    maps = np.concatenate([real[10:14], real[30:34], odd])
    report = filter_label_maps(maps, real)            # default: size-matched, 99 % of real maps kept
    d = report_dict(report)
    assert d["method"] == "size-matched" and d["threshold_256"] is None and d["real_quantile"] == 0.99
    assert report.keep.tolist() == [True] * 8 + [False] * 4
    assert d["real_fraction_over_threshold"] <= 0.03
    assert sum(r["n"] for r in d["kept_by_brain_size"]) == 12
    assert sum(r["n"] for r in d["real_kept_by_brain_size"]) == len(real) == 41


def test_colors_follow_complete7():
    rgb = colorize(np.array([[0, 1, 2, 3, 4, 5, 6]]))
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 4].tolist() == [240, 240, 240]
    assert contact_sheet(np.zeros((5, 8, 8), np.uint8), columns=3, marked=[1]).shape == (2 * 10 + 2, 3 * 10 + 2, 3)
    with pytest.raises(ValueError, match="classes 0..6"):
        colorize(np.array([[7]]))


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "pggan", "sample", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)


def test_cli_sample_writes_maps_summary_and_overview(tiny_checkpoint, tmp_path, case):
    out = tmp_path / "maps"
    r = _cli("--n", 12, "--out", out, "--checkpoint", tiny_checkpoint, "--reference", case, "--size", 32,
             "--seed", 7, "--filter-method", "paper", "--threshold", 100000)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    f = summary["filter"]
    assert summary["native_size"] == 16 and summary["size"] == 32 and summary["n_drawn"] == 12
    assert f["n_kept"] + f["n_discarded"] == 12 and summary["n_written"] == f["n_kept"]
    assert f["threshold_applied"] == 12500.0 and f["real_maps"] == 41
    assert f["n_kept"] >= 3 and f["real_fraction_over_threshold"] == 0.0
    files = sorted(p.name for p in out.glob("*_labels7.nii.gz"))
    assert files == sorted(summary["files"])
    kept = [i for i in range(12) if i not in f["discarded_indices"]]
    assert files == [f"pggan_{i:05d}_labels7.nii.gz" for i in kept]
    expected = LabelMapSampler.load(tiny_checkpoint).sample(12, seed=7, size=32)
    for i in kept[:3]:
        vol = read_volume(out / f"pggan_{i:05d}_labels7.nii.gz")
        assert vol.kind == "labels" and vol.data.shape == (1, 32, 32) and vol.spacing == (8.0, 8.0, 8.0)
        assert np.array_equal(vol.data[0], expected[i])
    assert (out / "overview.png").stat().st_size > 100


def test_cli_size_matched_filter_is_the_default_and_reports_pass_rates_by_brain_size(tiny_checkpoint, tmp_path,
                                                                                     case, capsys):
    out = tmp_path / "maps"
    assert main(["pggan", "sample", "--n", "8", "--out", str(out), "--checkpoint", str(tiny_checkpoint),
                 "--reference", str(case), "--size", "32", "--real-quantile", "0.9"]) == 0
    f = json.loads((out / "summary.json").read_text())["filter"]
    assert f["method"] == "size-matched" and f["real_quantile"] == 0.9 and f["real_maps"] == 41
    assert 0.05 <= f["real_fraction_over_threshold"] <= 0.15
    assert sum(r["n"] for r in f["kept_by_brain_size"]) == 8
    assert "of their size" in capsys.readouterr().err
    base = ["pggan", "sample", "--n", "2", "--out", str(tmp_path / "x"), "--checkpoint", str(tiny_checkpoint)]
    for extra, message in ((["--filter-method", "paper", "--real-quantile", "0.9"], "size-matched filter"),
                           (["--real-quantile", "0.9", "--threshold", "2"], "not both"),
                           (["--real-quantile", "1.5"], "at most 1")):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err


def test_cli_refuses_to_overwrite_and_writes_all_without_filter(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "maps"
    args = ["pggan", "sample", "--n", "3", "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--no-filter",
            "--size", "16"]
    assert main(args) == 0
    assert main(args) == 2
    assert "already holds sampled maps" in capsys.readouterr().err
    assert main(args[:3] + ["2"] + args[4:] + ["--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*_labels7.nii.gz")) == ["pggan_00000_labels7.nii.gz",
                                                                    "pggan_00001_labels7.nii.gz"]
    assert json.loads((out / "summary.json").read_text())["filter"] is None


def test_cli_bad_input_is_one_line_error(tmp_path, capsys):
    assert main(["pggan", "sample", "--n", "2", "--out", str(tmp_path / "o"), "--checkpoint",
                 str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert "nope.pt not found" in err and len(err.strip().splitlines()) == 1
    assert main(["pggan", "sample", "--n", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err


# --- MR slices (Han et al.): one model per class --------------------------------------------------
@pytest.fixture(scope="module")
def mr_checkpoints(tmp_path_factory, case):
    from napari_medsynth.train.events import StartEvent

    root = tmp_path_factory.mktemp("pggan-mr")
    runs = {}
    for klass in ("tumor", "non-tumor"):
        started = []
        train_tiny(root / klass, steps=12, recipe="pggan-mr", data=case, slices=klass,
                   listeners=[lambda e, log=started: log.append(e) if isinstance(e, StartEvent) else None])
        runs[klass] = (latest_checkpoint(root / klass), started[0])
    return runs


def test_mr_models_train_on_their_class_of_slices(mr_checkpoints, case):
    from napari_medsynth.data.paired import PairedSliceDataset

    every = PairedSliceDataset(case.parent, 16)
    tumor_slices = int(np.isin(every.labels, (1, 2, 3)).any(axis=(1, 2)).sum())
    assert 0 < tumor_slices < len(every)
    seen = {k: start.n_images for k, (_, start) in mr_checkpoints.items()}
    assert seen == {"tumor": tumor_slices, "non-tumor": len(every) - tumor_slices}
    assert "only slices with classes 1, 2, 3" in mr_checkpoints["tumor"][1].data
    assert "only slices without classes 1, 2, 3" in mr_checkpoints["non-tumor"][1].data


def test_mr_sampler_contract(mr_checkpoints, tiny_checkpoint):
    from napari_medsynth.pggan.sample import MRSliceSampler

    s = MRSliceSampler.load(mr_checkpoints["tumor"][0])
    assert s.slices == "tumor" and s.size == 16
    images = s.sample(5, seed=2)
    assert images.shape == (5, 16, 16) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0
    np.testing.assert_array_equal(images, s.sample(5, seed=2))
    assert s.sample(2, seed=2, size=32).shape == (2, 32, 32)
    with pytest.raises(CheckpointError, match="trained with recipe 'pggan-labels'"):
        MRSliceSampler.load(tiny_checkpoint)


def test_cli_samples_mr_slices_with_sidecars(mr_checkpoints, tmp_path, capsys):
    ckpt = mr_checkpoints["non-tumor"][0]
    out = tmp_path / "mr"
    assert main(["pggan", "sample", "--kind", "mr", "--class", "non-tumor", "--checkpoint", str(ckpt), "--n", "3",
                 "--out", str(out), "--seed", "4", "--threads", "1"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["overview.png", "pggan_mr_00000.json", "pggan_mr_00000.npy", "pggan_mr_00001.json",
                     "pggan_mr_00001.npy", "pggan_mr_00002.json", "pggan_mr_00002.npy", "summary.json"]
    image = np.load(out / "pggan_mr_00001.npy")
    assert image.shape == (16, 16) and 0 <= image.min() and image.max() <= 1  # native size by default
    side = json.loads((out / "pggan_mr_00001.json").read_text())
    assert side["class"] == "non-tumor" and side["seed"] == 4 and side["index"] == 1
    assert len(side["checkpoint_sha256"]) == 64
    assert json.loads((out / "summary.json").read_text())["n_written"] == 3
    # the other class's model is refused for --class, and filter options are for label maps only
    assert main(["pggan", "sample", "--kind", "mr", "--class", "tumor", "--checkpoint", str(ckpt), "--n", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert "learnt 'non-tumor' slices, not 'tumor'" in capsys.readouterr().err
    assert main(["pggan", "sample", "--kind", "mr", "--checkpoint", str(ckpt), "--n", "1", "--threshold", "3",
                 "--out", str(tmp_path / "y")]) == 2
    assert "for label maps" in capsys.readouterr().err
    assert main(["pggan", "sample", "--kind", "mr", "--n", "1", "--out", str(tmp_path / "z")]) == 2
    assert "no shipped checkpoint named 'pggan-mr-tumor'" in capsys.readouterr().err
