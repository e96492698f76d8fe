"""The plugin installs as napari expects: manifest, sample data, widgets, console script."""

import subprocess
import sys

import numpy as np
from qtpy.QtCore import Qt


def test_manifest_validates():
    result = subprocess.run([sys.executable, "-m", "npe2", "validate", "napari-medsynth"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_cli_help_for_every_command():
    from napari_medsynth.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"open", "info"} <= set(sub.choices)
    for name in sub.choices:
        out = subprocess.run([sys.executable, "-m", "napari_medsynth.cli", name, "--help"],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert f"napari-medsynth {name}" in out.stdout


def test_cli_info_reports_geometry(tmp_path, brats_case, capsys):
    from napari_medsynth.cli import main

    folder, _, _ = brats_case
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "BraTS_0001_seg.nii.gz: labels" in out and "stored LPS" in out and "labels: 0:" in out


def test_cli_bad_file_is_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"")
    out = subprocess.run([sys.executable, "-m", "napari_medsynth.cli", "info", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "the file is empty" in out.stderr and "Traceback" not in out.stderr


def test_case_folder_opens_as_image_and_label_layers(make_napari_viewer, brats_case):
    folder, ras, seg_ras = brats_case
    viewer = make_napari_viewer()
    layers = viewer.open(str(folder), plugin="napari-medsynth")
    kinds = {layer.name: type(layer).__name__ for layer in layers}
    assert kinds == {"BraTS_0001_t1": "Image", "BraTS_0001_t1ce": "Image", "BraTS_0001_flair": "Image",
                     "BraTS_0001_seg": "Labels"}
    visible = [layer.name for layer in layers if layer.visible]
    assert visible == ["BraTS_0001_t1ce", "BraTS_0001_seg"]
    seg = viewer.layers["BraTS_0001_seg"]
    # enhancing tumor voxels carry the BraTS class name and the ET colour
    assert "ET" in seg.get_status(tuple(np.argwhere(seg.data == 4)[0]))["coordinates"]
    t1 = viewer.layers["BraTS_0001_t1"]
    # exact overlay: the voxels under the enhancing label are the ones labelled in the stored files
    np.testing.assert_array_equal(np.sort(t1.data[seg.data == 4]), np.sort(ras[seg_ras == 4]))


def test_volume_widget_converts_and_describes(make_napari_viewer, qtbot, brats_case):
    folder, _, _ = brats_case
    viewer = make_napari_viewer()
    viewer.open(str(folder / "BraTS_0001_t1.nii.gz"), plugin="napari-medsynth")
    # docked through the plugin, as users get it (napari passes a proxy viewer)
    _, widget = viewer.window.add_plugin_dock_widget("napari-medsynth", "MR volume")
    viewer.layers.selection.active = viewer.layers["BraTS_0001_t1"]
    assert "Stored orientation: LPS" in widget.info.text()
    assert widget.to_labels.isEnabled() and not widget.to_image.isEnabled()
    qtbot.mouseClick(widget.to_labels, Qt.MouseButton.LeftButton)
    # float intensities cannot become labels: a message, the layer is untouched
    assert "non-integer values" in widget.status.text()
    assert type(viewer.layers["BraTS_0001_t1"]).__name__ == "Image"

    viewer.add_image(np.array([[[0, 1], [2, 1]]], dtype=np.uint8), name="mask", scale=(2, 1, 1))
    viewer.layers.selection.active = viewer.layers["mask"]
    widget.to_labels.click()
    assert type(viewer.layers["mask"]).__name__ == "Labels"
    assert tuple(viewer.layers["mask"].scale) == (2, 1, 1)
    assert "now treated as labels" in widget.status.text()
    widget.to_image.click()
    assert type(viewer.layers["mask"]).__name__ == "Image"
