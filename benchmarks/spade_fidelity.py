"""Fidelity of the SPADE label -> MR renderer on held-out BraTS patients, at the scan's own resolution.

    python benchmarks/spade_fidelity.py --store STORE [--checkpoint models/spade.pt]
        [--held-out Brats18_CBICA_AME_1,Brats18_TCIA02_606_1,Brats18_TCIA10_639_1] [--turing-steps 300]

STORE is a slice store of the BraTS 2018 training cases (``napari-medsynth dataset build
../shared/data/brats2018-train --out STORE --normalize brain``); the held-out cases must not be
among the checkpoint's training cases (the script refuses them when the model card says they were).
For every stored axial slice of the held-out cases whose label map covers at least 2 % of it,
the real slice (each sequence scaled per volume to its brain's 0.5-99.5 percentiles, as training
saw it, in [0, 1]) is compared with the render of its 7-class map in the **mean style** (style
code z = 0: nothing of the real image is used) on the same 240 x 240, 1 mm grid. Both have the
background (class 0) at exactly 0.

* SSIM (scikit-image, data_range 1, 7 x 7 window) of each render against its real slice: over the
  whole slice (the usual figure; the identical black background flatters it) and averaged over
  brain pixels only.
* Edge sharpness: mean Sobel gradient magnitude inside the brain (eroded by 3 px, so the brain
  outline, identical in both, does not count); render / real.
* Per-class intensity spread: per slice and class (>= 30 pixels), std of the render / std of the
  real slice within the class; the median ratio per class.
* Enhancing-tumor / WM contrast on T1-Gd: per case, mean(ET) / mean(WM) of the render over that of
  the real scan (cases with ET only).
* Machine Turing test (:func:`napari_medsynth.evaluate.turing.machine_turing_test`; whole 240 x 240
  slices, or ``--turing-patch`` px crops that are at least half brain, in training and in testing):
  a fresh CNN learns real vs render on two patients and is scored on the third, once with each
  patient held out; accuracy and AUC per fold and the mean accuracy. ``--turing-only`` reruns just
  this test and keeps the other saved numbers.

Writes docs/spade_fidelity.md and the contact sheets docs/spade_fidelity_sheet.png (real | render |
map, every sequence, one tumor slice per case, 1 mm per pixel) and docs/spade_fidelity_zoom.png
(cortex and tumor windows enlarged 3x by pixel repetition for viewing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name  # noqa: E402

from napari_medsynth.data.store import SliceStore  # noqa: E402
from napari_medsynth.io.atomic import atomic_write_text  # noqa: E402
from napari_medsynth.labels import COMPLETE7  # noqa: E402
from napari_medsynth.spade import SpadeRenderer  # noqa: E402

HELD_OUT = "Brats18_CBICA_AME_1,Brats18_TCIA02_606_1,Brats18_TCIA10_639_1"
CLASS_NAMES = {c.value: c.name.split(" ")[0] for c in COMPLETE7}
NAMES = {"t1": "T1", "t1ce": "T1-Gd", "t2": "T2", "flair": "FLAIR"}
MIN_PIXELS = 30
GOALS = {"ssim": 0.75, "sharpness": 0.9, "spread": (0.7, 1.4), "contrast": (0.8, 1.25), "turing": 0.70}


def held_out_slices(store: SliceStore, case: str, min_fraction: float = 0.02):
    idx = store.slices([case])
    idx = idx[store.fraction("label_px")[idx] >= min_fraction]
    real = np.stack([(store.images(int(g)).astype(np.float32) + 1) / 2 for g in idx])
    labels = np.stack([store.labels7(int(g)) for g in idx])
    real[np.repeat(labels[:, None] == 0, real.shape[1], 1)] = 0.0
    return np.clip(real, 0, 1), labels, store.index["z"][idx]


def ssim_maps(fake: np.ndarray, real: np.ndarray) -> tuple[float, np.ndarray]:
    from skimage.metrics import structural_similarity

    value, full = structural_similarity(fake, real, data_range=1.0, full=True)
    return float(value), full


def sharpness(image: np.ndarray, inside: np.ndarray) -> float:
    from scipy import ndimage

    gy, gx = ndimage.sobel(image, 0), ndimage.sobel(image, 1)
    return float(np.hypot(gx, gy)[inside].mean()) if inside.any() else float("nan")


def measure(real: np.ndarray, fake: np.ndarray, labels: np.ndarray, modalities: list[str]) -> dict:
    from scipy import ndimage

    out = {}
    inner = np.stack([ndimage.binary_erosion(lab > 0, iterations=3) for lab in labels])
    for m, name in enumerate(modalities):
        ssim_all, ssim_brain, sharp_r, sharp_f, spread = [], [], [], [], {c: [] for c in range(1, 7)}
        for i in range(len(labels)):
            r, f, lab = real[i, m], fake[i, m], labels[i]
            value, full = ssim_maps(f, r)
            ssim_all.append(value)
            ssim_brain.append(float(full[lab > 0].mean()))
            sharp_r.append(sharpness(r, inner[i]))
            sharp_f.append(sharpness(f, inner[i]))
            for c in range(1, 7):
                sel = lab == c
                if sel.sum() >= MIN_PIXELS and r[sel].std() > 1e-4:
                    spread[c].append(f[sel].std() / r[sel].std())
        ok = np.isfinite(sharp_r) & np.isfinite(sharp_f)
        out[name] = {"ssim": float(np.mean(ssim_all)), "ssim_brain": float(np.mean(ssim_brain)),
                     "sharpness": float(np.sum(np.array(sharp_f)[ok]) / np.sum(np.array(sharp_r)[ok])),
                     "spread": {CLASS_NAMES[c]: (float(np.median(v)) if v else None) for c, v in spread.items()},
                     "n": len(labels)}
    return out


def et_wm_contrast(real: np.ndarray, fake: np.ndarray, labels: np.ndarray, channel: int) -> float | None:
    et, wm = labels == 3, labels == 4
    if et.sum() < 50:
        return None
    r, f = real[:, channel], fake[:, channel]
    return float((f[et].mean() / f[wm].mean()) / (r[et].mean() / r[wm].mean()))


def sheet(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    h = max(im.shape[0] for row in rows for im in row)
    w = max(im.shape[1] for row in rows for im in row)
    ncol = max(len(r) for r in rows)
    out = np.ones((len(rows) * (h + gap) - gap, ncol * (w + gap) - gap), np.float32)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            out[i * (h + gap):i * (h + gap) + im.shape[0], j * (w + gap):j * (w + gap) + im.shape[1]] = im
    return out


def label_image(lab: np.ndarray) -> np.ndarray:
    grey = np.array([0, 0.35, 0.55, 1.0, 0.8, 0.6, 0.2], np.float32)  # NCR, ED, ET, WM, GM, CSF
    return grey[lab]


def save_grey(path: Path, image: np.ndarray) -> None:
    from napari_medsynth.train.previews import save_png

    save_png(path, image[None] * 2 - 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--report-only", action="store_true", help="rewrite the report from the saved JSON")
    p.add_argument("--store", required=False)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--held-out", default=HELD_OUT)
    p.add_argument("--turing-steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--skip-turing", action="store_true")
    p.add_argument("--turing-only", action="store_true",
                   help="rerun only the machine Turing test; the other numbers and the sheets stay as saved")
    p.add_argument("--turing-sequences", default="t1ce,flair", help="sequences of the machine Turing test")
    p.add_argument("--turing-patch", type=int, default=0,
                   help="side of the random crops the Turing classifier sees (0: the whole 240 x 240 slice)")
    args = p.parse_args(argv)
    if args.report_only:
        card = json.loads((Path(args.out) / "spade_fidelity.json").read_text())
        write_report(Path(args.out), card, list(card["metrics"]))
        return 0

    import torch

    torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    renderer = SpadeRenderer.load(args.checkpoint)
    trained_on = set(str(renderer.config.include).split(",")) - {""}
    excluded = set(str(renderer.config.exclude).split(",")) - {""}
    cases = [c.strip() for c in args.held_out.split(",") if c.strip()]
    leaked = [c for c in cases if c not in excluded or c in trained_on]
    if leaked:
        raise SystemExit(f"{', '.join(leaked)}: not excluded from the checkpoint's training; no held-out numbers")
    store = SliceStore.open(args.store)
    mods = renderer.modalities
    if list(store.modalities) != mods:
        raise SystemExit(f"the store holds {store.modalities}, the renderer renders {mods}")

    per_case, reals, fakes, labs, groups = {}, [], [], [], []
    t0 = time.perf_counter()
    for k, case in enumerate(cases):
        real, labels, _ = held_out_slices(store, case)
        fake = np.stack(renderer.render_many(list(labels), None, modality="all"))
        per_case[case] = {"slices": len(labels),
                          "et_wm": et_wm_contrast(real, fake, labels, mods.index("t1ce"))}
        reals.append(real)
        fakes.append(fake)
        labs.append(labels)
        groups.append(np.full(len(labels), k))
        print(f"{case}: {len(labels)} slices rendered", flush=True)
    render_s = time.perf_counter() - t0
    real, fake, labels, group = (np.concatenate(a) for a in (reals, fakes, labs, groups))
    saved = json.loads((out_dir / "spade_fidelity.json").read_text()) if args.turing_only else None
    if saved is not None and (saved["sha256"] != renderer.sha256 or saved["held_out"] != cases):
        raise SystemExit("--turing-only: the saved report is of another checkpoint or other held-out cases")
    results = saved["metrics"] if saved is not None else measure(real, fake, labels, mods)
    print(json.dumps(results, indent=1))

    turing = {}
    if not args.skip_turing:
        from napari_medsynth.evaluate.turing import machine_turing_test

        for name in [m.strip() for m in args.turing_sequences.split(",") if m.strip()]:
            c = mods.index(name)
            folds = []
            for k in range(len(cases)):
                # one patient held out per fold: train on the others' slices, test on this one's
                res = _turing_fold(machine_turing_test, real[:, c], fake[:, c], group, k, args)
                folds.append(res)
                print(f"Turing {name} fold {cases[k]}: {res}", flush=True)
            turing[name] = folds

    if saved is not None:
        per_case = saved["per_case"]
    card = {"checkpoint": str(renderer.path), "sha256": renderer.sha256, "step": renderer.step,
            "held_out": cases, "per_case": per_case, "metrics": results, "turing": turing,
            "render_seconds": render_s, "n_slices": int(len(labels)),
            "machine": f"{cpu_name()}, {os.cpu_count()} cores, {args.threads} torch thread(s)"}
    atomic_write_text(out_dir / "spade_fidelity.json", json.dumps(card, indent=1) + "\n")
    write_report(out_dir, card, mods)
    if saved is None:
        make_sheets(out_dir, real, fake, labels, group, cases, mods)
    return 0


def _turing_fold(test, real, fake, group, k, args) -> dict:
    """One fold of the whole-slice machine Turing test with patient ``k`` as the test set."""
    patch = args.turing_patch or real.shape[-1]
    res = test(real, fake, patch=patch, steps=args.turing_steps, seed=0, threads=args.threads,
               real_groups=group, fake_groups=group, test_groups=[k], batch_size=16 if patch > 128 else 32, width=8)
    # the share of test images called real: 0 or 1 means one answer for all (nothing learnt, or a
    # patient shift the 0.5 threshold does not survive; the AUC tells which)
    return {"accuracy": res.accuracy, "ci": [res.ci_low, res.ci_high], "p": res.p_value, "n_test": res.statistics.n,
            "steps": res.steps, "patch": patch, "called_real": res.called_real, "auc": res.auc,
            "crops": "on the brain (>= 50 % foreground)"}


def _turing_options(card: dict) -> str:
    if not card.get("turing"):
        return " --skip-turing"
    first = card["turing"][next(iter(card["turing"]))][0]
    patch = "" if first["patch"] >= 240 else f" --turing-patch {first['patch']}"
    return f"{patch} --turing-steps {first['steps']}"


def _fmt_range(value, goal) -> str:
    if value is None:
        return "n/a"
    lo, hi = goal
    return f"{value:.2f} {'✓' if lo <= value <= hi else '✗'}"


def write_report(out_dir: Path, card: dict, mods: list[str]) -> None:
    m = card["metrics"]
    lines = [
        "# SPADE label → MR fidelity on held-out BraTS patients (native 1 mm, 240 × 240)",
        "",
        f"Produced by `python benchmarks/spade_fidelity.py --store STORE{_turing_options(card)}` with checkpoint "
        f"`{Path(card['checkpoint']).name}` "
        f"(sha256 `{card['sha256'][:12]}`, step {card['step']}). Held-out patients (never trained on): "
        f"{', '.join(card['held_out'])} ({card['n_slices']} slices with ≥ 2 % labelled pixels). Renders use the "
        "mean style (nothing of the real image); label maps are the automatic `labels7` maps of the held-out cases "
        "(expert BraTS tumor labels + the tissue step), so their anatomy is the real one. Machine: "
        f"{card['machine']}; rendering all slices and sequences took {card['render_seconds']:.0f} s.",
        "",
        "| sequence | SSIM whole slice (goal ≥ 0.75) | SSIM brain only | edge sharpness render/real (goal ≥ 0.9) "
        "| spread NCR | ED | ET | WM | GM | CSF (goal 0.7–1.4) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in mods:
        r = m[name]
        cells = " | ".join(_fmt_range(v, GOALS["spread"]) for v in r["spread"].values())  # classes 1-6 in order
        lines.append(f"| {NAMES[name]} | {r['ssim']:.3f} {'✓' if r['ssim'] >= GOALS['ssim'] else '✗'} | "
                     f"{r['ssim_brain']:.3f} | {r['sharpness']:.2f} "
                     f"{'✓' if r['sharpness'] >= GOALS['sharpness'] else '✗'} "
                     f"| {cells} |")
    lines += ["", "Enhancing tumor / WM contrast on T1-Gd, render over real (goal 0.8–1.25):", ""]
    for case, pc in card["per_case"].items():
        lines.append(f"- {case}: {_fmt_range(pc['et_wm'], GOALS['contrast']) if pc['et_wm'] is not None else 'no ET'}")
    if card["turing"]:
        first = card["turing"][next(iter(card["turing"]))][0]
        seen = "whole 240 × 240 slices" if first["patch"] >= 240 else f"random {first['patch']} px crops of the slices"
        if "auc" in first:
            seen += " on the brain (crops at least half brain, in training and in testing)"
        lines += ["", f"Machine Turing test, the CNN seeing {seen} (goal ≤ 0.70; one patient tested per fold, "
                  "the other two train a fresh CNN; accuracy with its 95 % interval, then"
                  + (" the AUC (chance that a real slice scores above a render, free of the 0.5 threshold) and"
                     if "auc" in first else "")
                  + " the share of test images the CNN called real — 0 or 1 means one answer for all):", "",
                  "| sequence | " + " | ".join(card["held_out"]) + " | result |",
                  "|---|" + "---|" * (len(card["held_out"]) + 1)]
        for name, folds in card["turing"].items():
            learnt = [f for f in folds if 0.02 < f["called_real"] < 0.98]  # one answer for all: learnt nothing
            cells = " | ".join(f"{f['accuracy']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}], "
                               + (f"AUC {f['auc']:.2f}, " if "auc" in f else "") + f"{f['called_real']:.2f}"
                               for f in folds)
            if len(learnt) < len(folds):
                verdict = f"inconclusive: {len(folds) - len(learnt)} of {len(folds)} classifiers learnt nothing"
            else:
                mean = float(np.mean([f["accuracy"] for f in folds]))
                verdict = f"{mean:.2f} {'✓' if mean <= GOALS['turing'] else '✗'}"
            if "auc" in folds[0]:
                verdict += f" (mean AUC {np.mean([f['auc'] for f in folds]):.2f})"
            lines.append(f"| {NAMES[name]} | {cells} | {verdict} |")
        steps = card["turing"][next(iter(card["turing"]))][0]["steps"]
        lines += ["", f"Each classifier trained {steps} steps (a short run can miss subtle differences). A fold counts "
                  "only where its classifier learnt something (it called some but not all test images real); the "
                  "goal is met only when every fold learnt and the mean accuracy is at most 0.70."]
    lines += ["", "![real | render | map](spade_fidelity_sheet.png)", "",
              "Rows: one tumor slice of each held-out patient; columns: real T1, render T1, real T1-Gd, render T1-Gd, "
              "real T2, render T2, real FLAIR, render FLAIR, label map. 1 mm per pixel, nothing resized.", "",
              "![zooms](spade_fidelity_zoom.png)", "",
              "Zooms (3× pixel repetition for viewing): per patient, a cortex window and a tumor window of T1-Gd and "
              "FLAIR, real then render.", ""]
    atomic_write_text(out_dir / "spade_fidelity.md", "\n".join(lines))


def make_sheets(out_dir: Path, real, fake, labels, group, cases, mods) -> None:
    rows, zooms = [], []
    for k in range(len(cases)):
        sel = np.flatnonzero(group == k)
        tumor = np.array([(labels[i] == 3).sum() + (labels[i] == 1).sum() + 0.3 * (labels[i] == 2).sum() for i in sel])
        i = int(sel[int(np.argmax(tumor))])
        row = []
        for m in range(len(mods)):
            row += [real[i, m], fake[i, m]]
        rows.append(row + [label_image(labels[i])])
        ty, tx = np.argwhere(np.isin(labels[i], (1, 2, 3))).mean(0).astype(int)
        gy, gx = _cortex_point(labels[i])
        for (cy, cx) in ((gy, gx), (ty, tx)):
            y0, x0 = int(np.clip(cy - 32, 0, 240 - 64)), int(np.clip(cx - 32, 0, 240 - 64))
            zrow = []
            for name in ("t1ce", "flair"):
                c = mods.index(name)
                for im in (real[i, c], fake[i, c]):
                    zrow.append(np.kron(im[y0:y0 + 64, x0:x0 + 64], np.ones((3, 3), np.float32)))
            zooms.append(zrow)
    save_grey(out_dir / "spade_fidelity_sheet.png", sheet(rows))
    save_grey(out_dir / "spade_fidelity_zoom.png", sheet(zooms))


def _cortex_point(lab: np.ndarray) -> tuple[int, int]:
    """A point on the cortex ribbon away from the tumor: the GM pixel farthest from tumor classes."""
    from scipy import ndimage

    gm = lab == 5
    tumor = np.isin(lab, (1, 2, 3))
    dist = ndimage.distance_transform_edt(~tumor) if tumor.any() else np.ones(lab.shape)
    score = np.where(gm, ndimage.uniform_filter(gm.astype(float), 31) * np.minimum(dist, 60), -1)
    y, x = np.unravel_index(np.argmax(score), lab.shape)
    return int(y), int(x)


if __name__ == "__main__":
    raise SystemExit(main())
