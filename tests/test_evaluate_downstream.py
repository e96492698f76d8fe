"""Downstream experiment: patient-wise folds, classifier and U-Net through the Trainer."""

from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import blob_set

from napari_medsynth.evaluate.downstream import (
    DownstreamSettings,
    conditions,
    dice_scores,
    downstream_experiment,
    patient_folds,
)
from napari_medsynth.evaluate.training import EvaluationError


def test_patient_folds_never_split_a_patient():
    patients = np.repeat([f"P{i}" for i in range(7)], 3)
    folds = patient_folds(patients, 3, seed=1)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested) == list(range(21))  # every image tested exactly once
    for train, test in folds:
        assert not set(patients[train]) & set(patients[test])
    with pytest.raises(EvaluationError, match="at least 8 real patients"):
        patient_folds(patients, 8)


def test_dice_scores():
    a = np.zeros((3, 4, 4), bool)
    b = a.copy()
    a[0, :2], b[0, :2] = True, True          # identical -> 1
    a[1, :2], b[1, 2:] = True, True          # disjoint -> 0
    a[2, :2], b[2, :1] = True, True          # 4 of 8 vs 4 -> 2*4/12
    assert np.allclose(dice_scores(a, b), [1.0, 0.0, 8 / 12])


def test_conditions_cover_the_papers_training_sets():
    names = [c[0] for c in conditions((1.0, 0.5))]
    assert names == ["real", "synthetic", "real + synthetic x0.5", "real + synthetic x1", "real + classic DA",
                     "real + classic DA + synthetic x1"]


def test_classifier_and_unet_learn_on_real_and_table_has_every_condition(tmp_path):
    real = blob_set("real", n_patients=6, per_patient=8, seed=0)
    synthetic = blob_set("synthetic", n_patients=4, per_patient=6, seed=9, patient_prefix="S")
    settings = DownstreamSettings(folds=2, classifier_steps=40, unet_steps=40, amounts=(1.0,), batch_size=16,
                                  width=4, lr=3e-3, threads=1, only=("real", "real + synthetic x1"))
    seen = []
    results = downstream_experiment(real, synthetic, tmp_path, settings, progress=lambda d, t, m: seen.append((d, t)))
    cls, seg = results["classification"], results["segmentation"]
    assert cls.task == "control vs tumor" and cls.positive == "tumor"
    summary = cls.summary()
    assert list(summary) == ["real", "real + synthetic x1"]
    assert summary["real"]["ACC"][0] >= 0.8  # chance is 0.5: the classifier learns blob vs no blob
    assert summary["real"]["PL ACC"][0] >= 0.8
    assert set(summary["real"]) == {"ACC", "SEN", "SPEC", "PL ACC", "PL SEN", "PL SPEC"}
    assert seg.summary()["real"]["Dice"][0] > 0.3  # an untrained U-Net scores ~0.1 on these blobs
    assert seg.summary()["real + synthetic x1"]["Dice"][0] > 0.3
    assert cls.n_train["real + synthetic x1"] == [2 * n for n in cls.n_train["real"]]
    assert seen[-1] == (8, 8)  # 2 tasks x 2 training sets x 2 folds
