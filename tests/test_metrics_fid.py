"""Fréchet distance: zero on itself, grows with a shift, closed forms, torchmetrics, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from napari_medsynth.metrics import frechet_distance, frechet_distance_of, gaussian_frechet_distance, iterate_batches


def _features(n=500, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) @ np.diag([1.0, 2.0, 0.5, 1.5])


def test_a_set_against_itself_is_zero():
    f = _features()
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_grows_with_a_mean_shift():
    f = _features()
    g = _features(seed=1)
    values = [frechet_distance(f, g + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] < values[1] < values[2] < values[3]
    # a pure shift adds ||shift||^2 = 4 * s^2 to whatever the two samples already differ by
    assert values[3] - values[0] == pytest.approx(4 * 4.0, rel=0.1)


def test_matches_the_closed_form_for_commuting_covariances():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # diagonal covariances: tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt v1 - sqrt v2)^2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)  # 5 + 2 = 7
    assert expected == pytest.approx(7.0)
    assert gaussian_frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2), eps=0) == pytest.approx(7.0)


def test_matches_the_symmetric_form_for_general_covariances():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    # tr sqrt(S1 S2) = tr sqrt(S1^1/2 S2 S1^1/2), a symmetric PSD matrix: eigenvalues, no sqrtm of a product
    r = linalg.sqrtm(s1).real
    eig = np.linalg.eigvalsh(r @ s2 @ r)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(eig, 0, None)))
    assert gaussian_frechet_distance(mu1, s1, mu2, s2, eps=0) == pytest.approx(expected, rel=1e-8)


def test_samples_of_two_known_gaussians_approach_their_distance():
    rng = np.random.default_rng(4)
    mu1, mu2 = np.zeros(2), np.array([3.0, 0.0])
    s1, s2 = np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([[2.0, 0.0], [0.0, 1.0]])
    x = rng.multivariate_normal(mu1, s1, size=50_000)
    y = rng.multivariate_normal(mu2, s2, size=50_000)
    assert frechet_distance(x, y) == pytest.approx(gaussian_frechet_distance(mu1, s1, mu2, s2), rel=0.02)


def test_matches_torchmetrics_with_a_custom_feature_module():
    tm = pytest.importorskip("torchmetrics.image.fid")

    class Identity(torch.nn.Module):
        num_features = 4  # torchmetrics would otherwise probe with a 3x299x299 image

        def forward(self, x):
            return x

    f, g = _features(200), _features(200, seed=5) + 0.3
    metric = tm.FrechetInceptionDistance(feature=Identity())
    metric.update(torch.tensor(f), real=True)
    metric.update(torch.tensor(g), real=False)
    assert frechet_distance(f, g) == pytest.approx(float(metric.compute()), rel=1e-5)


def test_module_path_uses_the_module_features():
    rng = np.random.default_rng(6)
    real, synth = rng.normal(size=(64, 1, 4, 4)), rng.normal(size=(64, 1, 4, 4)) + 1.0
    net = torch.nn.Flatten()
    expected = frechet_distance(real.reshape(64, -1), synth.reshape(64, -1))
    value = frechet_distance_of(net, iterate_batches(real, 10), iterate_batches(synth, 10))
    assert value == pytest.approx(expected) and value > 10  # shift of 1 in 16 features


@pytest.mark.parametrize("a, b, message", [
    (np.zeros((5, 3)), np.zeros((5, 4)), "feature sizes differ"),
    (np.zeros((1, 3)), np.zeros((5, 3)), "at least 2"),
    (np.full((5, 3), np.nan), np.zeros((5, 3)), "NaN"),
    (np.zeros(5), np.zeros(5), "2-D"),
])
def test_bad_input_is_refused_with_a_reason(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def test_too_few_samples_warns():
    rng = np.random.default_rng(7)
    with pytest.warns(UserWarning, match="rank-deficient"):
        frechet_distance(rng.normal(size=(5, 8)), rng.normal(size=(5, 8)))
