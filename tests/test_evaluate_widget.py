"""Evaluate panel: runs the report in the background; cluster review writes the kept list."""

from __future__ import annotations

import json

import numpy as np
from eval_helpers import write_blob_folder

from napari_medsynth.evaluate.clusters import load_clusters, write_kept_list
from napari_medsynth.widgets.evaluate import EvaluateWidget


def _cluster_file(path, labels):
    n = len(labels)
    np.savez(path, labels=np.array(labels), distances=np.arange(n, dtype=float)[::-1],
             images=np.zeros((n, 8, 8), np.float32), sources=np.array([f"s{i}.npy" for i in range(n)]),
             root=np.array("/syn"))


def test_kept_list_leaves_out_discarded_clusters(tmp_path):
    _cluster_file(tmp_path / "clusters.npz", [0, 1, 1, 2])
    c = load_clusters(tmp_path)
    assert list(c.members(1)) == [2, 1]  # closest to the centre first
    doc = json.loads(write_kept_list(c, [1]).read_text())
    assert doc["kept"] == ["s0.npy", "s3.npy"] and doc["discarded"] == ["s1.npy", "s2.npy"]
    import pytest

    with pytest.raises(ValueError, match="do not exist"):
        write_kept_list(c, [5])


def test_widget_runs_evaluation_in_background_and_reviews_clusters(qtbot, tmp_path):
    real = write_blob_folder(tmp_path / "real", n=12, side=24, per_file_patients=True)
    syn = write_blob_folder(tmp_path / "syn", n=12, side=24, seed=3)
    w = EvaluateWidget(None)
    qtbot.addWidget(w)
    w.start()
    assert "Choose the real, synthetic, report folder" in w.status.text()
    w.real.value, w.synthetic.value, w.out.value = str(real), str(syn), str(tmp_path / "out")
    w.size.value, w.steps.value, w.n_clusters.value = 16, 3, 2
    w.start()
    assert not w.run_button.isEnabled()  # the GUI thread is free while it runs
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=120_000)
    assert "Report written" in w.status.text(), w.status.text()
    assert (tmp_path / "out" / "report.md").is_file() and w.clusters.k == 2
    w.discard.value = "0"
    w.write_kept()
    doc = json.loads((tmp_path / "out" / "kept.json").read_text())
    assert len(doc["kept"]) + len(doc["discarded"]) == 12 and doc["discarded_clusters"] == [0]
    w.discard.value = "x"
    w.write_kept()
    assert "enter cluster numbers" in w.status.text()
