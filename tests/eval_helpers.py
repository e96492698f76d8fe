"""Small learnable image sets for the evaluation tests: slices with or without a bright blob."""

from __future__ import annotations

import json

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_medsynth.evaluate.imagesets import ImageSet


def blob_slice(rng, side: int, tumor: bool, blur: float = 2.0):
    img = gaussian_filter(rng.normal(size=(side, side)), blur) * 3
    mask = np.zeros((side, side), np.uint8)
    if tumor:
        r, c = rng.integers(side // 4, 3 * side // 4, size=2)
        rad = rng.integers(side // 10, side // 6)
        yy, xx = np.mgrid[:side, :side]
        mask = (((yy - r) ** 2 + (xx - c) ** 2) <= rad ** 2).astype(np.uint8)
        img = img + 2.5 * mask
    return np.clip(img / 3, -1, 1).astype(np.float32), mask


def blob_set(name, n_patients=6, per_patient=8, side=32, seed=0, blur=2.0, patient_prefix="P"):
    """Patients alternate between class "tumor" (every slice has a blob) and "control" (none)."""
    rng = np.random.default_rng(seed)
    images, masks, classes, patients = [], [], [], []
    for p in range(n_patients):
        tumor = p % 2 == 0
        for _ in range(per_patient):
            img, m = blob_slice(rng, side, tumor, blur)
            images.append(img), masks.append(m)
            classes.append("tumor" if tumor else "control"), patients.append(f"{patient_prefix}{p}")
    n = len(images)
    return ImageSet(name, "", np.stack(images), np.stack(masks), np.ones(n, bool), np.array(classes),
                    np.array(patients), [f"{i}" for i in range(n)])


def write_blob_folder(folder, n=16, side=40, seed=0, blur=2.0, patient="synthetic", per_file_patients=False):
    """SAGE-generator layout: <stem>.npy, <stem>_label.npy, <stem>.json (patient, class)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        tumor = i % 2 == 0
        img, m = blob_slice(rng, side, tumor, blur)
        np.save(folder / f"img{i:03d}.npy", img * 100 + 300)
        np.save(folder / f"img{i:03d}_label.npy", m)
        pid = f"P{i % 6}" if per_file_patients else patient
        (folder / f"img{i:03d}.json").write_text(json.dumps({"patient": pid, "class": "tumor" if tumor else "control"}))
    return folder
