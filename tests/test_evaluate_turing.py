"""Machine Turing test: a fresh CNN trained through the Trainer tells different sets apart and
does not tell two halves of one set apart."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_medsynth.evaluate import EvaluationError, machine_turing_test
from napari_medsynth.train.checkpoint import latest_checkpoint


def _normalise(stack):
    stack = stack - stack.mean(axis=(1, 2), keepdims=True)
    return (stack / stack.std(axis=(1, 2), keepdims=True) * 0.4).astype(np.float32)


def smooth_images(n, side=40, seed=0):
    rng = np.random.default_rng(seed)
    return _normalise(np.stack([gaussian_filter(rng.normal(size=(side, side)), 3) for _ in range(n)]))


def noisy_images(n, side=40, seed=1):
    rng = np.random.default_rng(seed)
    return _normalise(rng.normal(size=(n, side, side)))


def test_clearly_different_sets_are_told_apart(tmp_path):
    calls = []
    result = machine_turing_test(smooth_images(40), noisy_images(40), patch=32, steps=40, seed=0, threads=1,
                                 work_dir=tmp_path, progress=lambda d, t, m: calls.append((d, t)))
    assert result.statistics.n == 24  # 30 % of 40 held out from each set, balanced
    assert result.accuracy >= 0.9
    assert result.statistics.distinguishable and result.p_value < 0.01
    assert result.ci_low <= result.accuracy <= result.ci_high
    assert calls[-1] == (40, 40) and len(calls) == 40
    assert latest_checkpoint(tmp_path / "run") is not None  # trained through the Trainer
    assert result.to_dict()["statistics"]["distinguishable"] is True


def test_two_halves_of_one_set_are_indistinguishable():
    images = smooth_images(96, seed=5)
    result = machine_turing_test(images[:48], images[48:], patch=32, steps=40, seed=0, threads=1)
    assert result.statistics.n == 28
    assert abs(result.accuracy - 0.5) < 0.2
    assert not result.statistics.distinguishable
    assert result.ci_low < 0.5 < result.ci_high


def test_patient_groups_are_never_split(tmp_path):
    real, fake = smooth_images(20), noisy_images(20)
    groups = np.repeat(np.arange(5), 4)  # five patients with four slices each
    result = machine_turing_test(real, fake, patch=32, steps=2, seed=3, threads=1, real_groups=groups,
                                 fake_groups=groups)
    # round(0.3 * 5) = 2 patients held out per set -> 8 test images from each side
    assert result.statistics.n == 16 and result.n_train_real == 12 and result.n_train_fake == 12


def test_a_chosen_patient_is_the_test_set(tmp_path):
    real, fake = smooth_images(20), noisy_images(20)
    groups = np.repeat(np.arange(5), 4)
    result = machine_turing_test(real, fake, patch=32, steps=1, seed=3, threads=1, real_groups=groups,
                                 fake_groups=groups, test_groups=[4])
    assert result.statistics.n == 8 and result.n_train_real == 16 and result.n_train_fake == 16
    with pytest.raises(EvaluationError, match="some but not all"):
        machine_turing_test(real, fake, patch=32, steps=1, real_groups=groups, fake_groups=groups,
                            test_groups=[9])


@pytest.mark.parametrize("kwargs, message", [
    ({"fake": np.zeros((10, 32, 40), np.float32)}, "resize both"),
    ({"patch": 64}, "patch must lie between"),
    ({"fake": np.full((10, 40, 40), np.nan, np.float32)}, "NaN"),
    ({"fake": np.zeros((2, 40, 40), np.float32)}, "at least 4"),
    ({"holdout": 1.5}, "holdout"),
])
def test_bad_input_is_explained(kwargs, message):
    args = {"real": smooth_images(10), "fake": noisy_images(10), "patch": 32, "steps": 1, **kwargs}
    with pytest.raises(EvaluationError, match=message):
        machine_turing_test(**args)


def brain_slices(n, texture, side=96, seed=0):
    """Skull-stripped-like slices: a textured disc (radius 20) on exact zero air, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    out = np.zeros((n, side, side), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(40, 56, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 20 ** 2
        noise = rng.normal(size=(side, side))
        tex = gaussian_filter(noise, 2.5) * 6 if texture == "smooth" else noise * 0.6
        out[i] = np.where(disc, np.clip(0.2 + 0.3 * tex, -0.9, 0.9), 0.0)
    return out


def test_slices_in_air_are_told_apart_from_crops_on_the_brain():
    # 32 px crops of 96 px slices: most random crops and all corner crops are air, the same in
    # both sets; the test must look at the brain.
    real, fake = brain_slices(40, "noisy", seed=1), brain_slices(40, "smooth", seed=2)
    result = machine_turing_test(real, fake, patch=32, steps=60, seed=0, threads=1)
    assert result.accuracy >= 0.85 and result.auc >= 0.9
    assert 0.2 <= result.called_real <= 0.8
    d = result.to_dict()
    assert d["auc"] == pytest.approx(result.auc, abs=1e-4) and "called_real" in d


def test_auc_ranks_without_the_threshold():
    from napari_medsynth.evaluate.turing import TuringResult
    from napari_medsynth.metrics.c2st import c2st_statistics

    # every test image scored above 0.5 (accuracy 0.5), but real above synthetic: AUC 1
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.52])
    truth = np.array([1, 1, 1, 0, 0, 0], np.int8)
    r = TuringResult(c2st_statistics(p, truth), 10, 10, 5, 32, p, truth)
    assert r.accuracy == 0.5 and r.auc == 1.0 and r.called_real == 1.0
    tied = TuringResult(c2st_statistics(np.full(4, 0.5), truth[1:5]), 1, 1, 1, 32, np.full(4, 0.5), truth[1:5])
    assert tied.auc == 0.5


def test_training_crops_are_redrawn_until_they_show_the_brain(tmp_path):
    from napari_medsynth.train.arrays import ArrayDataset, write_array_dataset

    images = brain_slices(4, "noisy", seed=3)
    write_array_dataset(tmp_path, images, np.zeros(4, np.int64))

    def foreground(ds):
        rng = np.random.default_rng(0)
        return np.array([(ds.sample(i % 4, rng)[0] != 0).mean() for i in range(200)])

    anywhere = foreground(ArrayDataset(tmp_path, 32))
    on_brain = foreground(ArrayDataset(tmp_path, 32, min_foreground=0.5))
    assert (anywhere < 0.5).mean() > 0.5          # most random 32 px crops of these slices are air
    assert (on_brain >= 0.5).mean() > 0.95
    with pytest.raises(Exception, match="min_foreground"):
        ArrayDataset(tmp_path, 32, min_foreground=1.5)


def test_foreground_crops_score_the_brain_not_the_air():
    import torch

    from napari_medsynth.evaluate import predict_crops

    class MeanBrightness(torch.nn.Module):
        def forward(self, x):  # logit of class 1 grows with the crop's mean
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([torch.zeros_like(m), 10 * m], 1)

    side, size = 96, 32
    img = np.zeros((2, side, side), np.float32)
    img[0, 32:64, 32:64] = 1.0      # a bright brain in the middle, air around it
    net = MeanBrightness()
    five = predict_crops(net, img, size, crops="five")[:, 1]
    brain = predict_crops(net, img, size, crops="foreground")[:, 1]
    # grid of 32 px crops at stride 16: the one on the brain (mean 1) and the four half on it (mean
    # 0.5) reach 50 % foreground; the others are averaged out
    def sig(v):
        return float(torch.sigmoid(torch.tensor(v)))

    assert brain[0] == pytest.approx((sig(10.0) + 4 * sig(5.0)) / 5, abs=1e-5)
    assert five[0] < brain[0] - 0.3                     # four air corners pull "five" to 0.5
    assert brain[1] == pytest.approx(0.5)               # all air: the crop with most foreground (none) still scores
    with pytest.raises(ValueError, match="crops must be"):
        predict_crops(net, img, size, crops="corners")
