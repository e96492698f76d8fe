"""The shipped sample cases open through napari's sample-data menu and the app's default view."""

import json

import numpy as np

from napari_medsynth._sample_data import list_sample_cases, sample_case_dir, sample_data_dir


def test_shipped_cases_are_complete_brats_folders():
    cases = list_sample_cases()
    simulated, real = list_sample_cases(real=False), list_sample_cases(real=True)
    assert [c["id"] for c in real] == ["TCGA-DU-7294", "TCGA-FG-6692"]
    assert sum(c["tumor"] for c in simulated) >= 5 and any(not c["tumor"] for c in simulated)
    assert len(cases) == len(simulated) + len(real)
    for case in simulated:
        names = sorted(p.name for p in sample_case_dir(case["id"]).iterdir())
        assert names == sorted(f"{case['id']}_{s}.nii.gz" for s in ("t1ce", "seg", "labels7"))
    for case in real:
        names = {p.name for p in sample_case_dir(case["id"]).iterdir()}
        assert {f"{case['id']}_{s}.nii.gz" for s in ("t1", "t1ce", "t2", "flair", "seg")} <= names
        assert "provenance.txt" in names and case["labels"] == "automatic"
    assert sum(p.stat().st_size for p in sample_data_dir().rglob("*.nii.gz")) < 40 * 2**20


def test_real_sample_opens_with_four_sequences_and_says_its_labels_are_automatic(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medsynth", "real_glioma")
    names = [layer.name for layer in viewer.layers]
    assert names[:5] == [f"TCGA-DU-7294_{s}" for s in ("t1", "t1ce", "t2", "flair", "seg")]
    shown = [layer.name for layer in viewer.layers if layer.visible and layer._type_string == "image"]
    assert shown == ["TCGA-DU-7294_t1ce"]
    seg = viewer.layers["TCGA-DU-7294_seg"]
    assert set(np.unique(seg.data)) == {0, 1, 2}  # this low-grade glioma has no enhancing label
    classes = list(seg.features["class"])
    assert all("automatic segmentation" in c for c in classes[1:]), classes
    assert "automatic" in seg.metadata["labels_source"]
    readme = (sample_data_dir() / "README.md").read_text()
    for needed in ("CC BY 3.0", "Clark", "TCGA-LGG", "automatic"):
        assert needed in readme


def test_glioma_sample_opens_with_brats_and_complete_labels(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medsynth", "glioma")
    names = [layer.name for layer in viewer.layers]
    assert names == ["MSYN-001_t1ce", "MSYN-001_seg", "MSYN-001_labels7"]
    img, seg, lab7 = (viewer.layers[n] for n in names)
    assert img.data.shape == seg.data.shape == lab7.data.shape
    assert set(np.unique(seg.data)) == {0, 1, 2, 4}
    assert set(np.unique(lab7.data)) == set(range(7))
    assert not lab7.visible
    # tumor labels of both maps agree voxel for voxel (BraTS 1/2/4 <-> complete 1/2/3)
    for brats, complete in ((1, 1), (2, 2), (4, 3)):
        np.testing.assert_array_equal(seg.data == brats, lab7.data == complete)
    # T1-Gd appearance: enhancing rim brighter than white matter, necrosis darker
    d = img.data.astype(float)
    wm = np.median(d[lab7.data == 4])
    assert np.median(d[seg.data == 4]) > 1.15 * wm
    assert np.median(d[seg.data == 1]) < 0.8 * wm
    assert (d[seg.data == 0][lab7.data[seg.data == 0] == 0] == 0).all()  # skull-stripped background


def test_healthy_sample_has_no_tumor(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medsynth", "healthy")
    seg = viewer.layers["MSYN-H01_seg"]
    assert not np.any(seg.data)
    assert set(np.unique(viewer.layers["MSYN-H01_labels7"].data)) == {0, 4, 5, 6}


def test_cases_json_matches_the_label_files():
    for case in list_sample_cases():
        if not case["tumor"]:
            continue
        from napari_medsynth.io import read_volume

        seg = read_volume(sample_case_dir(case["id"]) / f"{case['id']}_seg.nii.gz").data
        whole_ml = float((seg > 0).sum()) / 1000.0  # 1 mm voxels
        assert abs(whole_ml - case["whole_tumor_ml"]) < 0.05 * whole_ml + 0.1, json.dumps(case)


def test_app_opens_sample_case_with_docked_widgets(qtbot):
    from napari_medsynth.widgets.launch import DEFAULT_WIDGETS, launch

    viewer = launch(run=False)
    try:
        assert "TCGA-DU-7294_t1ce" in [layer.name for layer in viewer.layers]
        docked = viewer.window.dock_widgets.keys()
        for name in DEFAULT_WIDGETS:
            assert any(name in key for key in docked), docked
        # the axial slider starts on the slice with the most tumor
        seg = viewer.layers["TCGA-DU-7294_seg"].data
        assert viewer.dims.current_step[0] == int(np.argmax((seg > 0).sum(axis=(1, 2))))
        # one tabbed dock with the MR volume panel in front, not a stack
        window = viewer.window._qt_window
        ours = [dock for key, dock in viewer.window._dock_widgets.items()
                if any(name in key for name in DEFAULT_WIDGETS)]
        assert len(ours) == len(DEFAULT_WIDGETS)
        qtbot.wait(200)
        front = next(d for d in ours if "MR volume" in d.windowTitle())
        assert set(window.tabifiedDockWidgets(front)) == set(ours) - {front}
        qtbot.waitUntil(lambda: not front.visibleRegion().isEmpty(), timeout=5000)
        assert viewer.layers.selection.active.visible  # tools act on a layer the user sees
    finally:
        viewer.close()
