"""Inception Score: known extreme values, a hand-computed case, torchmetrics, module path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from napari_medsynth.metrics import BaselineIS, inception_score, inception_score_of, iterate_batches, real_baseline


def test_same_prediction_for_every_image_gives_one():
    probs = np.tile([0.7, 0.2, 0.1], (30, 1))
    mean, std = inception_score(probs)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == 0.0


@pytest.mark.parametrize("k", [2, 3, 5])
def test_confident_evenly_spread_predictions_give_number_of_classes(k):
    probs = np.eye(k)[np.arange(10 * k) % k]  # every split holds each class equally often
    assert inception_score(probs)[0] == pytest.approx(k)
    mean, std = inception_score(probs, splits=2)
    assert mean == pytest.approx(k) and std == pytest.approx(0.0, abs=1e-12)


def test_mixed_predictions_match_hand_computation():
    # image 1 sure of class 0, image 2 undecided: p(y) = (0.75, 0.25)
    # KL1 = ln(1/0.75); KL2 = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25)
    expected = math.exp((math.log(1 / 0.75) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)) / 2)
    mean, _ = inception_score([[1.0, 0.0], [0.5, 0.5]])
    assert mean == pytest.approx(expected, rel=1e-12)
    assert 1.0 < mean < 2.0


def test_logits_give_the_same_score_as_their_softmax():
    logits = np.random.default_rng(0).normal(scale=3, size=(40, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert inception_score(logits, splits=4, logits=True) == pytest.approx(inception_score(probs, splits=4))


def test_splits_are_contiguous_and_spread_is_reported():
    # first half always class 0 (IS 1), second half evenly spread (IS 2)
    probs = np.vstack([np.tile([1.0, 0.0], (10, 1)), np.eye(2)[np.arange(10) % 2]])
    mean, std = inception_score(probs, splits=2)
    assert mean == pytest.approx(1.5) and std == pytest.approx(0.5)


def test_matches_torchmetrics_on_the_same_logits():
    tm = pytest.importorskip("torchmetrics.image.inception")
    logits = np.random.default_rng(1).normal(scale=2, size=(64, 3))
    metric = tm.InceptionScore(feature=torch.nn.Identity(), splits=1)
    metric.update(torch.tensor(logits))
    expected = float(metric.compute()[0])
    assert inception_score(logits, logits=True)[0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("bad, splits, logits, message", [
    ([[0.5, np.nan]], 1, False, "NaN"),
    ([[0.5, 0.2]], 1, False, "sum to 1"),
    ([[-1.0, 2.0]], 1, False, "negative"),
    ([0.5, 0.5], 1, False, "2-D"),
    (np.zeros((0, 2)), 1, False, "empty"),
    ([[1.0], [1.0]], 1, False, "2 classes"),
    ([[0.5, 0.5]], 2, False, "exceed"),
    ([[0.5, 0.5]], 0, False, "positive"),
])
def test_bad_input_is_refused_with_a_reason(bad, splits, logits, message):
    with pytest.raises(ValueError, match=message):
        inception_score(bad, splits, logits=logits)


class _Brightness(torch.nn.Module):
    """Logits from image brightness: bright images -> class 1, dark -> class 0, very confidently."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(50.0))

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3)) - 0.5
        return torch.stack([-m, m], dim=1) * self.scale


def test_module_path_and_real_baseline():
    rng = np.random.default_rng(2)
    real = np.concatenate([rng.uniform(0.0, 0.2, (20, 8, 8)), rng.uniform(0.8, 1.0, (20, 8, 8))])
    collapsed = rng.uniform(0.8, 1.0, (40, 8, 8))  # a generator that only makes one class
    net = _Brightness().train()
    assert inception_score_of(net, iterate_batches(real, 7))[0] == pytest.approx(2.0, rel=1e-3)
    result = real_baseline(net, iterate_batches(real, 16), iterate_batches(collapsed, 16))
    assert isinstance(result, BaselineIS)
    assert result.real_mean == pytest.approx(2.0, rel=1e-3)
    assert result.synthetic_mean == pytest.approx(1.0, rel=1e-3)
    assert result.ratio == pytest.approx(0.5, rel=1e-3)
    assert net.training, "the module's training flag must be restored"
    assert real_baseline(net, iterate_batches(real)).ratio is None


def test_module_that_returns_feature_maps_is_refused():
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        inception_score_of(torch.nn.Identity(), iterate_batches(np.zeros((2, 4, 4))))
    with pytest.raises(ValueError, match="no images"):
        inception_score_of(torch.nn.Flatten(), iter([]))
