"""Machine Turing test statistics on hand-computed examples."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from napari_medsynth.metrics import c2st_statistics


def _example(correct_real=30, correct_synth=30, n_each=50):
    """100 test images, 50 real and 50 synthetic; the classifier gets 60 right."""
    labels = np.array([1] * n_each + [0] * n_each)
    predictions = labels.copy()
    predictions[correct_real:n_each] = 0
    predictions[n_each + correct_synth:] = 1
    return predictions, labels


def test_hand_computed_accuracy_interval_and_p_value():
    predictions, labels = _example()
    r = c2st_statistics(predictions, labels)
    assert (r.n, r.correct, r.accuracy) == (100, 60, 0.6)
    # Wilson 95 % for 60/100: (0.6 + z^2/200 +- z sqrt(0.0024 + z^2/40000)) / (1 + z^2/100), z = 1.96
    assert r.ci_low == pytest.approx(0.5020, abs=1e-4)
    assert r.ci_high == pytest.approx(0.6906, abs=1e-4)
    # P(X >= 60), X ~ Binomial(100, 0.5), summed term by term
    assert r.p_value == pytest.approx(sum(comb(100, k) for k in range(60, 101)) / 2**100, rel=1e-9)
    assert r.p_value == pytest.approx(0.02844, abs=1e-5)
    assert r.distinguishable
    two = c2st_statistics(predictions, labels, alternative="two-sided")
    assert two.p_value == pytest.approx(2 * r.p_value, rel=1e-9) and not two.distinguishable


def test_chance_level_classifier_is_not_distinguishable():
    predictions, labels = _example(25, 25)
    r = c2st_statistics(predictions, labels)
    assert r.accuracy == 0.5 and r.p_value > 0.5 and not r.distinguishable
    assert r.ci_low < 0.5 < r.ci_high


def test_probabilities_are_thresholded_at_one_half():
    labels = np.array([1, 1, 0, 0])
    r = c2st_statistics([0.9, 0.5, 0.49, 0.1], labels)
    assert r.correct == 4
    assert c2st_statistics(np.array([True, False, False, True]), labels.astype(bool)).correct == 2


def test_unbalanced_test_set_warns():
    with pytest.warns(UserWarning, match="balance"):
        r = c2st_statistics(np.ones(10), np.array([1] * 8 + [0] * 2))
    assert r.majority_fraction == 0.8 and r.accuracy == 0.8


@pytest.mark.parametrize("predictions, labels, message", [
    ([1, 0], [1, 0, 1], "shape"),
    ([], [], "empty"),
    ([1, 0], [2, 0], "only 0"),
    ([1.5, 0], [1, 0], "probabilities"),
    ([np.nan, 0], [1, 0], "NaN"),
    ([[1, 0]], [[1, 0]], "1-D"),
])
def test_bad_input_is_refused_with_a_reason(predictions, labels, message):
    with pytest.raises(ValueError, match=message):
        c2st_statistics(predictions, labels)
