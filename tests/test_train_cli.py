"""``napari-medsynth train`` as a user runs it: a subprocess that can be killed or interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from train_helpers import REPO_ROOT, TINY, cli, cli_env, make_dataset

from napari_medsynth.train import latest_checkpoint, list_checkpoints, load_checkpoint, read_model_card

TINY_ARGS = [a for k, v in TINY.items() if k != "batch_size" for a in ("--set", f"{k}={v}")] + \
            ["--batch-size", str(TINY["batch_size"]), "--device", "cpu"]


def _train(data, out, *extra):
    return cli("train", "dcgan", "--data", str(data), "--out", str(out), *TINY_ARGS, *extra)


def _wait_for_checkpoints(out, n, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while len(list_checkpoints(out)) < n:
        assert proc.poll() is None, "training ended before it could be interrupted"
        assert time.monotonic() < deadline, f"no {n} checkpoints after {timeout} s"
        time.sleep(0.02)


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data")


def test_cli_trains_writes_checkpoints_previews_and_cards(data, tmp_path):
    out = tmp_path / "out"
    res = subprocess.run(_train(data, out, "--steps", "4", "--checkpoint-every", "2", "--preview-every", "2"),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "training on cpu (fp32, 1 process(es)), 12 images" in res.stderr
    assert "finished at step 4" in res.stderr
    assert [s for s, _ in list_checkpoints(out)] == [2, 4]
    assert sorted(p.name for p in (out / "previews").iterdir()) == [
        "step_00000001.png", "step_00000002.png", "step_00000004.png"]
    card = read_model_card(latest_checkpoint(out))
    assert card["recipe"] == "dcgan" and card["step"] == 4 and card["config"]["width"] == TINY["width"]
    assert set(card["metrics"]) == {"loss_d", "loss_g", "d_real", "d_fake"}


def test_sigkill_mid_run_leaves_loadable_checkpoints_and_resume_continues(data, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen(_train(data, out, "--steps", "100000", "--checkpoint-every", "1",
                                       "--preview-every", "0", "--keep", "0"),
                                env=cli_env(), stdout=fh, stderr=fh)
        try:
            _wait_for_checkpoints(out, 4, proc)
        finally:
            proc.send_signal(signal.SIGKILL)  # checkpoints are written every step: likely mid-write
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    found = list_checkpoints(out)
    for step, path in found:  # every complete-looking file is complete
        assert load_checkpoint(path)["step"] == step
    last = found[-1][0]
    assert read_model_card(found[-2][1])["step"] == found[-2][0]

    res = subprocess.run(_train(data, out, "--steps", str(last + 2), "--resume", "--preview-every", "0"),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"resuming at step {last} of {last + 2}" in res.stderr
    assert load_checkpoint(latest_checkpoint(out))["step"] == last + 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_at_the_end_of_the_step_with_a_checkpoint(data, tmp_path, sig):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen(_train(data, out, "--steps", "100000", "--checkpoint-every", "1000",
                                       "--preview-every", "0"), env=cli_env(), stdout=fh, stderr=fh)
        try:
            deadline = time.monotonic() + 60
            while "step/s" not in log.read_text():  # tqdm has shown a rate: steps are running
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            proc.send_signal(sig)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert proc.returncode == 128 + sig, text
    assert f"{signal.Signals(sig).name}: stopping after the current step" in text
    stopped = int(text.split("stopped at step ")[1].split(";")[0])
    assert 0 < stopped < 1000
    assert [s for s, _ in list_checkpoints(out)] == [stopped]


def test_cli_errors_are_messages_not_tracebacks(data, tmp_path):
    res = subprocess.run(_train(tmp_path / "missing", tmp_path / "out"), env=cli_env(),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "train: error: dataset folder" in res.stderr and "does not exist" in res.stderr
    res = subprocess.run(cli("train", "dcgan", "--data", str(data), "--out", str(tmp_path / "o"), "--set", "width"),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--set expects KEY=VALUE, got 'width'" in res.stderr


def test_two_process_gloo_ddp(data, tmp_path):
    base = tmp_path / "ranks"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO_ROOT / "tests" / "ddp_entry.py"), str(base),
           "train", "dcgan", "--data", str(data), "--out", "run", *TINY_ARGS,
           "--steps", "4", "--checkpoint-every", "2", "--preview-every", "2"]
    res = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=150)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "training on cpu (fp32, 2 process(es))" in res.stderr
    assert res.stderr.count("finished at step 4") == 1  # one rank logs

    out = base / "rank0" / "run"
    assert [s for s, _ in list_checkpoints(out)] == [2, 4]
    assert (out / "previews").is_dir()
    rank1 = base / "rank1"
    assert rank1.is_dir() and not any(rank1.iterdir())  # rank 1 ran (it made its folder) but wrote nothing

    state = load_checkpoint(latest_checkpoint(out))
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert not state["rng"][0]["torch"].equal(state["rng"][1]["torch"])  # two processes, own noise each
    card = json.loads(latest_checkpoint(out).with_suffix(".json").read_text())
    assert card["world_size"] == 2 and card["replicas_in_sync"] is True
