"""A tiny paired dataset and a tiny SPADE checkpoint trained through the Trainer, for fast tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import save_nifti

from napari_medsynth.train import Trainer, TrainSettings

#: The smallest SPADE the tests need (16 px, a few thousand parameters).
TINY_SPADE = {"image_size": 16, "channels": "16,8", "modalities": "t1ce", "spade_hidden": 8, "z_dim": 4,
              "noise_channels": 1, "d_channels": 8, "d_layers": 1, "num_d": 1, "batch_size": 4, "preview_count": 2}

#: T1-Gd-like intensity per complete class (0 BG, 1 NCR, 2 ED, 3 ET, 4 WM, 5 GM, 6 CSF).
CLASS_INTENSITY = np.array([0, 300, 550, 1100, 900, 650, 250], dtype=np.float32)


def phantom_case(seed: int, shape=(8, 40, 40)) -> tuple[np.ndarray, np.ndarray]:
    """(labels7, MR) stored arrays: a round 'brain' of CSF/GM/WM shells with a small tumor."""
    rng = np.random.default_rng(seed)
    x, y, z = np.mgrid[:shape[0], :shape[1], :shape[2]].astype(np.float32)
    r = np.hypot(y - shape[1] / 2 + rng.uniform(-2, 2), z - shape[2] / 2)
    lab = np.zeros(shape, np.uint8)
    lab[r < 17] = 6
    lab[r < 15] = 5
    lab[r < 11] = 4
    t = np.hypot(y - 18, z - 22)
    lab[(t < 5) & (r < 15)] = 2
    lab[(t < 3.5) & (r < 15)] = 3
    lab[(t < 2) & (r < 15)] = 1
    mr = CLASS_INTENSITY[lab] + np.where(lab > 0, rng.normal(0, 30, shape), 0)
    return lab, np.clip(mr, 0, None).astype(np.int16)


#: Other sequences of the phantoms: each class at its own intensity, as T1, T2 and FLAIR differ.
OTHER_INTENSITY = {"t1": np.array([0, 300, 450, 700, 900, 650, 250], np.float32),
                   "t2": np.array([0, 1000, 900, 700, 400, 600, 1200], np.float32),
                   "flair": np.array([0, 600, 1000, 800, 400, 600, 100], np.float32)}


def make_paired_cases(root: Path, n: int = 2, prefix: str = "PH", modalities=("t1ce",)) -> Path:
    for i in range(n):
        case = f"{prefix}-{i + 1:03d}"
        folder = root / case
        folder.mkdir(parents=True, exist_ok=True)
        lab, mr = phantom_case(i)
        save_nifti(folder / f"{case}_labels7.nii.gz", lab, np.eye(4))
        for m in modalities:
            image = mr if m == "t1ce" else np.clip(OTHER_INTENSITY[m][lab] + (mr - CLASS_INTENSITY[lab]), 0, None)
            save_nifti(folder / f"{case}_{m}.nii.gz", image.astype(np.int16), np.eye(4))
    return root


def train_tiny_spade(data: Path, out: Path, steps: int = 3, **overrides) -> Path:
    settings = TrainSettings(data_dir=str(data), out_dir=str(out), steps=steps, checkpoint_every=steps,
                             preview_every=0, device="cpu", seed=1, threads=1)
    done = Trainer("spade", settings, overrides={**TINY_SPADE, **overrides}).run()
    assert done.reason == "finished", done
    return Path(done.checkpoint)
