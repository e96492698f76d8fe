"""Label → MR without a screen: the live render worker, starting maps, pairs and provenance."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from napari_medsynth._reader import napari_get_reader, read_path
from napari_medsynth._sample_data import sample_case_dir
from napari_medsynth.io import read_volume
from napari_medsynth.spade.label_maps import (
    LabelMapError,
    fit_to_canvas,
    guess_vocabulary,
    map_from_volume,
    template_map,
    validate_map,
)
from napari_medsynth.spade.live import LIVE, STYLES, LiveRenderer
from napari_medsynth.spade.pairs import provenance, save_pair

#: Mean T1-Gd-like intensity per class: a deterministic label -> image map for the scheduler tests.
LUT = np.array([0.0, 0.3, 0.8, 1.0, 0.7, 0.5, 0.1], np.float32)


class GatedLookupRenderer:
    """Renders by class lookup, but each render waits for ``gate``: the test decides when a render
    finishes, so it can submit newer maps while one is in progress."""

    sha256 = "ab" * 32
    size = 16

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()
        self.rendered: list[int] = []  # a marker pixel of each rendered map, in render order
        self.threads: set[int] = set()

    def render(self, labels, style_seed=None):
        self.threads.add(threading.get_ident())
        self.started.set()
        assert self.gate.wait(10)
        self.rendered.append(int(labels[0, 0]))
        if int(labels[0, 0]) == 6:
            raise RuntimeError("out of memory")
        return LUT[labels] * (1.0 if style_seed is None else 0.5)

    def render_styles(self, labels, seeds):
        return np.stack([self.render(labels, s) for s in seeds])


def _map(marker: int) -> np.ndarray:
    m = np.full((16, 16), 4, np.uint8)
    m[0, 0] = marker
    return m


def test_only_the_newest_map_is_rendered_and_superseded_results_are_dropped():
    r = GatedLookupRenderer()
    live = LiveRenderer(r)
    try:
        first = _map(1)
        live.request(first, None)
        assert r.started.wait(5)  # map 1 is being rendered
        first[0, 0] = 5  # the caller keeps painting into its array: the request holds a copy
        for marker in (2, 3, 4):  # a brush stroke's worth of requests while the model is busy
            newest = live.request(_map(marker), style_seed=7)
        r.gate.set()
        assert live.wait_idle(10)
        assert r.rendered == [1, 4]  # 2 and 3 were never rendered
        results = live.drain()
        assert [x.request_id for x in results] == [newest]  # map 1 was superseded: dropped
        res = results[0]
        assert res.kind == LIVE and res.ok and res.seeds == (7,) and res.labels[0, 0] == 4
        np.testing.assert_allclose(res.images, LUT[_map(4)] * 0.5)
        assert res.render_ms > 0
        assert threading.get_ident() not in r.threads  # never on the caller's (GUI) thread
    finally:
        live.close()


def test_render_errors_come_back_as_messages_and_the_worker_goes_on():
    r = GatedLookupRenderer()
    r.gate.set()
    live = LiveRenderer(r)
    try:
        live.request(_map(6))
        assert live.wait_idle(10)
        (failed,) = live.drain()
        assert not failed.ok and "RuntimeError: out of memory" in failed.error and failed.images is None
        live.request(_map(2), 3)
        assert live.wait_idle(10)
        (ok,) = live.drain()
        assert ok.ok and ok.images.shape == (16, 16)
    finally:
        live.close()


def test_styles_are_rendered_after_the_live_view_and_close_stops_the_thread():
    r = GatedLookupRenderer()
    live = LiveRenderer(r)
    live.request(_map(1))
    assert r.started.wait(5)
    live.request_styles(_map(2), [0, 1, 2])
    live.request(_map(3))  # submitted after the styles, rendered before them
    r.gate.set()
    assert live.wait_idle(10)
    assert r.rendered == [1, 3, 2, 2, 2]
    results = live.drain()
    assert [x.kind for x in results] == [LIVE, STYLES]
    assert results[1].images.shape == (3, 16, 16) and results[1].seeds == (0, 1, 2)
    with pytest.raises(ValueError, match="2-D"):
        live.request(np.zeros((2, 16, 16), np.uint8))
    live.close()
    assert not live.job.running
    with pytest.raises(RuntimeError, match="closed"):
        live.request(_map(1))


def test_template_is_a_brain_outline_with_tissue_and_room_for_a_tumor():
    m = template_map(128)
    assert m.shape == (128, 128) and m.dtype == np.uint8
    counts = np.bincount(m.ravel(), minlength=7)
    assert counts[1:4].sum() == 0  # no tumor: the person paints it
    assert counts[4] > counts[5] > counts[6] > 0  # WM > GM ribbon > ventricles
    assert m[0, 0] == 0 and m[64, 64] in (4, 6)  # background outside, brain in the middle
    np.testing.assert_array_equal(m, m[:, ::-1])  # left-right symmetric


def test_volume_slice_of_a_complete_map_is_centred_on_the_canvas():
    vol = read_volume(sample_case_dir("MSYN-001") / "MSYN-001_labels7.nii.gz")
    k = int(np.argmax((vol.data == 3).sum(axis=(1, 2))))  # slice through the enhancing tumor
    sm = map_from_volume(vol.data, k, 256)
    assert sm.vocabulary == "complete7" and sm.slice_index == k
    assert sm.labels.shape == (256, 256)
    h, w = vol.data.shape[1:]
    oh, ow = (256 - h) // 2, (256 - w) // 2
    np.testing.assert_array_equal(sm.labels[oh:oh + h, ow:ow + w], vol.data[k])
    assert not any("no " in n for n in sm.notes)  # tumor and all tissues present
    small = map_from_volume(vol.data, k, 64).labels
    np.testing.assert_array_equal(small, fit_to_canvas(vol.data[k], 64))
    assert set(np.unique(small)) <= set(range(7)) and 3 in small


def test_brats_slice_is_converted_and_the_missing_tissues_are_named():
    seg = read_volume(sample_case_dir("MSYN-001") / "MSYN-001_seg.nii.gz").data
    k = int(np.argmax((seg == 4).sum(axis=(1, 2))))
    sm = map_from_volume(seg, k, 256)
    assert sm.vocabulary == "brats"
    assert set(np.unique(sm.labels)) == {0, 1, 2, 3}  # ET 4 -> 3
    assert (sm.labels == 3).sum() == (seg[k] == 4).sum()
    assert any("BraTS labels converted" in n for n in sm.notes)
    assert any("no WM/GM/CSF" in n for n in sm.notes)


def test_bad_label_volumes_get_a_message():
    with pytest.raises(LabelMapError, match="value\\(s\\) 9"):
        map_from_volume(np.full((3, 8, 8), 9, np.uint8), 1, 32)
    with pytest.raises(LabelMapError, match="outside the volume"):
        map_from_volume(np.zeros((3, 8, 8), np.uint8), 5, 32)
    with pytest.raises(LabelMapError, match="integer labels"):
        map_from_volume(np.zeros((3, 8, 8), np.float32), 0, 32)
    with pytest.raises(LabelMapError, match="only 0-6"):
        validate_map(np.full((8, 8), 7))
    # class names attached to a layer beat guessing from values: {0,1,2,4} is also a valid 7-class map
    assert guess_vocabulary([0, 1, 2, 4]) == "brats"
    assert guess_vocabulary([0, 1, 2, 4], ["BG (background)", "WM (white matter)"]) == "complete7"
    assert guess_vocabulary([0, 4, 5, 6]) == "complete7"


def test_saved_pair_is_a_case_folder_with_its_provenance(tmp_path):
    labels = template_map(64)
    labels[20:30, 20:30] = 3
    mr = LUT[labels]
    renderer, sampler = GatedLookupRenderer(), GatedLookupRenderer()
    prov = provenance("pggan", renderer, 5, sampler=sampler, sampler_seed=11, edited=True,
                      sampler_checkpoint="shipped:pggan-labels")
    paths = save_pair(tmp_path, "SYN-0001", labels, mr, prov)
    case = tmp_path / "SYN-0001"
    assert sorted(p.name for p in case.iterdir()) == ["SYN-0001.json", "SYN-0001_labels7.nii.gz",
                                                      "SYN-0001_t1ce.nii.gz"]  # no temporary files left
    assert napari_get_reader(str(case)) is not None
    layers = {meta["name"]: (data, meta, kind) for data, meta, kind in read_path(str(case))}
    lab, lab_meta, kind = layers["SYN-0001_labels7"]
    assert kind == "labels" and lab_meta["features"]["class"][3].startswith("ET")  # named classes on reopening
    np.testing.assert_array_equal(lab[0], labels)
    np.testing.assert_allclose(layers["SYN-0001_t1ce"][0][0], mr, atol=1e-6)
    assert read_volume(paths["mr"]).spacing == pytest.approx((1.0, 4.0, 4.0))  # 256 mm canvas at 64 px
    side = json.loads(paths["provenance"].read_text())
    assert side["source"] == "pggan" and side["sampler_seed"] == 11 and side["style_seed"] == 5
    assert side["renderer"]["sha256"] == "ab" * 32 and side["sampler"]["size"] == 16
    assert side["edited"] is True and side["classes_present"] == [0, 3, 4, 5, 6]
    assert side["sampler"]["checkpoint"] == "shipped:pggan-labels"
    assert side["files"] == {"labels": "SYN-0001_labels7.nii.gz", "mr": "SYN-0001_t1ce.nii.gz",
                             "sequences": {"t1ce": "SYN-0001_t1ce.nii.gz"}}
    assert side["napari_medsynth_version"]

    with pytest.raises(FileExistsError, match="already holds a pair named SYN-0001"):
        save_pair(tmp_path, "SYN-0001", labels, mr, prov)
    save_pair(tmp_path, "SYN-0001", labels, mr * 0.5, prov, overwrite=True)
    np.testing.assert_allclose(read_volume(paths["mr"]).data[0], mr * 0.5, atol=1e-6)


def test_a_pair_of_four_sequences_is_one_case_folder(tmp_path):
    labels = template_map(32)
    images = np.stack([LUT[labels] * f for f in (0.25, 0.5, 0.75, 1.0)])
    prov = provenance("drawn", GatedLookupRenderer(), 2, template="brain outline")
    paths = save_pair(tmp_path, "SYN-0002", labels, images, prov, modalities=("t1", "t1ce", "t2", "flair"))
    assert sorted(p.name for p in (tmp_path / "SYN-0002").iterdir()) == [
        "SYN-0002.json", "SYN-0002_flair.nii.gz", "SYN-0002_labels7.nii.gz", "SYN-0002_t1.nii.gz",
        "SYN-0002_t1ce.nii.gz", "SYN-0002_t2.nii.gz"]
    assert paths["mr"] == paths["mr_t1ce"]
    for i, m in enumerate(("t1", "t1ce", "t2", "flair")):
        np.testing.assert_allclose(read_volume(paths[f"mr_{m}"]).data[0], images[i], atol=1e-6)
    side = json.loads(paths["provenance"].read_text())
    assert side["files"]["sequences"]["flair"] == "SYN-0002_flair.nii.gz"
    assert read_path(str(tmp_path / "SYN-0002"))  # opens as a case


def test_pair_inputs_are_checked_before_anything_is_written(tmp_path):
    labels = template_map(32)
    prov = provenance("drawn", GatedLookupRenderer(), None, template="brain outline")
    assert prov["template"] == "brain outline" and prov["style_seed"] is None
    with pytest.raises(ValueError, match="cannot name a case"):
        save_pair(tmp_path, "../evil", labels, LUT[labels], prov)
    with pytest.raises(ValueError, match="ends like a modality"):
        save_pair(tmp_path, "x_t1ce", labels, LUT[labels], prov)
    with pytest.raises(ValueError, match="differ in shape"):
        save_pair(tmp_path, "A1", labels, np.zeros((16, 16)), prov)
    with pytest.raises(ValueError, match=r"2 MR image\(s\) for 4 sequence name"):
        save_pair(tmp_path, "A1", labels, np.stack([LUT[labels]] * 2), prov, modalities=("t1", "t1ce", "t2", "flair"))
    with pytest.raises(ValueError, match="NaN"):
        save_pair(tmp_path, "A1", labels, np.full((32, 32), np.nan), prov)
    assert list(tmp_path.iterdir()) == []
    vol = provenance("volume", None, 2, volume_path="/data/x_labels7.nii.gz", slice_index=70, layer_name="x")
    assert (vol["volume_path"], vol["slice_index"], vol["layer"], vol["renderer"]) == \
        ("/data/x_labels7.nii.gz", 70, "x", None)
    with pytest.raises(ValueError, match="source must be one of"):
        provenance("magic")


def test_core_imports_no_gui_toolkit():
    import subprocess
    import sys

    code = ("import sys, napari_medsynth.spade.live, napari_medsynth.spade.label_maps, napari_medsynth.spade.pairs;"
            "print([m for m in ('qtpy', 'PyQt5', 'PyQt6', 'napari') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
