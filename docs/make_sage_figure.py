"""Contact sheet and shape statistics of the SAGE models (docs/sage_shapes_textures.png).

    python docs/make_sage_figure.py --crops /path/to/crop/dataset [--shapes ckpt.pt] [--n 200]

Rows: real BTCs; Syn-BTCs from noise (LMS-GAN); a latent interpolation between two real BTCs;
real TCs (the texture sources); Syn-TCs (TAN applied to the Syn-BTCs above with the sources above);
DC-GAN and WGAN-GP samples when their checkpoints ship. Prints the novelty / diversity numbers
(see napari_medsynth.sage.shape_metrics) and writes them to docs/sage_shape_metrics.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from napari_medsynth.io.atomic import atomic_write, atomic_write_text  # noqa: E402
from napari_medsynth.sage.baselines import TumorCropGAN  # noqa: E402
from napari_medsynth.sage.dataset import CropDataset  # noqa: E402
from napari_medsynth.sage.shape_metrics import (  # noqa: E402
    iou_matrix,
    leave_one_group_out_nearest_iou,
    mean_pairwise_iou,
    nearest_real_iou,
)
from napari_medsynth.sage.shapes import ShapeModel  # noqa: E402
from napari_medsynth.sage.texture import TextureModel, gram_loss  # noqa: E402


def shape_statistics(model: ShapeModel, ds: CropDataset, n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    syn = np.stack([model.sample(s) for s in range(n)])
    real = ds.btc.astype(bool)
    groups = [r.patient for r in ds.crops]
    pick = rng.choice(len(real), size=min(n, len(real)), replace=False)
    near = nearest_real_iou(syn, real)
    loo = leave_one_group_out_nearest_iou(real, groups)
    rec = np.array([iou_matrix(model.reconstruct(b)[None], b[None])[0, 0] for b in real[pick]])
    return {
        "n_synthetic": n, "n_real": len(real), "n_patients": len(set(groups)),
        "syn_nearest_real_iou_mean": float(near.mean()),
        "syn_nearest_real_iou_p95": float(np.percentile(near, 95)),
        "syn_fraction_nearest_iou_above_0.9": float((near > 0.9).mean()),
        "real_nearest_other_patient_iou_mean": float(loo.mean()),
        "syn_pairwise_iou_mean": mean_pairwise_iou(syn),
        "real_pairwise_iou_mean": mean_pairwise_iou(real[pick]),
        "syn_area_fraction_mean": float(syn.mean()), "real_area_fraction_mean": float(real.mean()),
        "reconstruction_iou_mean": float(rec.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", required=True)
    ap.add_argument("--shapes", default=None, help="sage-lmsgan checkpoint (default: the shipped one)")
    ap.add_argument("--n", type=int, default=200, help="Syn-BTCs for the statistics")
    ap.add_argument("--out", default=str(DOCS / "sage_shapes_textures.png"))
    ap.add_argument("--metrics", default=str(DOCS / "sage_shape_metrics.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = CropDataset.load(args.crops)
    shapes = ShapeModel.load(args.shapes)
    textures = TextureModel.load()
    stats = shape_statistics(shapes, ds, args.n)
    rng = np.random.default_rng(7)
    cols = 8
    real_idx = rng.choice(len(ds), cols, replace=False)
    src_idx = rng.choice(len(ds), cols, replace=False)
    syn_btc = [shapes.sample(1000 + i) for i in range(cols)]
    a, b = ds.btc[real_idx[0]], ds.btc[real_idx[1]]
    interp = [shapes.interpolate(a, b, t) for t in np.linspace(0, 1, cols)]
    syn_tc = [textures.texturize(m, ds.tc[j], seed=i) for i, (m, j) in enumerate(zip(syn_btc, src_idx))]
    grams = [(gram_loss(t, ds.tc[j], textures.extractor),
              gram_loss(textures.texturize(m, ds.tc[j], seed=i, steps=0), ds.tc[j], textures.extractor))
             for i, (t, m, j) in enumerate(zip(syn_tc, syn_btc, src_idx))]
    stats["tan_gram_loss_output_mean"] = float(np.mean([g[0] for g in grams]))
    stats["tan_gram_loss_initialisation_mean"] = float(np.mean([g[1] for g in grams]))
    rows = [("real BTC", list(ds.btc[real_idx])), ("Syn-BTC (LMS-GAN, noise)", syn_btc),
            ("interpolation (first two real BTCs)", interp), ("real TC (texture source)", list(ds.tc[src_idx])),
            ("Syn-TC (Syn-BTC above + TAN)", syn_tc)]
    for name in ("sage-dcgan", "sage-wgangp"):
        try:
            gan = TumorCropGAN.load(name)
        except FileNotFoundError:
            continue
        rows.append((f"{name[5:].upper()} baseline", [gan.sample(i) for i in range(cols)]))

    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 1.3, len(rows) * 1.45))
    for r, (title, images) in enumerate(rows):
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(np.asarray(img, np.float32), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_title(title, loc="left", fontsize=9, pad=3)
    fig.tight_layout(pad=0.3, h_pad=0.9)
    atomic_write(args.out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), suffix=".png")
    stats.update(crops=str(args.crops), shape_checkpoint_sha256=shapes.sha256, texture_features_sha256=textures.sha256)
    atomic_write_text(args.metrics, json.dumps(stats, indent=1) + "\n")
    for k, v in stats.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
