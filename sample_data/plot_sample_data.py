#!/usr/bin/env python3
"""Contact sheets of the sample data, read back from the saved NIfTI files.

    python sample_data/plot_sample_data.py [--data sample_data] [--docs docs]

Writes sample_data_cases.png (one row per case: T1-Gd, BraTS overlay, 7-class map)
and sample_data_tumors.png (axial and coronal crops around each tumor).
Slices are shown radiologically: anterior/superior up, patient's right on the left.
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

BRATS_CMAP = ListedColormap([(0, 0, 0, 0), (1, 0.1, 0.1, 0.55), (0.1, 0.9, 0.1, 0.45),
                             (0, 0, 0, 0), (1, 0.9, 0, 0.65)])
LAB7_CMAP = ListedColormap(["black", "red", "limegreen", "yellow", "white", "0.55", "royalblue"])


def axial(vol, z):
    """Axial slice, stored L,A,S -> rows anterior..posterior, columns patient R..L."""
    return vol[:, :, z].T[::-1, :]


def coronal(vol, y):
    """Coronal slice -> rows superior..inferior, columns patient R..L."""
    return vol[:, y, :].T[::-1, :]


def load(data, cid):
    """Return t1ce, seg, labels7 arrays of a case."""
    return [np.asanyarray(nib.load(data / cid / f"{cid}_{k}.nii.gz").dataobj)
            for k in ("t1ce", "seg", "labels7")]


def show(ax, img, title=None, lab=None, vmax=1500):
    """Draw a grey image (optionally with a BraTS overlay) without axes."""
    ax.imshow(img, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    if lab is not None:
        ax.imshow(lab, cmap=BRATS_CMAP, vmin=0, vmax=4, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def main():
    """Build both contact sheets."""
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=here)
    p.add_argument("--docs", type=Path, default=here.parent / "docs")
    a = p.parse_args()
    meta = json.loads((a.data / "cases.json").read_text())
    ids = sorted(meta)
    a.docs.mkdir(exist_ok=True)
    crop = (slice(20, 220), slice(45, 210))  # rows, cols of the displayed axial slice
    fig, axes = plt.subplots(5, 6, figsize=(13, 12.5))
    for n, cid in enumerate(ids):
        t1, seg, lab7 = load(a.data, cid)
        m = meta[cid]
        z = m["tumor_centre_voxel"][2] if m["tumor"] else 77
        vmax = np.percentile(t1[t1 > 0], 99.8)
        row = axes[n // 2, 3 * (n % 2): 3 * (n % 2) + 3]
        show(row[0], axial(t1, z)[crop], f"{cid} T1-Gd z={z}", vmax=vmax)
        show(row[1], axial(t1, z)[crop], f"TC {m['tumor_core_ml']:.1f} ml, WT {m['whole_tumor_ml']:.1f} ml",
             axial(seg, z)[crop], vmax=vmax)
        row[2].imshow(axial(lab7, z)[crop], cmap=LAB7_CMAP, vmin=0, vmax=6, interpolation="nearest")
        row[2].set_axis_off()
        row[2].set_title("7-class map", fontsize=8)
    fig.suptitle("napari-medsynth sample data (SRI24 anatomy, simulated gliomas) - axial, radiological "
                 "view (R on left).  BraTS: red NCR/NET, green ED, yellow ET", fontsize=10)
    fig.tight_layout()
    fig.savefig(a.docs / "sample_data_cases.png", dpi=90)
    plt.close(fig)

    tumor_ids = [c for c in ids if meta[c]["tumor"]]
    fig, axes = plt.subplots(len(tumor_ids) // 2, 8, figsize=(16, 8.6))
    for n, cid in enumerate(tumor_ids):
        h = 40
        t1, seg, _ = (np.pad(v, h) for v in load(a.data, cid))
        x, y, z = (v + h for v in meta[cid]["tumor_centre_voxel"])
        ny, nz = t1.shape[1] - 1, t1.shape[2] - 1
        vmax = np.percentile(t1[t1 > 0], 99.8)
        ax_sl = (slice(ny - y - h, ny - y + h), slice(x - h, x + h))
        co_sl = (slice(nz - z - h, nz - z + h), slice(x - h, x + h))
        row = axes[n // 2, 4 * (n % 2): 4 * (n % 2) + 4]
        show(row[0], axial(t1, z)[ax_sl], f"{cid} axial", vmax=vmax)
        show(row[1], axial(t1, z)[ax_sl], "labels", axial(seg, z)[ax_sl], vmax=vmax)
        show(row[2], coronal(t1, y)[co_sl], "coronal", vmax=vmax)
        show(row[3], coronal(t1, y)[co_sl], "labels", coronal(seg, y)[co_sl], vmax=vmax)
    fig.suptitle("Simulated tumors, 80 mm crops around the tumor-core centre (radiological view)", fontsize=10)
    fig.tight_layout()
    fig.savefig(a.docs / "sample_data_tumors.png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
