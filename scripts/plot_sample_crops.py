#!/usr/bin/env python3
"""Contact sheet of a SAGE crop dataset: tumor crops (TC), binary tumor crops (BTC) and
tumor-free slices (PHI) with their brain mask outline.

    python scripts/plot_sample_crops.py DATASET_DIR [--out docs/sage_crops.png] [--n 8]

One TC/BTC column pair per patient (its largest tumor crop and one near the tumor's edge), and
a row of PHIs from different patients.
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from napari_medsynth.sage.dataset import CropDataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--out", default="docs/sage_crops.png")
    ap.add_argument("--n", type=int, default=8, help="patients / PHIs shown (default 8)")
    args = ap.parse_args()
    ds = CropDataset.load(args.dataset)
    tumor_patients = [p for p in ds.patient_ids() if ds.patients[p]["n_crops"]][: args.n]
    picks = []
    for p in tumor_patients:
        idx = ds.crop_indices([p])
        areas = np.array([ds.crops[i].area_px for i in idx])
        order = idx[np.argsort(areas)]
        picks.append((p, [order[-1], order[len(order) // 4]]))  # largest, and a smaller one
    phi_idx = [ds.phi_indices([p])[len(ds.phi_indices([p])) // 2] for p in ds.patient_ids()
               if len(ds.phi_indices([p]))][: args.n]
    cols = max(len(picks), len(phi_idx))
    fig, axes = plt.subplots(5, cols, figsize=(1.9 * cols, 1.9 * 5 + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for c, (p, (big, small)) in enumerate(picks):
        for r, (i, arr, name) in enumerate(((big, ds.tc, "TC"), (big, ds.btc, "BTC"),
                                            (small, ds.tc, "TC"), (small, ds.btc, "BTC"))):
            axes[r, c].imshow(arr[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            rec = ds.crops[i]
            axes[r, c].set_title(f"{p} z{rec.slice} {name}" if r % 2 == 0 else
                                 f"{name}, {rec.area_px} px", fontsize=7)
    for c, i in enumerate(phi_idx):
        axes[4, c].imshow(ds.phi[i], cmap="gray", vmin=0, vmax=1)
        axes[4, c].contour(ds.phi_mask[i], levels=[0.5], colors="orange", linewidths=0.6)
        rec = ds.phi_records[i]
        axes[4, c].set_title(f"PHI {rec.patient} z{rec.slice}", fontsize=7)
    s = ds.settings
    fig.suptitle(f"{Path(args.dataset).name}: {len(ds.patients)} patients, {len(ds)} tumor crops "
                 f"({s.crop_size} px), {len(ds.phi)} tumor-free slices ({s.phi_size} px); simulated tumors",
                 fontsize=9)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
