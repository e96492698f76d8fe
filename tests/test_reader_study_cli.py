"""`napari-medsynth study ...`: create -> export -> fill sheets -> score, merge, bad sheets, --help."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_medsynth.reader_study import ReaderSession
from napari_medsynth.reader_study.sheets import SheetError, read_answers, read_key

REPO = Path(__file__).resolve().parents[1]


def cli(*args, check=True):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "napari_medsynth.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for source in ("real", "synthetic"):
        for group in ("control", "mutated"):
            folder = root / source / group
            folder.mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(folder / f"{source}{i}.png")
    out = cli("study", "create", "--real", root / "real", "--synthetic", root / "synthetic", "--group", "control",
              "--group", "mutated", "--n", 3, "--size", 32, "--seed", 1, "--out", root / "study")
    assert "control: 3 real" in out.stdout and "answer key (keep private)" in out.stdout
    return root


def _fill(sheet, key, out, reader, policy, delimiter=","):
    """Fill an exported blank sheet the way a reader would in a spreadsheet program."""
    with open(sheet, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(out, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=rows[0].keys(), delimiter=delimiter)
        w.writeheader()
        for i, row in enumerate(rows):
            row["answer"] = policy(key[row["stimulus_id"]].source, i)
            row["reader"] = reader
            w.writerow(row)


def test_export_fill_import_round_trip(made, tmp_path):
    key_path = made / "study_key.csv"
    key = read_key(key_path)
    assert len(key) == 12
    cli("study", "export", made / "study", "--out", tmp_path / "offline")
    files = sorted(p.name for p in (tmp_path / "offline").iterdir())
    assert files == sorted([f"{sid}.png" for sid in key] + ["INSTRUCTIONS.txt", "answer_sheet.csv"])
    sheet = tmp_path / "offline" / "answer_sheet.csv"
    assert sheet.read_text().splitlines()[0] == "stimulus_id,answer,tumor_answer,reader"

    # reader "anna": always right, in every accepted spelling; reader "ben" (empty reader column,
    # semicolon-separated like a European spreadsheet): calls everything real
    spellings = {"real": ["R", "real", "r", "REAL"], "synthetic": ["F", "s", "Synthetic", "fake"]}
    _fill(sheet, key, tmp_path / "anna.csv", "anna", lambda src, i: spellings[src][i % 4])
    _fill(sheet, key, tmp_path / "ben.csv", "", lambda src, i: "Real", delimiter=";")
    out = cli("study", "score", "--key", key_path, "--answers", tmp_path / "anna.csv", tmp_path / "ben.csv",
              "--out", tmp_path / "results")
    assert "ACC" in out.stdout
    with open(tmp_path / "results" / "metrics.csv", newline="") as fh:
        rows = {(r["reader"], r["group"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {(r, g) for r in ("anna", "ben", "mean") for g in ("control", "mutated", "all")}
    for col in ("reader", "group", "n", "accuracy", "fpr", "fnr", "precision", "tumor_accuracy",
                "accuracy_ci_low", "accuracy_ci_high", "p_value", "fleiss_kappa"):
        assert col in rows[("mean", "all")]
    anna, ben, mean = rows[("anna", "control")], rows[("ben", "control")], rows[("mean", "control")]
    # anna: 3 real as real, 3 synthetic as synthetic -> ACC 1, FPR 0, FNR 0, PR 3/3
    assert [float(anna[c]) for c in ("n", "accuracy", "fpr", "fnr", "precision")] == [6, 1, 0, 0, 1]
    # ben: 3 real as real, 3 synthetic as real -> ACC 3/6, FPR 3/3, FNR 0/3, PR 3/6
    assert [float(ben[c]) for c in ("n", "accuracy", "fpr", "fnr", "precision")] == [6, 0.5, 1, 0, 0.5]
    # mean of the two readers: ACC (1 + .5)/2, FPR (0 + 1)/2, PR (1 + .5)/2; 12 pooled readings
    assert [float(mean[c]) for c in ("n", "accuracy", "fpr", "fnr", "precision")] == [12, 0.75, 0.5, 0, 0.75]
    assert anna["tumor_accuracy"] == "" and rows[("anna", "all")]["n"] == "12"
    assert (tmp_path / "results" / "confusion_matrices.png").read_bytes()[:4] == b"\x89PNG"


def test_sessions_merge_and_score_like_sheets(made, tmp_path):
    study = made / "study"
    for reader in ("r1", "r2"):
        with ReaderSession(study, reader, session_path=tmp_path / f"{reader}.jsonl") as s:
            while not s.finished:
                s.answer("real" if int(s.current) % 3 else "synthetic")
    sessions = [tmp_path / "r1.jsonl", tmp_path / "r2.jsonl"]
    out = cli("study", "merge", *sessions, "--key", made / "study_key.csv", "--out", tmp_path / "merged.csv")
    assert "24 answers from 2 reader(s)" in out.stdout
    cli("study", "score", "--key", made / "study_key.csv", "--answers", tmp_path / "merged.csv",
        "--out", tmp_path / "a")
    cli("study", "score", "--key", made / "study_key.csv", "--answers", *sessions, "--out", tmp_path / "b")
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_malformed_sheets_name_file_and_line(made, tmp_path):
    key = read_key(made / "study_key.csv")
    ids = sorted(key)
    sheet = tmp_path / "r.csv"

    def check(lines, message):
        sheet.write_text("stimulus_id,answer,tumor_answer,reader\n" + "\n".join(lines) + "\n")
        with pytest.raises(SheetError, match=message):
            read_answers([sheet], key)

    check([f"{ids[0]},R,,x", "999,R,,x"], r"r.csv line 3: stimulus 999 is not in the key")
    check([f"{ids[0]},R,,x", f"{ids[1]},maybe,,x"], r"r.csv line 3: answer 'maybe' is not real/synthetic")
    check([f"{ids[0]},R,,x", f"{ids[1]},R,,x", f"{ids[0]},F,,x"],
          r"r.csv line 4: reader 'x' answered stimulus \d+ twice \(first at r.csv line 2\)")
    check([f"{ids[0]},R,perhaps,x"], r"line 2: 'perhaps' is not yes/no")
    sheet.write_text("id,answer\n1,R\n")
    with pytest.raises(SheetError, match="missing column"):
        read_answers([sheet], key)
    sheet.write_text(f"stimulus_id,answer,tumor_answer,reader\n{ids[0]},R,,x\n{ids[1]},,,x\n")
    found = read_answers([sheet], key)
    assert len(found.answers) == 1 and any("no answer" in n for n in found.notes)
    # through the CLI: exit code 2 and the message, no traceback
    sheet.write_text(f"stimulus_id,answer,tumor_answer,reader\n{ids[0]},Q,,x\n")
    proc = cli("study", "score", "--key", made / "study_key.csv", "--answers", sheet, "--out", tmp_path / "o",
               check=False)
    assert proc.returncode == 2 and "line 2: answer 'Q'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("step", ["", "create", "export", "merge", "score"])
def test_help(step):
    out = cli(*(["study", step] if step else ["study"]), "--help")
    assert "usage: napari-medsynth study" in out.stdout


def test_score_with_confidence_writes_roc_mrmc_fooled_rates_and_report(tmp_path):
    """Synthetic images with SAGE-style sidecars (<stem>.npy + <stem>.json); three readers with
    1-5 confidences. `study score` writes the AUC columns, mrmc.csv, images.csv (fooled rate and
    provenance per image), roc_curves.png and report.md."""
    rng = np.random.default_rng(4)
    (tmp_path / "real").mkdir()
    (tmp_path / "synthetic").mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(tmp_path / "real" / f"r{i}.png")
        np.save(tmp_path / "synthetic" / f"sage_{i:05d}.npy", rng.random((24, 24)).astype(np.float32))
        (tmp_path / "synthetic" / f"sage_{i:05d}.json").write_text('{"source": "sage"}')
    cli("study", "create", "--real", tmp_path / "real", "--synthetic", tmp_path / "synthetic", "--size", 24,
        "--confidence", "--seed", 3, "--out", tmp_path / "study")
    key = read_key(tmp_path / "study_key.csv")
    ids = sorted(key)
    fooling = ids[[key[s].source for s in ids].index("synthetic")]  # every reader calls this one real
    sheet = ["stimulus_id,answer,tumor_answer,reader,confidence"]
    for reader, flips in (("anna", 0), ("ben", 1), ("cleo", 2)):
        for k, sid in enumerate(ids):
            source = key[sid].source
            right = sid != fooling and k % 5 >= flips
            answer = source if right else ("real" if source == "synthetic" else "synthetic")
            sheet.append(f"{sid},{answer},,{reader},{1 + (k + flips) % 5}")
    (tmp_path / "answers.csv").write_text("\n".join(sheet) + "\n")
    out = cli("study", "score", "--key", tmp_path / "study_key.csv", "--answers", tmp_path / "answers.csv",
              "--out", tmp_path / "results")
    assert "AUC" in out.stdout and "report.md" in out.stdout
    results = tmp_path / "results"
    with open(results / "metrics.csv", newline="") as fh:
        rows = {(r["reader"], r["group"]): r for r in csv.DictReader(fh)}
    mean = rows[("mean", "all")]
    for col in ("auc", "auc_ci_low", "auc_ci_high", "auc_p_value", "auc_binormal", "auc_se", "auc_df",
                "accuracy_se", "accuracy_df", "mrmc_cases", "rating_levels"):
        assert col in mean
    assert float(mean["auc_ci_low"]) <= float(mean["auc"]) <= float(mean["auc_ci_high"])
    assert mean["mrmc_cases"] == "10" and rows[("anna", "all")]["auc_ci_low"] != ""
    with open(results / "mrmc.csv", newline="") as fh:
        mrmc_rows = {r["fom"]: r for r in csv.DictReader(fh)}
    assert mrmc_rows["auc"]["method"] == "OR-RRRC (Hillis df)" and mrmc_rows["auc"]["n_readers"] == "3"
    assert float(mrmc_rows["auc"]["estimate"]) == pytest.approx(float(mean["auc"]), abs=1e-4)
    with open(results / "images.csv", newline="") as fh:
        images = list(csv.DictReader(fh))
    assert len(images) == 10 and images[0]["stimulus_id"] == fooling  # most fooling first
    assert images[0]["fooled_rate"] == "1.0000" and images[0]["n_called_real"] == "3"
    synthetic = [i for i in images if i["source"] == "synthetic"]
    assert all(Path(i["provenance"]).name == Path(i["origin"]).stem + ".json" for i in synthetic)
    assert all(i["provenance"] == "" and i["fooled_rate"] == "" for i in images if i["source"] == "real")
    report = (results / "report.md").read_text()
    assert "![ROC curves per group](roc_curves.png)" in report and "Obuchowski" in report and fooling in report
    assert (results / "roc_curves.png").read_bytes()[:4] == b"\x89PNG"
