"""Checkpoints are written atomically, described by a model card, and never unpickle code."""

from __future__ import annotations

import json
import os

import pytest
import torch

from napari_medsynth.train.checkpoint import (
    CheckpointError,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    model_card,
    prune_checkpoints,
    read_model_card,
    remove_stale_temp_files,
    save_checkpoint,
)


def _callback():
    """A plain function: pickled by reference, so loading it means importing and calling code."""


class _RunsCodeWhenUnpickled:
    """Unpickling this calls ``open(marker, "w")``: the side effect proves code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload(step=7):
    return {"recipe": "dcgan", "config": {"batch_size": 4, "betas": (0.5, 0.999)}, "step": step, "seed": 1,
            "model": {"networks": {"G": {"w": torch.arange(6.0).reshape(2, 3)}}}, "metrics": {"loss_g": 0.5}}


def test_save_load_roundtrip_with_model_card(tmp_path):
    path = checkpoint_path(tmp_path, 7)
    saved, card_path = save_checkpoint(path, _payload(), model_card(_payload(), dataset={"fingerprint": "abc"}))
    assert saved == path and card_path.name == "step_00000007.json"
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["networks"]["G"]["w"], torch.arange(6.0).reshape(2, 3))
    assert state["config"]["betas"] == (0.5, 0.999) and state["step"] == 7
    card = read_model_card(path)
    assert card["recipe"] == "dcgan" and card["step"] == 7 and card["dataset"]["fingerprint"] == "abc"
    assert card["metrics"] == {"loss_g": 0.5} and card["config"]["batch_size"] == 4
    assert card["torch_version"] == torch.__version__ and card["package_version"] and card["created"]
    import hashlib
    assert card["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in path.parent.iterdir()) == ["step_00000007.json", "step_00000007.pt"]


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = checkpoint_path(tmp_path, 1)
    save_checkpoint(path, _payload(1), model_card(_payload(1)))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _payload(2), model_card(_payload(2)))
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_checkpoint_with_a_function_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "napari-medsynth-checkpoint", "on_load": _callback}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused to load: .*pickled Python object \(\S*_callback\)"):
        load_checkpoint(path)


def test_checkpoint_with_code_running_object_is_refused_and_code_does_not_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "step_00000001.pt"
    torch.save({"format": "napari-medsynth-checkpoint", "model": {"x": _RunsCodeWhenUnpickled(marker)}}, path)
    with pytest.raises(CheckpointError, match="refused to load.*arbitrary code"):
        load_checkpoint(path)
    assert not marker.exists()
    # The object really does run code when loaded unsafely, so the test above is meaningful.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_truncated_and_foreign_files(tmp_path):
    path = checkpoint_path(tmp_path, 3)
    save_checkpoint(path, _payload(3), model_card(_payload(3)))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cut.pt: not a PyTorch checkpoint .the file is empty, truncated"):
        load_checkpoint(cut)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint\n" * 40)
    with pytest.raises(CheckpointError, match="junk.pt: not a PyTorch checkpoint") as info:
        load_checkpoint(junk)
    assert "pickled" not in str(info.value)  # no false alarm about code in the file
    other = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a napari-medsynth training checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_listing_ignores_temp_files_and_prune_keeps_newest(tmp_path):
    for step in (2, 4, 6, 8):
        save_checkpoint(checkpoint_path(tmp_path, step), _payload(step), model_card(_payload(step)))
    folder = checkpoint_path(tmp_path, 0).parent
    (folder / ".step_00000010.pt.abc123.tmp").write_bytes(b"half a file")
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4, 6, 8]
    assert remove_stale_temp_files(tmp_path) == 1
    prune_checkpoints(tmp_path, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [6, 8]
    assert sorted(p.name for p in folder.glob("*.json")) == ["step_00000006.json", "step_00000008.json"]
    assert json.loads((folder / "step_00000008.json").read_text())["step"] == 8
