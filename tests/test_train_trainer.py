"""The training loop: exact resume, prompt stop, pause, previews, clear errors, freed memory."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
import weakref

import pytest
import torch
from train_helpers import TINY, cli_env, make_dataset, run_collect, settings

from napari_medsynth.train import (
    CheckpointError,
    CheckpointEvent,
    DatasetError,
    DoneEvent,
    PauseEvent,
    PreviewEvent,
    StartEvent,
    Trainer,
    get_recipe,
    latest_checkpoint,
    list_checkpoints,
    list_recipes,
    load_checkpoint,
)


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data")


def test_interrupted_run_resumes_to_identical_losses_and_weights(data, tmp_path):
    _, full = run_collect(Trainer("dcgan", settings(data, tmp_path / "full", steps=7, checkpoint_every=100), TINY))

    events, first = run_collect(
        Trainer("dcgan", settings(data, tmp_path / "cut", steps=7, checkpoint_every=100), TINY), stop_at=4)
    assert sorted(first) == [1, 2, 3, 4]
    assert events[-1] == DoneEvent(4, "stopped", checkpoint=str(latest_checkpoint(tmp_path / "cut")))

    events, rest = run_collect(
        Trainer("dcgan", settings(data, tmp_path / "cut", steps=7, checkpoint_every=100, resume=True), TINY))
    start = next(e for e in events if isinstance(e, StartEvent))
    assert start.step == 4 and start.resumed
    assert sorted(rest) == [5, 6, 7]
    assert {**first, **rest} == full  # bit-for-bit equal floats, not approximately
    a = load_checkpoint(latest_checkpoint(tmp_path / "full"))["model"]["networks"]
    b = load_checkpoint(latest_checkpoint(tmp_path / "cut"))["model"]["networks"]
    for net in ("G", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])


def test_stop_takes_effect_after_the_current_step_and_saves(data, tmp_path):
    trainer = Trainer("dcgan", settings(data, tmp_path / "out", steps=500, checkpoint_every=100), TINY)
    events, losses = run_collect(trainer, stop_at=2)
    assert max(losses) == 2
    assert [s for s, _ in list_checkpoints(tmp_path / "out")] == [2]
    assert isinstance(events[-2], CheckpointEvent) and events[-1].reason == "stopped"


def test_stop_from_another_thread_while_paused(data, tmp_path):
    trainer = Trainer("dcgan", settings(data, tmp_path / "out", steps=500, checkpoint_every=100), TINY)
    events = []
    trainer.add_listener(events.append)
    thread = threading.Thread(target=trainer.run)
    trainer.pause()  # paused before the first step
    thread.start()
    deadline = time.monotonic() + 30
    while not any(isinstance(e, PauseEvent) for e in events) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert trainer.step == 0 and trainer.paused
    trainer.unpause()
    while trainer.step < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    trainer.pause()
    while sum(isinstance(e, PauseEvent) and e.paused for e in events) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the step in progress finishes first
    paused_at = trainer.step
    time.sleep(0.3)
    assert trainer.step == paused_at  # no step runs while paused
    trainer.stop()
    assert trainer.wait(30)
    thread.join()
    assert trainer.result.reason == "stopped" and trainer.result.step == paused_at
    assert [e.paused for e in events if isinstance(e, PauseEvent)] == [True, False, True, False]


def test_previews_do_not_change_the_training_trajectory(data, tmp_path):
    events, with_previews = run_collect(Trainer("dcgan", settings(data, tmp_path / "a", preview_every=1), TINY))
    previews = [e for e in events if isinstance(e, PreviewEvent)]
    assert [p.step for p in previews] == [1, 2, 3, 4, 5, 6]
    assert previews[0].images.shape == (TINY["preview_count"], 32, 32)
    assert previews[0].images.min() >= -1 and previews[0].images.max() <= 1
    assert not (previews[0].images == previews[-1].images).all()  # the generator learns
    _, without = run_collect(Trainer("dcgan", settings(data, tmp_path / "b", preview_every=0), TINY))
    assert with_previews == without


def test_existing_run_is_not_overwritten_and_resume_keeps_settings(data, tmp_path):
    run_collect(Trainer("dcgan", settings(data, tmp_path / "out", steps=3), TINY))
    with pytest.raises(CheckpointError, match="already holds checkpoints.*step_00000003.pt"):
        Trainer("dcgan", settings(data, tmp_path / "out", steps=6), TINY).run()
    with pytest.raises(CheckpointError, match="trained with width=8, but width=16 was asked for"):
        Trainer("dcgan", settings(data, tmp_path / "out", steps=6, resume=True), {**TINY, "width": 16}).run()
    events, losses = run_collect(Trainer("dcgan", settings(data, tmp_path / "out", steps=3, resume=True), TINY))
    assert losses == {} and events[-1].reason == "finished" and events[-1].step == 3


def test_bad_inputs_fail_early_with_specific_messages(data, tmp_path):
    assert "dcgan" in list_recipes() and get_recipe("dcgan").name == "dcgan"
    with pytest.raises(ValueError, match="unknown recipe 'nope'; available: .*dcgan"):
        Trainer("nope", settings(data, tmp_path))
    with pytest.raises(ValueError, match="unknown setting.*wdth.*valid: .*width"):
        Trainer("dcgan", settings(data, tmp_path), {"wdth": 3})
    with pytest.raises(ValueError, match="'eight' is not a valid int"):
        Trainer("dcgan", settings(data, tmp_path), {"width": "eight"})
    with pytest.raises(ValueError, match="checkpoint interval must be at least 1"):
        Trainer("dcgan", settings(data, tmp_path, checkpoint_every=0))
    with pytest.raises(ValueError, match="device must be one of"):
        Trainer("dcgan", settings(data, tmp_path, device="tpu"))
    with pytest.raises(ValueError, match=r"mixed precision \(fp16\) is only used on a CUDA GPU"):
        Trainer("dcgan", settings(data, tmp_path / "o1", precision="fp16")).run()


def test_dataset_error_is_reported_as_done_event_then_raised(tmp_path):
    (tmp_path / "empty").mkdir()
    trainer = Trainer("dcgan", settings(tmp_path / "empty", tmp_path / "out"), TINY)
    events = []
    trainer.add_listener(events.append)
    with pytest.raises(DatasetError, match="no training images"):
        trainer.run()
    assert events[-1].reason == "error" and "no training images" in events[-1].error
    assert trainer.wait(0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_unavailable_device_is_an_error_not_a_fallback(data, tmp_path):
    with pytest.raises(ValueError, match="'cuda' was requested but this PyTorch build sees no CUDA GPU"):
        Trainer("dcgan", settings(data, tmp_path / "o", device="cuda"), TINY).run()


def test_networks_are_released_after_the_run(data, tmp_path):
    trainer = Trainer("dcgan", settings(data, tmp_path / "out", steps=2), TINY)
    refs = []
    trainer.add_listener(lambda e: refs.append(weakref.ref(trainer.recipe.G)) if isinstance(e, StartEvent) else None)
    trainer.run()
    gc.collect()
    assert trainer.recipe is None and refs and refs[0]() is None


def test_out_of_memory_becomes_a_clear_message(data, tmp_path, monkeypatch):
    from napari_medsynth.networks.dcgan_recipe import DCGANRecipe

    def exhausted(self, batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(DCGANRecipe, "train_step", exhausted)
    trainer = Trainer("dcgan", settings(data, tmp_path / "out"), TINY)
    events = []
    trainer.add_listener(events.append)
    with pytest.raises(MemoryError, match="out of memory at step 1: reduce the batch size"):
        trainer.run()
    assert events[-1].reason == "error" and events[-1].error.startswith("out of memory at step 1")
    assert list_checkpoints(tmp_path / "out") == []  # a failed state is not saved


def test_engine_and_models_import_no_gui_toolkit():
    code = ("import sys, napari_medsynth.train, napari_medsynth.registry, napari_medsynth.networks, "
            "napari_medsynth.train.session\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('qtpy', 'PyQt5', 'PyQt6', 'PySide2', "
            "'PySide6', 'napari', 'magicgui', 'vispy', 'pyqtgraph'))\n"
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_incomplete_recipe_is_refused_when_created():
    import pytest
    import torch

    from napari_medsynth.train.recipe import Recipe

    class NoStep(Recipe):
        def build(self):
            pass

        def make_dataset(self, data_dir, pattern="*"):
            return None

        def previews(self):
            return None

    with pytest.raises(TypeError, match="train_step"):
        NoStep(NoStep.config_class(), torch.device("cpu"), None)
