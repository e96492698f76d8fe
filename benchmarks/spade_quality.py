"""Quality of the SPADE label -> MR renderer on held-out patients, against a class-mean painting.

    python benchmarks/spade_quality.py [--checkpoint models/spade.pt] [--held-out MSYN-007]

For every labelled axial slice of the held-out cases (never trained on) at the renderer's trained
resolution, it compares three images: the real T1-Gd slice, the SPADE render of its label map (mean
style), and the **class-mean painting** (each class filled with its mean real intensity over the
*training* cases). All images are in [0, 1] (the training scaling: per-volume 0.5-99.5 percentile).

* SSIM of each render against its real slice (scikit-image, data_range 1, 7x7 window), cross-checked
  with :func:`napari_medsynth.metrics.ssim_pairs`.
* Texture: per slice and class (>= 30 pixels), std of the render / std of the real slice within the
  class; the median ratio and the fraction of (slice, class) pairs within 0.5-2x.
* Machine Turing test (:func:`napari_medsynth.evaluate.turing.machine_turing_test`): a fresh small
  CNN trained through the Trainer to tell real from rendered 64x64 patches; one held-out case
  trains it and the other scores it. Lower accuracy = harder to tell apart.

Writes the table to docs/spade_quality.md and contact sheets docs/spade_vs_real.png,
docs/spade_vs_painting.png and docs/spade_styles.png.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from napari_medsynth.data.paired import PairedSliceDataset  # noqa: E402
from napari_medsynth.io.atomic import atomic_write_bytes, atomic_write_text  # noqa: E402
from napari_medsynth.labels import COMPLETE7  # noqa: E402
from napari_medsynth.metrics import ssim_pairs  # noqa: E402
from napari_medsynth.spade import SpadeRenderer  # noqa: E402

CLASS_NAMES = {c.value: c.name.split(" ")[0] for c in COMPLETE7}
MIN_PIXELS = 30


def class_means(ds: PairedSliceDataset) -> np.ndarray:
    real = (ds.mr + 1) / 2
    return np.array([real[ds.labels == c].mean() if np.any(ds.labels == c) else 0.0 for c in range(7)])


def ssim_per_slice(fake: np.ndarray, real: np.ndarray) -> np.ndarray:
    from skimage.metrics import structural_similarity

    values = np.array([structural_similarity(f, r, data_range=1.0) for f, r in zip(fake, real)])
    check = np.array([ssim_pairs(f[None], r[None], data_range=1.0, pairing="all").mean for f, r in zip(fake, real)])
    assert np.allclose(values, check), "metrics.ssim_pairs disagrees with scikit-image"
    return values


def texture_ratios(fake: np.ndarray, real: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    out = {}
    for c in range(1, 7):
        ratios = []
        for f, r, lab in zip(fake, real, labels):
            m = lab == c
            if m.sum() >= MIN_PIXELS and r[m].std() > 1e-6:
                ratios.append(f[m].std() / r[m].std())
        out[c] = np.array(ratios)
    return out


def turing(real, fake, groups, steps, threads, seed=0):
    from napari_medsynth.evaluate.turing import machine_turing_test

    # The test's networks read images in [-1, 1] (the training scaling); both sets are mapped alike.
    return machine_turing_test(real * 2 - 1, fake * 2 - 1, patch=64, steps=steps, seed=seed, threads=threads,
                               real_groups=groups, fake_groups=groups, holdout=0.5)


def contact_sheet(path: Path, columns: list[tuple[str, np.ndarray]], rows: np.ndarray, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([c.color for c in COMPLETE7])
    fig, axes = plt.subplots(len(columns), len(rows), figsize=(1.6 * len(rows), 1.7 * len(columns)), squeeze=False)
    for i, (name, stack) in enumerate(columns):
        for j, k in enumerate(rows):
            ax = axes[i, j]
            if name == "label map":
                ax.imshow(stack[k], cmap=cmap, vmin=0, vmax=6, interpolation="nearest")
            else:
                ax.imshow(stack[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def fmt_ratio(r: np.ndarray) -> str:
    if r.size == 0:
        return "–"
    inside = np.mean((r >= 0.5) & (r <= 2.0))
    return f"{np.median(r):.2f} ({100 * inside:.0f} %)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="spade checkpoint (default: the shipped models/spade.pt)")
    ap.add_argument("--data", default=str(ROOT / "sample_data"))
    ap.add_argument("--held-out", default="MSYN-007")
    ap.add_argument("--turing-steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--docs", default=str(ROOT / "docs"), help="where the table and contact sheets go")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    renderer = SpadeRenderer.load(args.checkpoint)
    card = json.loads(Path(renderer.path).with_suffix(".json").read_text())
    excluded = {c for c in card["config"].get("exclude", "").split(",") if c}
    held_ids = [c for c in args.held_out.split(",") if c]
    if not set(held_ids) <= excluded:
        raise SystemExit(f"the checkpoint was trained on {set(held_ids) - excluded}: not held out")
    size = renderer.size
    held = PairedSliceDataset(args.data, size, include=args.held_out)
    train = PairedSliceDataset(args.data, size, exclude=args.held_out)
    real = (held.mr + 1) / 2
    labels = held.labels
    groups = np.array([case for case, _ in held.sources])
    means = class_means(train)
    painting = means[labels].astype(np.float32)
    spade = np.stack(renderer.render_many(list(labels), style_seed=None))
    spade_style = np.stack(renderer.render_many(list(labels), style_seed=1))
    print(f"{len(real)} held-out slices at {size}x{size}; rendered in {time.perf_counter() - t0:.0f} s", flush=True)

    results = {}
    for name, fake in (("SPADE (mean style)", spade), ("SPADE (style seed 1)", spade_style),
                       ("class-mean painting", painting)):
        ssim = ssim_per_slice(fake, real)
        tex = texture_ratios(fake, real, labels)
        results[name] = {"ssim": ssim, "texture": tex}
        print(f"{name}: SSIM {ssim.mean():.3f}; std ratio " +
              ", ".join(f"{CLASS_NAMES[c]} {fmt_ratio(r)}" for c, r in tex.items()), flush=True)

    turing_rows = {}
    try:
        if args.turing_steps <= 0:
            raise ImportError("skipped")
        for name, fake in (("SPADE (mean style)", spade), ("class-mean painting", painting)):
            res = turing(real, fake, groups, args.turing_steps, args.threads)
            turing_rows[name] = res
            print(f"{name}: machine Turing accuracy {res.accuracy:.3f} "
                  f"[{res.ci_low:.3f}, {res.ci_high:.3f}] n={res.statistics.n}", flush=True)
    except ImportError:
        print("machine Turing test not run (skipped, or napari_medsynth.evaluate missing)", flush=True)

    docs = Path(args.docs)
    order = np.argsort([z for _, z in held.sources])
    first = [i for i in order if groups[i] == held_ids[0]]
    rows = np.array(first)[np.linspace(len(first) * 0.15, len(first) * 0.9, 8).astype(int)]
    contact_sheet(docs / "spade_vs_real.png", [("label map", labels), ("SPADE", spade), ("real", real)], rows,
                  f"{held_ids[0]} (held out), {size}x{size}: SPADE render (mean style) vs the real T1-Gd slice")
    contact_sheet(docs / "spade_vs_painting.png",
                  [("painting", painting), ("SPADE", spade), ("real", real)], rows,
                  f"{held_ids[0]} (held out): class-mean painting vs SPADE vs real")
    styles = np.stack([renderer.render_styles(labels[k], [None, 1, 2, 3]) for k in rows[1:7:2]])
    style_cols = [(("mean style" if s is None else f"seed {s}"), styles[:, i]) for i, s in enumerate([None, 1, 2, 3])]
    contact_sheet(docs / "spade_styles.png", [("label map", labels[rows[1:7:2]])] + style_cols, np.arange(3),
                  "One label map, several styles")

    lines = [
        "# SPADE label -> MR quality on held-out patients",
        "",
        f"Produced by `python benchmarks/spade_quality.py` ({time.strftime('%Y-%m-%d')}). Checkpoint "
        f"`{Path(renderer.path).name}` (sha256 `{renderer.sha256[:12]}`, step {renderer.step}), trained "
        f"resolution **{size}x{size}** (axial slices padded to 256x256 as in the paper, then resized). Held-out "
        f"cases {', '.join(held_ids)} (not trained on): {len(real)} labelled slices. The sample data is one "
        "atlas brain warped per case with simulated tumors, so held-out anatomy is close to the training anatomy.",
        "",
        "| images vs real slices | mean SSIM | within-class std ratio, median (share within 0.5-2x): "
        + " | ".join(CLASS_NAMES[c] for c in range(1, 7)) + " | machine Turing accuracy [95 % CI] |",
        "|---|---:|" + "---:|" * 6 + "---|",
    ]
    for name, res in results.items():
        t = turing_rows.get(name)
        tcell = f"{t.accuracy:.3f} [{t.ci_low:.2f}, {t.ci_high:.2f}], n={t.statistics.n}" if t else "not run"
        lines.append(f"| {name} | {res['ssim'].mean():.3f} | " + " | ".join(fmt_ratio(res['texture'][c])
                                                                         for c in range(1, 7)) + f" | {tcell} |")
    lines += [
        "",
        "- SSIM: scikit-image `structural_similarity`, data range 1, each render against its own real slice "
        "(cross-checked with `metrics.ssim_pairs`).",
        f"- Texture: std inside each class of the render divided by that of the real slice (classes with at least "
        f"{MIN_PIXELS} pixels in a slice). 1.0 = as much texture as the real image; the painting has none.",
        f"- Machine Turing test: `evaluate.turing.machine_turing_test`, {args.turing_steps} training steps, 64x64 "
        "patches (the whole slice at this resolution; images mapped to [-1, 1] as the test expects), "
        "trained on one held-out case's real vs synthetic slices and "
        "scored on the other's; 0.5 = indistinguishable, 1.0 = always spotted.",
        "- Class means for the painting come from the training cases: "
        + ", ".join(f"{CLASS_NAMES[c]} {means[c]:.3f}" for c in range(7)) + ".",
        "",
        "![SPADE vs real](spade_vs_real.png)",
        "",
        "![SPADE vs painting](spade_vs_painting.png)",
        "",
        "![styles](spade_styles.png)",
        "",
    ]
    atomic_write_text(docs / "spade_quality.md", "\n".join(lines))
    print(f"wrote {docs / 'spade_quality.md'} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
