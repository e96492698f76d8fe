"""Damaged, changed and hostile checkpoints, two trainers on one folder, a full disk: each is
refused or reported with a message that says what happened, never loaded silently or a traceback.

Every file and situation is made inside the test.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from train_helpers import REPO_ROOT, TINY, cli, cli_env, make_dataset, settings

from napari_medsynth.cli import build_parser, main
from napari_medsynth.io.atomic import atomic_path
from napari_medsynth.sage.texture import TextureModel
from napari_medsynth.spade import SpadeRenderer
from napari_medsynth.train import Trainer, latest_checkpoint, list_checkpoints, load_checkpoint, read_model_card
from napari_medsynth.train import checkpoint as ckpt
from napari_medsynth.train.checkpoint import (
    CheckpointChangedError,
    CheckpointDamagedError,
    CheckpointError,
    checkpoint_path,
    model_card,
    save_checkpoint,
    trusting_changed,
)
from napari_medsynth.train.runlock import LOCK_NAME, RunLockError
from napari_medsynth.train.trained import open_trained

TINY_ARGS = [a for k, v in TINY.items() if k != "batch_size" for a in ("--set", f"{k}={v}")] + \
            ["--batch-size", str(TINY["batch_size"]), "--device", "cpu", "--preview-every", "0"]


def _payload(step=1, weight=None):
    w = torch.arange(64.0).reshape(8, 8) if weight is None else weight
    return {"recipe": "dcgan", "config": {"batch_size": 4}, "step": step, "seed": 0,
            "model": {"networks": {"G": {"w": w}}, "optimizers": {}, "extra": {}}}


def _saved(tmp_path, step=1, weight=None) -> Path:
    path, _ = save_checkpoint(checkpoint_path(tmp_path, step), _payload(step, weight), model_card(_payload(step)))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished 2-step DC-GAN run (checkpoints at steps 1 and 2), copied by the tests that change it."""
    base = tmp_path_factory.mktemp("run")
    data = make_dataset(base / "data")
    Trainer("dcgan", settings(data, base / "out", steps=2, checkpoint_every=1, keep_checkpoints=0), TINY).run()
    return base


@pytest.fixture
def run(run_dir, tmp_path):
    shutil.copytree(run_dir, tmp_path / "run")
    return tmp_path / "run" / "data", tmp_path / "run" / "out"


def _train_args(data, out, *extra):
    return ["train", "dcgan", "--data", str(data), "--out", str(out), *TINY_ARGS, *extra]


# --- integrity: checksums, model card, finite weights ------------------------------------------
def test_a_flipped_byte_inside_a_weight_fails_the_archive_checksum(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))  # the weight's bytes
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))
    # torch itself loads the damaged weight silently: the check is needed.
    assert not torch.equal(torch.load(path, weights_only=True)["model"]["networks"]["G"]["w"], _payload()["model"]
                           ["networks"]["G"]["w"])
    pattern = r"step_00000001\.pt: damaged: the checksum \(CRC-32\) of '\S+/data/0' inside the file does not match"
    with pytest.raises(CheckpointDamagedError, match=pattern):
        load_checkpoint(path)
    card_path = path.with_suffix(".json")
    card_path.unlink()  # no card to compare with: the checksum still catches it
    with pytest.raises(CheckpointDamagedError, match="CRC-32"), trusting_changed():  # and no override
        load_checkpoint(path, trust_changed=True)


def test_zeroed_weights_beside_the_original_card_are_refused_unless_trusted(tmp_path):
    path = _saved(tmp_path)
    recorded = read_model_card(path)["checkpoint_sha256"]
    state = torch.load(path, weights_only=True)
    state["model"]["networks"]["G"]["w"].zero_()
    torch.save(state, path)  # a valid archive, changed after training; the card stays
    import hashlib

    now = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(CheckpointChangedError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "step_00000001.pt has changed since its model card step_00000001.json was written" in text
    assert f"the card records SHA-256 {recorded}, the file has SHA-256 {now}" in text
    assert "--trust-changed (API: trust_changed=True)" in text
    with pytest.raises(CheckpointChangedError):
        open_trained(path, "dcgan")
    with pytest.warns(UserWarning, match="loading it anyway"):
        assert load_checkpoint(path, trust_changed=True)["model"]["networks"]["G"]["w"].abs().sum() == 0
    with pytest.warns(UserWarning), trusting_changed():
        load_checkpoint(path)
    with trusting_changed(), pytest.raises(CheckpointChangedError):
        load_checkpoint(path, trust_changed=False)  # the explicit argument wins

    path.with_suffix(".json").write_text("{ half a card")
    with pytest.raises(CheckpointChangedError, match=r"model card step_00000001\.json is not readable JSON"):
        load_checkpoint(path)
    path.with_suffix(".json").unlink()
    load_checkpoint(path)  # no card: nothing to compare with (cards are optional)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_by_name(tmp_path, bad):
    path = _saved(tmp_path, weight=torch.full((4, 4), bad))  # its card matches: only the values are wrong
    with pytest.raises(CheckpointDamagedError, match=r"refused: tensor model\.networks\.G\.w holds NaN or infinite "
                                                      r"values \(16 of 16\)"), trusting_changed():
        load_checkpoint(path)


def test_legacy_and_malformed_files_have_their_own_messages(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save(_payload(), legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy.pt: a legacy PyTorch file .* carry no checksums"):
        load_checkpoint(legacy)
    empty_zip = tmp_path / "empty_zip.pt"
    zipfile.ZipFile(empty_zip, "w").close()
    with pytest.raises(CheckpointError, match="pickled structure is malformed") as info:
        load_checkpoint(empty_zip)
    assert "arbitrary code" not in str(info.value)  # no false alarm about code


def test_texture_model_load_of_empty_files_is_a_message(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth: not a PyTorch checkpoint .the file is empty"):
        TextureModel.load(empty)
    torch.save({"features.0.weight": torch.zeros(2)}, tmp_path / "ok.pth")
    hollow = tmp_path / "hollow.pth"  # a well-formed archive whose pickle is empty (IndexError in torch)
    with zipfile.ZipFile(tmp_path / "ok.pth") as src, zipfile.ZipFile(hollow, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"" if name.endswith("data.pkl") else src.read(name))
    with pytest.raises(CheckpointError, match="hollow.pth: not a readable PyTorch checkpoint"):
        TextureModel.load(hollow)


@pytest.mark.parametrize("config, message", [
    ("64,64", r"its configuration is a str, not a table of settings"),
    ([1, 2], r"its configuration is a list, not a table of settings"),
    ({"image_size": 7}, r"not one this version builds \(image_size 7 must be a multiple of 8"),
    ({"channels": "64"}, r"refused: its configuration is not one this version builds \(channels needs"),
])
def test_spade_with_a_bad_config_is_a_checkpoint_error(tmp_path, config, message):
    payload = {"recipe": "spade", "config": config, "step": 1, "seed": 0,
               "model": {"networks": {"G": {"w": torch.zeros(2)}}, "optimizers": {}, "extra": {}}}
    path, _ = save_checkpoint(tmp_path / "spade_bad.pt", payload, model_card({**payload, "config": {}}))
    with pytest.raises(CheckpointError, match="spade_bad.pt: .*" + message):
        SpadeRenderer.load(path)


# --- --trust-changed on the commands -----------------------------------------------------------
def test_every_checkpoint_loading_command_takes_trust_changed():
    parser = build_parser()
    for argv in (["train", "dcgan", "--data", "d", "--out", "o", "--resume"], ["export", "a.pt", "--out", "b.pt"],
                 ["spade", "render", "l.nii.gz", "--out", "m.nii.gz"], ["pggan", "sample", "--n", "1", "--out", "o"],
                 ["sage", "generate", "--n", "1", "--out", "o"],
                 ["sage", "merge", "--phi", "p", "--n", "1", "--out", "o"], ["sage", "regenerate", "s.json"]):
        assert parser.parse_args([*argv, "--trust-changed"]).trust_changed, argv
        assert not parser.parse_args(argv).trust_changed


def test_export_and_resume_refuse_a_changed_checkpoint_until_trusted(run, tmp_path, capsys):
    data, out = run
    newest = latest_checkpoint(out)
    state = torch.load(newest, weights_only=True)
    next(iter(state["model"]["networks"]["G"].values())).mul_(0.5)
    torch.save(state, newest)
    assert main(["export", str(newest), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "export: error: step_00000002.pt has changed since its model card" in err and "--trust-changed" in err
    with pytest.warns(UserWarning):
        assert main(["export", str(newest), "--out", str(tmp_path / "x.pt"), "--trust-changed"]) == 0
    assert main(_train_args(data, out, "--steps", "3", "--resume")) == 2
    assert "train: error: step_00000002.pt has changed since its model card" in capsys.readouterr().err
    assert main(_train_args(data, out, "--steps", "3", "--resume", "--trust-changed")) == 0
    assert "resuming at step 2 of 3" in capsys.readouterr().err


def test_pggan_sample_refuses_a_changed_shipped_model_until_trusted(tmp_path, capsys):
    shipped = REPO_ROOT / "models" / "pggan-labels.pt"
    path = tmp_path / "pg.pt"
    state = torch.load(shipped, weights_only=True)
    next(iter(state["model"]["networks"]["G"].values())).zero_()
    torch.save(state, path)
    shutil.copy(shipped.with_suffix(".json"), path.with_suffix(".json"))
    argv = ["pggan", "sample", "--n", "1", "--size", "64", "--no-filter", "--checkpoint", str(path)]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    assert "pggan: error: pg.pt has changed since its model card pg.json" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="loading it anyway"):
        assert main([*argv, "--out", str(tmp_path / "b"), "--trust-changed"]) == 0


# --- resume with wrong shapes --------------------------------------------------------------------
def _rewrite(path: Path, change) -> None:
    state = torch.load(path, weights_only=True)
    change(state)
    save_checkpoint(path, state, read_model_card(path))  # a fresh card: only the shapes are wrong


def test_resume_with_wrong_tensor_shapes_names_the_tensor_and_both_shapes(run, capsys):
    data, out = run
    newest = latest_checkpoint(out)
    nets = torch.load(newest, weights_only=True)["model"]["networks"]["G"]
    key = next(k for k, v in nets.items() if v.dim() >= 2)
    good = tuple(nets[key].shape)
    bad = (good[0] + 1, *good[1:])
    _rewrite(newest, lambda s: s["model"]["networks"]["G"].__setitem__(key, torch.zeros(bad)))
    assert main(_train_args(data, out, "--steps", "3", "--resume")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (f"train: error: step_00000002.pt: cannot resume from it: tensor G.{key} has shape {bad} in the "
            f"checkpoint, but the network this configuration builds needs {good}") in err


def test_resume_with_a_wrong_optimizer_state_shape_is_named(run, capsys):
    data, out = run
    newest = latest_checkpoint(out)

    def change(state):
        name, opt = next(iter(state["model"]["optimizers"].items()))
        opt["state"][0]["exp_avg"] = torch.zeros(3)
        change.name = name

    _rewrite(newest, change)
    assert main(_train_args(data, out, "--steps", "3", "--resume")) == 2
    assert (f"cannot resume from it: the {change.name} optimizer's exp_avg for parameter 0 has shape (3,) in the "
            "checkpoint") in capsys.readouterr().err


# --- one trainer per output folder ---------------------------------------------------------------
def _write_lock(out: Path, pid: int, host: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_NAME
    lock.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "2026-01-01T00:00:00",
                                "command": "napari-medsynth train dcgan", "token": "t"}))
    return lock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_trainer_on_a_running_folder_is_refused_and_the_first_keeps_its_checkpoints(run, tmp_path):
    data, _ = run
    out, log = tmp_path / "busy", tmp_path / "log.txt"
    with open(log, "w") as fh:
        first = subprocess.Popen(cli(*_train_args(data, out, "--steps", "100000", "--checkpoint-every", "1",
                                                  "--keep", "2")), env=cli_env(), stdout=fh, stderr=fh)
        try:
            deadline = time.monotonic() + 60
            while len(list_checkpoints(out)) < 2:
                assert first.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            second = Trainer("dcgan", settings(data, out, steps=100000, resume=True, keep_checkpoints=2), TINY)
            with pytest.raises(RunLockError, match=rf"busy is in use by another training run, a process: process "
                                                   rf"{first.pid} on host {socket.gethostname()}, started .* \(lock "
                                                   rf"file .*{LOCK_NAME}\)\. Wait for it to finish"):
                second.run()
            assert second.result.reason == "error"
            seen = list_checkpoints(out)[-1][0]
            while list_checkpoints(out)[-1][0] < seen + 2:  # the first run goes on writing and pruning
                assert first.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            first.send_signal(signal.SIGTERM)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
    assert first.returncode == 128 + signal.SIGTERM, log.read_text()
    assert not (out / LOCK_NAME).exists()  # released on the SIGTERM path
    found = list_checkpoints(out)
    assert len(found) == 2 and all(load_checkpoint(p)["step"] == s for s, p in found)


def test_a_live_lock_a_foreign_lock_and_this_process_are_refused(run):
    data, out = run
    before = [p.read_bytes() for _, p in list_checkpoints(out)]
    lock = _write_lock(out, os.getppid())  # a live process on this host: pytest's parent
    with pytest.raises(RunLockError, match=rf"a process: process {os.getppid()} on host .*2026-01-01"):
        Trainer("dcgan", settings(data, out, steps=3, resume=True), TINY).run()
    _write_lock(out, 4242, host="other-node-17")
    with pytest.raises(RunLockError, match=r"process 4242 on host other-node-17.*another machine.*delete the lock"):
        Trainer("dcgan", settings(data, out, steps=3, resume=True), TINY).run()
    _write_lock(out, os.getpid())
    with pytest.raises(RunLockError, match="this process"):
        Trainer("dcgan", settings(data, out, steps=3, resume=True), TINY).run()
    lock.write_text("")
    with pytest.raises(RunLockError, match="does not say who holds it .it is empty.; if no training runs"):
        Trainer("dcgan", settings(data, out, steps=3, resume=True), TINY).run()
    assert lock.exists()  # another run's lock is never removed
    assert [p.read_bytes() for _, p in list_checkpoints(out)] == before  # nothing touched


def test_a_stale_lock_is_named_and_taken_over(run, capsys):
    data, out = run
    dead = _dead_pid()
    _write_lock(out, dead)
    assert main(_train_args(data, out, "--steps", "3", "--resume")) == 0
    err = capsys.readouterr().err
    assert f"train: warning: took over the stale lock {out / LOCK_NAME} of process {dead} on host" in err
    assert "which no longer runs (it was probably killed)" in err
    assert not (out / LOCK_NAME).exists() and load_checkpoint(latest_checkpoint(out))["step"] == 3


def test_the_lock_is_released_after_a_failed_run(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="dataset folder"):
        Trainer("dcgan", settings(tmp_path / "missing", out), TINY).run()
    assert not out.exists()  # the lock's folder, made for nothing, is gone again


# --- disk full -----------------------------------------------------------------------------------
def _full_disk_for(name: str, monkeypatch) -> None:
    real = ckpt.atomic_write_bytes

    def write(path, payload):
        if name not in ("*", Path(path).name):
            return real(path, payload)
        with atomic_path(path) as tmp:  # the real write, running out of space half-way
            tmp.write_bytes(payload[:len(payload) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    monkeypatch.setattr(ckpt, "atomic_write_bytes", write)


@pytest.mark.parametrize("fails", ["step_00000004.pt", "step_00000004.json"])
def test_a_full_disk_is_a_message_and_the_last_checkpoint_survives(run, tmp_path, monkeypatch, capsys, fails):
    data, _ = run
    out = tmp_path / "full"
    _full_disk_for(fails, monkeypatch)
    assert main(_train_args(data, out, "--steps", "6", "--checkpoint-every", "2")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert ("train: error: could not write checkpoint step_00000004.pt to " in err
            and "No space left on device (the disk is full: free some space)" in err)
    newest = 2 if fails.endswith(".pt") else 4  # the .pt is written before its card
    assert (f"the newest complete checkpoint, step_0000000{newest}.pt in {out / 'checkpoints'}, is intact: continue "
            "from it with resume (CLI: --resume)") in err
    if newest == 4:
        assert "step_00000004.pt itself is complete, but has no model card" in err
    assert list_checkpoints(out)[-1][0] == newest and load_checkpoint(latest_checkpoint(out))["step"] == newest
    assert load_checkpoint(checkpoint_path(out, 2))["step"] == 2 and read_model_card(checkpoint_path(out, 2))
    assert not (out / LOCK_NAME).exists()
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_export_to_a_full_disk_is_a_message(run, tmp_path, monkeypatch, capsys):
    _, out = run
    _full_disk_for("*", monkeypatch)
    assert main(["export", str(latest_checkpoint(out)), "--out", str(tmp_path / "e.pt")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "export: error: could not write" in err and "step_00000002.pt is unchanged (the disk is full" in err


def test_every_check_works_on_the_bytes_read_once(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    reads = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self.name) or original(self))
    load_checkpoint(path)
    assert reads == [path.name]
