"""Evaluate a pggan-labels checkpoint and draw docs/pggan_label_maps.png (and the training curves).

    python docs/make_pggan_figure.py                         # the shipped checkpoint
    python docs/make_pggan_figure.py --checkpoint runs/pg/checkpoints/step_00002000.pt \\
        --log runs/pg.log --history runs/pg/checkpoints

Prints the Z-score filter report of ``--n`` maps (seed 0, 256 x 256, threshold 500 as in
Foroozandeh & Eklund §3.4) against the real maps of the sample cases. The figure shows real maps
(random slices of the sample cases) above the first generated maps of that draw, not
cherry-picked; maps the filter discards are framed in magenta. With ``--history`` the filter is
also run for every checkpoint in that folder on 200 maps of seed 1 (how the pass rate develops;
the shipped checkpoint is the one that passes most, as Foroozandeh & Eklund kept the training
tick with the best SWD); with
``--log`` (the console output of ``napari-medsynth train``) the loss curves are plotted to
docs/pggan_training.png.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from napari_medsynth._sample_data import sample_data_dir  # noqa: E402
from napari_medsynth.pggan.cleaning import filter_label_maps, real_label_maps, report_dict  # noqa: E402
from napari_medsynth.pggan.figures import colorize  # noqa: E402
from napari_medsynth.pggan.sample import LabelMapSampler  # noqa: E402


def class_fractions(maps: np.ndarray) -> list[float]:
    return (np.bincount(maps.ravel(), minlength=7) / maps.size).round(4).tolist()


def figure(real: np.ndarray, fake: np.ndarray, discarded: set[int], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from napari_medsynth.labels import COMPLETE7

    cols = 8
    fig, axes = plt.subplots(4, cols, figsize=(cols * 1.6, 4 * 1.6 + 1.1))
    for row in range(4):
        for col in range(cols):
            ax = axes[row, col]
            ax.set_xticks([]), ax.set_yticks([])
            i = (row % 2) * cols + col
            if row < 2:
                ax.imshow(colorize(real[i]), interpolation="nearest")
            else:
                ax.imshow(colorize(fake[i]), interpolation="nearest")
                for spine in ax.spines.values():
                    spine.set_edgecolor("magenta" if i in discarded else "white")
                    spine.set_linewidth(3 if i in discarded else 0.5)
        axes[row, 0].set_ylabel("real" if row < 2 else "PGGAN", fontsize=11)
    handles = [Patch(color=c.color, label=c.name.split(" (")[0]) for c in COMPLETE7[1:]]
    handles.append(Patch(facecolor="white", edgecolor="magenta", linewidth=2, label="discarded by Z-score filter"))
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    fig.savefig(path, dpi=110, facecolor="#404040")
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="pggan-labels checkpoint (default: shipped)")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--threshold", type=float, default=500.0)
    p.add_argument("--history", help="folder of checkpoints to evaluate too (200 maps each)")
    p.add_argument("--log", help="console log of the training run, for the loss curves")
    p.add_argument("--out", default=str(REPO / "docs" / "pggan_label_maps.png"))
    args = p.parse_args()

    real = real_label_maps(sample_data_dir(), 256)
    sampler = LabelMapSampler.load(args.checkpoint)
    maps = sampler.sample(args.n, seed=0, size=256)
    report = filter_label_maps(maps, real, args.threshold)
    info = report_dict(report, args.threshold)
    print(f"checkpoint {sampler.path} (step {sampler.card.get('step')}, native {sampler.size} px)")
    print(f"{info['n_kept']} of {info['n_maps']} maps pass the Z-score filter ({info['fraction_kept']:.1%}); "
          f"threshold {args.threshold:g} at 256 px; norms min/median/p90/max {info['norms_min_median_p90_max']}; "
          f"real maps: {info['real_maps']}, norms {info['real_norms_min_median_p90_max']}, "
          f"{info['real_fraction_over_threshold']:.1%} over")
    print(f"class fractions generated {class_fractions(maps)}")
    print(f"class fractions real      {class_fractions(real)}")
    tumor = np.isin(maps, (1, 2, 3)).any(axis=(1, 2)).mean()
    real_tumor = np.isin(real, (1, 2, 3)).any(axis=(1, 2)).mean()
    print(f"maps with tumor classes: generated {tumor:.1%}, real {real_tumor:.1%}")

    if args.history:
        from napari_medsynth.train.checkpoint import list_checkpoints

        folder = Path(args.history)
        ckpts = list_checkpoints(folder.parent) if folder.name == "checkpoints" else list_checkpoints(folder)
        for step, path in ckpts:
            s = LabelMapSampler.load(path)
            # seed 1: choosing a checkpoint on these maps does not bias the seed-0 figures above
            r = filter_label_maps(s.sample(200, seed=1, size=256), real, args.threshold)
            print(f"  step {step:5d} ({s.size:3d} px): {1 - r.fraction_discarded:6.1%} pass, "
                  f"median norm {np.median(r.norms):7.1f}")

    rng = np.random.default_rng(0)
    real_shown = real[np.sort(rng.choice(len(real), 16, replace=False))]
    figure(real_shown[:, ::2, ::2], maps[:16, ::2, ::2], set(report.discarded.tolist()), Path(args.out),
           f"Complete 7-class label maps: real sample-data slices (top) vs PGGAN, first 16 of seed 0 "
           f"({sampler.size}x{sampler.size} native), not cherry-picked")
    print(f"figure -> {args.out}")
    if args.log:
        loss_curves(Path(args.log), Path(args.out).with_name("pggan_training.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
