"""How real are a pggan-labels checkpoint's maps? 500 maps against the real maps, in numbers and pictures.

    python benchmarks/pggan_label_stats.py --store STORE --holdout CASE,CASE,CASE \\
        [--checkpoint PT] [--n 500] [--history RUN/checkpoints] [--log RUN/train.log]

STORE is the slice store the checkpoint was trained on (``napari-medsynth store build``); the
training cases are the store's cases minus the checkpoint's ``exclude`` setting (or its
``include``), and ``--holdout`` names patients the generator never saw. Everything is compared
at the generator's native size (``--n`` maps of seed 0, not picked):

* the Z-score filter (Foroozandeh & Eklund §3.4) against the training maps: the size-matched
  filter (the CLI default; threshold chosen on the real maps: the one 99 % of them pass) and the
  paper's (threshold 500 at 256 px, scaled), each with its pass rate per brain-size bin, for the
  generated maps and for the held-out real maps;
* tumor presence (Fisher's exact test) and tumor area, brain area and sub-region make-up (two-sample
  KS tests), each also for held-out vs training real maps, the spread between real patients;
* class fractions (generated / real);
* anatomy: maps with ventricles (CSF inside the brain, not touching its outline), with both
  hemispheres (left/right brain area ratio >= 0.8), the share of WM outline that is covered by GM
  (a cortical ribbon), tumor components per tumor map.

Writes docs/pggan_label_stats.{md,json}, docs/pggan_label_maps.png (real held-out maps above the
first generated ones, discarded ones framed) and docs/pggan_to_spade.png (generated maps at 256
px, logits upsampled, rendered by the shipped SPADE, next to a real held-out slice). With
``--history`` every checkpoint in the folder at the full size (fade-in done) is also filtered on
200 maps of seed 1 (seed 1, so
that choosing a checkpoint does not flatter the seed-0 numbers); with ``--log`` the training
curves go to docs/pggan_training.png.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from napari_medsynth.data.store import SliceStore, select_case_ids  # noqa: E402
from napari_medsynth.pggan.cleaning import filter_label_maps, real_label_maps, report_dict  # noqa: E402
from napari_medsynth.pggan.figures import colorize  # noqa: E402
from napari_medsynth.pggan.sample import LabelMapSampler  # noqa: E402

TUMOR = (1, 2, 3)
NAMES = ["BG", "NCR/NET", "ED", "ET", "WM", "GM", "CSF"]


# --- measures ---------------------------------------------------------------------------------
def class_fractions(maps: np.ndarray) -> np.ndarray:
    return np.bincount(maps.ravel(), minlength=7) / maps.size


def tumor_pixels(maps: np.ndarray) -> np.ndarray:
    return np.isin(maps, TUMOR).reshape(len(maps), -1).sum(1)


def anatomy(maps: np.ndarray, min_tumor: int) -> dict[str, np.ndarray]:
    """Per-map anatomy measures."""
    s8 = np.ones((3, 3), bool)
    out = {k: [] for k in ("ventricles", "hemispheres", "wm_covered_by_gm", "tumor_components")}
    for m in maps:
        brain = m > 0
        outside = ndimage.binary_dilation(~brain, s8)
        csf, n = ndimage.label(m == 6, s8)
        inner = 0
        if n:
            touching = set(np.unique(csf[outside & (csf > 0)]))
            sizes = ndimage.sum_labels(np.ones_like(csf), csf, np.arange(1, n + 1))
            inner = sum(1 for i, sz in enumerate(sizes, 1) if i not in touching and sz >= 3)
        out["ventricles"].append(inner > 0)
        half = m.shape[1] // 2
        left, right = brain[:, :half].sum(), brain[:, half:].sum()
        out["hemispheres"].append(min(left, right) / max(left, right, 1) >= 0.8)
        wm = m == 4
        edge = wm & ~ndimage.binary_erosion(wm, s8)
        ring = ndimage.binary_dilation(edge, s8) & ~wm
        out["wm_covered_by_gm"].append((m[ring] == 5).mean() if ring.any() else np.nan)
        tumor = np.isin(m, TUMOR)
        out["tumor_components"].append(ndimage.label(tumor, s8)[1] if tumor.sum() >= min_tumor else np.nan)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def ks(a, b) -> dict:
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return {"D": None, "p": None, "n": [len(a), len(b)]}
    r = stats.ks_2samp(a, b)
    return {"D": round(float(r.statistic), 3), "p": float(f"{r.pvalue:.3g}"), "n": [len(a), len(b)]}


def presence_test(a: np.ndarray, b: np.ndarray) -> dict:
    table = [[int(a.sum()), int((~a).sum())], [int(b.sum()), int((~b).sum())]]
    return {"p": float(f"{stats.fisher_exact(table)[1]:.3g}")}


def describe(maps: np.ndarray, pixel_mm: float, min_tumor: int) -> dict:
    px = tumor_pixels(maps)
    has = px >= min_tumor
    tum = maps[has]
    sub = (np.stack([(tum == c).reshape(len(tum), -1).sum(1) for c in TUMOR], 1) / px[has, None]
           if has.any() else np.zeros((0, 3)))
    return {"n": len(maps), "fractions": class_fractions(maps), "has_tumor": has,
            "tumor_area_mm2": px[has] * pixel_mm ** 2, "brain_area_mm2": (maps > 0).reshape(len(maps), -1).sum(1)
            * pixel_mm ** 2, "subregions": sub, "anatomy": anatomy(maps, min_tumor)}


# --- figures ----------------------------------------------------------------------------------
def maps_figure(real: np.ndarray, fake: np.ndarray, discarded: set[int], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from napari_medsynth.labels import COMPLETE7

    cols, rows = 8, 6
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.0, rows * 2.0 + 1.0))
    for row in range(rows):
        for col in range(cols):
            ax = axes[row, col]
            ax.set_xticks([]), ax.set_yticks([])
            if row < 2:
                ax.imshow(colorize(real[row * cols + col]), interpolation="nearest")
            else:
                i = (row - 2) * cols + col
                ax.imshow(colorize(fake[i]), interpolation="nearest")
                for spine in ax.spines.values():
                    spine.set_edgecolor("magenta" if i in discarded else "white")
                    spine.set_linewidth(3 if i in discarded else 0.5)
        axes[row, 0].set_ylabel("real (held out)" if row < 2 else "PGGAN", fontsize=10)
    handles = [Patch(color=c.color, label=c.name.split(" (")[0]) for c in COMPLETE7[1:]]
    handles.append(Patch(facecolor="white", edgecolor="magenta", linewidth=2, label="discarded by the filter"))
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=9, frameon=False, labelcolor="white")
    fig.suptitle(title, fontsize=11, color="white")
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    fig.savefig(path, dpi=100, facecolor="#404040")
    plt.close(fig)


def pipeline_figure(sampler, maps256: np.ndarray, real_map: np.ndarray, real_mr: dict, path: Path) -> None:
    """Generated maps (256 px, logits upsampled) rendered by the shipped SPADE, beside a real slice."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_medsynth.spade.render import SpadeRenderer

    renderer = SpadeRenderer.load()
    shown = ("t1ce", "flair")
    idx = [renderer.modalities.index(m) for m in shown]
    cols = [("real (held out)", real_map, [real_mr[m] for m in shown])]
    for i, m in enumerate(maps256):
        images = renderer.render_all(m, style_seed=i)
        cols.append((f"PGGAN map {i}", m, [images[j] for j in idx]))
    fig, axes = plt.subplots(3, len(cols), figsize=(3.0 * len(cols), 9.2))
    for c, (name, lab, mr) in enumerate(cols):
        axes[0, c].imshow(colorize(lab), interpolation="nearest")
        axes[0, c].set_title(name, color="white", fontsize=10)
        for r, img in enumerate(mr, 1):
            axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for r, label in enumerate(["label map", "T1-Gd", "FLAIR"]):
        axes[r, 0].set_ylabel(label, color="white")
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"PGGAN label maps ({sampler.size} px native, logits upsampled to 256 px, 1 mm) rendered "
                 "by the shipped SPADE, first maps of seed 0", color="white", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100, facecolor="#202020")
    plt.close(fig)


def loss_curves(log: Path, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pattern = re.compile(r"(\d+)/\d+ \[[^\]]*loss_d=([-\d.e+]+), loss_g=([-\d.e+]+), wasserstein=([-\d.e+]+), "
                         r"gp=([-\d.e+]+), resolution=(\d+), alpha=([-\d.e+]+)")
    rows = {}
    for m in pattern.finditer(log.read_text(errors="replace").replace("\r", "\n")):
        rows[int(m.group(1))] = [float(g) for g in m.groups()[1:]]
    steps = np.array(sorted(rows))
    vals = np.array([rows[s] for s in steps])
    fig, ax = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    ax[0].plot(steps, vals[:, 2], lw=0.8, label="critic's Wasserstein estimate E[D(real)] - E[D(fake)]")
    ax[0].plot(steps, vals[:, 0], lw=0.8, alpha=0.7, label="critic loss (with GP and drift)")
    ax[0].legend(fontsize=8)
    ax[1].plot(steps, vals[:, 4], color="k", lw=1, label="resolution (px)")
    ax[1].set_ylabel("px")
    ax[1].set_yscale("log", base=2)
    ax1b = ax[1].twinx()
    ax1b.plot(steps, vals[:, 5], color="tab:orange", lw=0.8, label="fade-in alpha")
    ax1b.set_ylabel("alpha")
    ax[1].set_xlabel("step (16 maps each)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"loss curves from {len(steps)} logged steps -> {path}")


# --- report -----------------------------------------------------------------------------------
def _pct(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _bins_table(rows_by_set: dict[str, list[dict]]) -> list[str]:
    names = list(rows_by_set)
    first = rows_by_set[names[0]]
    lines = ["| brain area (fraction of canvas) | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for b, row in enumerate(first):
        cells = []
        for n in names:
            r = rows_by_set[n][b]
            cells.append(f"{_pct(r['kept'])} of {r['n']}" if r["kept"] is not None else f"— of {r['n']}")
        lines.append(f"| {row['size_from']:.3f}–{row['size_to']:.3f} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True, help="slice store the checkpoint was trained on")
    p.add_argument("--holdout", required=True, help="comma-separated held-out case ids")
    p.add_argument("--checkpoint", help="pggan-labels checkpoint (default: shipped)")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--history", help="folder of checkpoints to filter too (200 maps of seed 1 each)")
    p.add_argument("--log", help="console log of the training run, for the loss curves")
    p.add_argument("--docs", default=str(REPO / "docs"))
    p.add_argument("--no-figures", dest="figures", action="store_false")
    args = p.parse_args()
    docs = Path(args.docs)
    started = time.perf_counter()

    sampler = LabelMapSampler.load(args.checkpoint)
    size = sampler.size
    pixel_mm = 256.0 / size
    min_tumor = max(1, round(4 * (size / 128) ** 2))  # 16 mm^2: smaller is a speck, not a tumor
    store = SliceStore.open(args.store)
    cfg = sampler.card.get("config") or {}
    held = select_case_ids(store.cases, args.holdout)
    train = select_case_ids(store.cases, cfg.get("include", ""), cfg.get("exclude", ""))
    if set(held) & set(train):
        raise SystemExit(f"held-out case(s) {sorted(set(held) & set(train))} were in the training data")
    real, real_cases = real_label_maps(args.store, size, include=",".join(train), with_cases=True)
    heldout = real_label_maps(args.store, size, include=",".join(held))
    maps = sampler.sample(args.n, seed=0)
    print(f"checkpoint {sampler.path} (step {sampler.card.get('step')}, native {size} px); {len(real)} training "
          f"maps of {len(train)} cases, {len(heldout)} held-out maps of {len(held)} cases, {len(maps)} generated")

    fair = filter_label_maps(maps, real, real_cases=real_cases)
    fair_held = filter_label_maps(heldout, real, real_cases=real_cases)
    paper = filter_label_maps(maps, real, method="paper")
    paper_held = filter_label_maps(heldout, real, method="paper")
    info = report_dict(fair)
    held_info = report_dict(fair_held)
    from napari_medsynth.metrics.cleaning import foreground_fraction, pass_rate_by_size
    edges = fair.edges
    paper_bins = {"generated": pass_rate_by_size(foreground_fraction(maps), paper.keep, edges),
                  "held-out real": pass_rate_by_size(foreground_fraction(heldout), paper_held.keep, edges),
                  "training real": pass_rate_by_size(foreground_fraction(real), paper.real_norms <= paper.threshold,
                                                     edges)}
    fair_bins = {"generated": info["kept_by_brain_size"], "held-out real": held_info["kept_by_brain_size"],
                 "training real (own patient left out)": info["real_kept_by_brain_size"]}

    d_real, d_held, d_gen = (describe(x, pixel_mm, min_tumor) for x in (real, heldout, maps))
    results = {
        "checkpoint": sampler.path, "checkpoint_sha256": sampler.sha256, "step": sampler.card.get("step"),
        "native_size": size, "pixel_mm": pixel_mm, "n_generated": len(maps), "seed": 0,
        "training_cases": train, "held_out_cases": held, "n_training_maps": len(real), "n_held_out_maps": len(heldout),
        "min_tumor_pixels": min_tumor,
        "filter_size_matched": {"threshold": fair.threshold, "real_quantile": fair.real_quantile,
                                "generated_kept": float(fair.keep.mean()),
                                "held_out_kept": float(fair_held.keep.mean()),
                                "training_kept": float(1 - fair.real_fraction_over), "by_brain_size": fair_bins},
        "filter_paper": {"threshold_applied": paper.threshold, "generated_kept": float(paper.keep.mean()),
                         "held_out_kept": float(paper_held.keep.mean()),
                         "training_kept": float(1 - paper.real_fraction_over), "by_brain_size": paper_bins},
        "tumor_presence": {k: float(d["has_tumor"].mean()) for k, d in
                           (("training", d_real), ("held_out", d_held), ("generated", d_gen))},
        "tumor_presence_test": {"generated_vs_training": presence_test(d_gen["has_tumor"], d_real["has_tumor"]),
                                "held_out_vs_training": presence_test(d_held["has_tumor"], d_real["has_tumor"])},
        "tumor_area_ks": {"generated_vs_training": ks(d_gen["tumor_area_mm2"], d_real["tumor_area_mm2"]),
                          "held_out_vs_training": ks(d_held["tumor_area_mm2"], d_real["tumor_area_mm2"])},
        "brain_area_ks": {"generated_vs_training": ks(d_gen["brain_area_mm2"], d_real["brain_area_mm2"]),
                          "held_out_vs_training": ks(d_held["brain_area_mm2"], d_real["brain_area_mm2"])},
        "class_fractions": {k: d["fractions"].round(5).tolist() for k, d in
                            (("training", d_real), ("held_out", d_held), ("generated", d_gen))},
        "class_fraction_ratio_generated_to_training": (d_gen["fractions"] / d_real["fractions"]).round(3).tolist(),
        "class_fraction_ratio_held_out_to_training": (d_held["fractions"] / d_real["fractions"]).round(3).tolist(),
    }
    for what in ("tumor_area_mm2", "brain_area_mm2"):
        results[f"median_{what}"] = {k: float(np.median(d[what])) if len(d[what]) else None for k, d in
                                     (("training", d_real), ("held_out", d_held), ("generated", d_gen))}
    results["subregion_share_of_tumor"] = {
        k: (d["subregions"].mean(0).round(3).tolist() if len(d["subregions"]) else None)
        for k, d in (("training", d_real), ("held_out", d_held), ("generated", d_gen))}
    results["subregion_ks"] = {
        NAMES[c]: {"generated_vs_training": ks(d_gen["subregions"][:, i], d_real["subregions"][:, i]),
                   "held_out_vs_training": ks(d_held["subregions"][:, i], d_real["subregions"][:, i])}
        for i, c in enumerate(TUMOR)}
    results["anatomy"] = {k: {m: round(float(np.nanmean(v)), 3) for m, v in d["anatomy"].items()}
                          for k, d in (("training", d_real), ("held_out", d_held), ("generated", d_gen))}

    if args.history:
        from napari_medsynth.train.checkpoint import list_checkpoints

        folder = Path(args.history)
        history = []
        for step, path in list_checkpoints(folder.parent if folder.name == "checkpoints" else folder):
            s = LabelMapSampler.load(path)
            if s.size != size or s.alpha < 1.0:  # still fading in: partly the half-size output upsampled
                continue
            r = filter_label_maps(s.sample(200, seed=1), real, real_cases=real_cases)
            history.append({"step": step, "kept": round(float(r.keep.mean()), 3)})
            print(f"  step {step:5d} ({s.size} px): {r.keep.mean():6.1%} pass the size-matched filter")
        results["history_seed1"] = history
    results["seconds"] = round(time.perf_counter() - started, 1)

    docs.mkdir(parents=True, exist_ok=True)
    (docs / "pggan_label_stats.json").write_text(json.dumps(results, indent=1, default=_plain) + "\n")
    (docs / "pggan_label_stats.md").write_text(markdown(results, args, fair_bins, paper_bins) + "\n")
    print((docs / "pggan_label_stats.md").read_text())

    if args.figures:
        rng = np.random.default_rng(0)
        shown = heldout[np.sort(rng.choice(len(heldout), 16, replace=False))]
        maps_figure(shown, maps[:32], set(fair.discarded.tolist()), docs / "pggan_label_maps.png",
                    f"Complete 7-class label maps at {size} px ({pixel_mm:g} mm): held-out real slices (top, random) "
                    f"vs PGGAN (first 32 of seed 0, not picked)")
        from napari_medsynth.data.store_datasets import StorePairs

        pairs = {m: StorePairs(store, 256, modality=m, include=",".join(held)) for m in ("t1ce", "flair")}
        ds = pairs["t1ce"]
        tumor_idx = [i for i in range(len(ds)) if (ds.label_slices([i])[0] == 3).sum() > 300]
        pick = tumor_idx[len(tumor_idx) // 2]
        batch = {m: pd.batch([(pick, ())])[0] for m, pd in pairs.items()}
        real_mr = {m: (b[0].numpy() + 1) / 2 * (b[1].numpy() > 0) for m, b in batch.items()}
        pipeline_figure(sampler, sampler.sample(4, seed=0, size=256), batch["t1ce"][1].numpy().astype(np.uint8),
                        real_mr, docs / "pggan_to_spade.png")
        print(f"figures -> {docs / 'pggan_label_maps.png'}, {docs / 'pggan_to_spade.png'}")
    if args.log:
        loss_curves(Path(args.log), docs / "pggan_training.png")
    return 0


def _plain(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


def markdown(r: dict, args, fair_bins, paper_bins) -> str:
    f, pf = r["filter_size_matched"], r["filter_paper"]
    ratio = r["class_fraction_ratio_generated_to_training"]
    held_ratio = r["class_fraction_ratio_held_out_to_training"]
    lines = [
        "# PGGAN label maps against real BraTS maps",
        "",
        f"Checkpoint `{Path(r['checkpoint']).name}` (step {r['step']}, {r['native_size']} px native, "
        f"{r['pixel_mm']:g} mm pixels), {r['n_generated']} maps of seed 0, not picked. Real maps: "
        f"{r['n_training_maps']} axial slices of the {len(r['training_cases'])} training cases and "
        f"{r['n_held_out_maps']} of the held-out cases {', '.join(r['held_out_cases'])} (never seen by the "
        f"generator); slices with at least 2 % labelled pixels, on the training canvas. Command:",
        "",
        "```bash",
        f"python benchmarks/pggan_label_stats.py --store STORE --holdout {','.join(r['held_out_cases'])}"
        + (f" --checkpoint {args.checkpoint}" if args.checkpoint else ""),
        "```",
        "",
        "Held-out vs training real maps is the yardstick: how much two sets of real patients differ.",
        "",
        "| Measure | Training real | Held-out real | Generated | Goal | Met? |",
        "|---|---|---|---|---|---|",
        f"| Pass the size-matched Z-score filter (threshold {f['threshold']:.2f} × the median real norm of the "
        f"size bin, chosen so {f['real_quantile']:.0%} of training maps pass, each without its patient's maps) | "
        f"{_pct(f['training_kept'])} | "
        f"{_pct(f['held_out_kept'])} | {_pct(f['generated_kept'])} | ≥ 90 % | "
        f"{'yes' if f['generated_kept'] >= 0.9 else 'no'} |",
        f"| Pass the paper's filter (500 at 256 px, {pf['threshold_applied']:.0f} here) | "
        f"{_pct(pf['training_kept'])} | "
        f"{_pct(pf['held_out_kept'])} | {_pct(pf['generated_kept'])} | — | — |",
    ]
    tp, tt = r["tumor_presence"], r["tumor_presence_test"]
    lines.append(f"| Maps with tumor (≥ {r['min_tumor_pixels']} px of NCR/ED/ET) | {_pct(tp['training'])} | "
                 f"{_pct(tp['held_out'])} (Fisher p {tt['held_out_vs_training']['p']}) | {_pct(tp['generated'])} "
                 f"(Fisher p {tt['generated_vs_training']['p']}) | match | "
                 f"{'yes' if tt['generated_vs_training']['p'] >= 0.05 else 'no'} |")
    ka, ma = r["tumor_area_ks"], r["median_tumor_area_mm2"]
    lines.append(f"| Tumor area per tumor map, median mm² | {ma['training']:.0f} | {ma['held_out']:.0f} "
                 f"(KS D {ka['held_out_vs_training']['D']}, p {ka['held_out_vs_training']['p']}) | "
                 f"{_num(ma['generated'])} (KS D {ka['generated_vs_training']['D']}, p "
                 f"{ka['generated_vs_training']['p']}) | match | "
                 f"{'yes' if (ka['generated_vs_training']['p'] or 0) >= 0.05 else 'no'} |")
    kb, mb = r["brain_area_ks"], r["median_brain_area_mm2"]
    lines.append(f"| Brain area, median mm² | {mb['training']:.0f} | {mb['held_out']:.0f} (KS D "
                 f"{kb['held_out_vs_training']['D']}) | {mb['generated']:.0f} "
                 f"(KS D {kb['generated_vs_training']['D']}, "
                 f"p {kb['generated_vs_training']['p']}) | — | — |")
    sub = r["subregion_share_of_tumor"]
    def fmt(shares):
        return "—" if shares is None else " / ".join(f"{100 * v:.0f}" for v in shares)

    lines.append(f"| Tumor make-up NCR / ED / ET, % of tumor | {fmt(sub['training'])} | {fmt(sub['held_out'])} | "
                 f"{fmt(sub['generated'])} | — | — |")
    an = r["anatomy"]
    for key, label in (("ventricles", "Maps with ventricles (CSF inside the brain)"),
                       ("hemispheres", "Maps with both hemispheres (area ratio ≥ 0.8)"),
                       ("wm_covered_by_gm", "WM outline covered by GM (cortical ribbon)"),
                       ("tumor_components", "Tumor components per tumor map")):
        vals = [an[k][key] for k in ("training", "held_out", "generated")]
        shown = [f"{v:.2f}" if key == "tumor_components" else _pct(v) for v in vals]
        lines.append(f"| {label} | " + " | ".join(shown) + " | — | — |")
    lines += ["", "Class fractions (share of all canvas pixels; generated / training real, goal 0.75–1.25):", "",
              "| Class | Training real | Held-out real | Generated | Generated / training | Held-out / training "
              "| Met? |",
              "|---|---|---|---|---|---|---|"]
    cf = r["class_fractions"]
    for c in range(7):
        ok = 0.75 <= ratio[c] <= 1.25
        lines.append(f"| {NAMES[c]} | {100 * cf['training'][c]:.2f} % | {100 * cf['held_out'][c]:.2f} % | "
                     f"{100 * cf['generated'][c]:.2f} % | {ratio[c]:.2f} | {held_ratio[c]:.2f} | "
                     f"{'yes' if ok else 'no'} |")
    lines += ["", "Pass rate per brain-size bin, size-matched filter (bins: sixths of the training maps' brain areas; "
              "a training map is measured against the other patients' maps):",
              "", *_bins_table(fair_bins), "",
              "The same bins under the paper's filter:", "", *_bins_table(paper_bins), ""]
    if r.get("history_seed1"):
        lines += ["Size-matched pass rate of each saved checkpoint at this size (200 maps of seed 1):", "",
                  ", ".join(f"step {h['step']}: {_pct(h['kept'])}" for h in r["history_seed1"]), ""]
    lines += ["What flatters these numbers: the filter's reference is the training maps (as in the paper); "
              "the held-out column shows how real patients the generator never saw fare under it. The tissue "
              "classes of all real maps come from the project's own T1+T2+FLAIR tissue segmentation (BraTS "
              "labels only the tumor), which under-calls grey matter, so the generated maps are judged against "
              "that segmentation, not against expert tissue labels.",
              "", f"({r['seconds']:.0f} s)"]
    return "\n".join(lines)


def _num(x) -> str:
    return "—" if x is None else f"{x:.0f}"


if __name__ == "__main__":
    sys.exit(main())
