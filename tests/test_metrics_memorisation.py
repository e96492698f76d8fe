"""Memorisation check on made-up images: copies of training images are caught, new ones are not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_medsynth.metrics import memorisation_report, nearest_distances


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return np.stack([gaussian_filter(rng.normal(size=(24, 24)), 2) * 3 for _ in range(n)])


def test_nearest_distance_by_hand_and_across_chunks():
    train = np.stack([np.zeros((2, 2)), np.full((2, 2), 2.0), np.full((2, 2), 5.0)])
    d, k = nearest_distances(np.full((2, 2, 2), [[[1.5]], [[4.0]]]), train, chunk=1)
    assert k.tolist() == [1, 2] and d == pytest.approx([0.5, 1.0])
    with pytest.raises(ValueError, match="one size"):
        nearest_distances(np.zeros((1, 3, 3)), train)


def test_copies_of_training_images_are_closer_than_held_out_real_images():
    train, held = _images(60, 0), _images(100, 1)
    rng = np.random.default_rng(2)
    fresh = _images(20, 3)
    copies = train[:10] + rng.normal(scale=0.01, size=(10, 24, 24))   # near-exact copies
    report = memorisation_report(np.concatenate([fresh, copies]), held, train)
    close = report.synthetic < report.threshold
    assert close[20:].all() and close[:20].mean() <= 0.1    # new images are as far as other patients' slices
    assert report.nearest[20:].tolist() == list(range(10))
    assert report.synthetic[20:].max() < 0.1 * report.synthetic[:20].min()
    d = report.to_dict()
    assert d["n_synthetic"] == 30 and d["n_held_out"] == 100 and "closer" in report.summary()
