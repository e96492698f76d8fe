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
