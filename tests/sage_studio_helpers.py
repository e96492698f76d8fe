"""A small crop dataset cut from the shipped sample cases, for the generation and studio tests.

Two tumor patients of two classes and a few tumor-free slices: real anatomy and the real crop
extraction, kept small (every 6th crop, 6 slices per patient) so that tests stay fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_medsynth._sample_data import sample_case_dir
from napari_medsynth.sage.crops import add_volume_pair
from napari_medsynth.sage.dataset import CropDataset

#: TAN steps used in tests: enough to exercise the optimisation, few enough to take a second.
STEPS = 3


def make_small_dataset(folder: Path, work: Path) -> Path:
    for case, klass in (("MSYN-001", "control"), ("MSYN-004", "mutated")):
        d = sample_case_dir(case)
        add_volume_pair(work, d / f"{case}_t1ce.nii.gz", d / f"{case}_seg.nii.gz", klass=klass)
    full = CropDataset.load(work)
    keep = np.arange(0, len(full), 6)
    keep_phi = np.concatenate([full.phi_indices([p])[::10][:6] for p in full.patient_ids()])
    small = CropDataset(Path(folder), full.settings, full.tc[keep], full.btc[keep], full.phi[keep_phi],
                        full.phi_mask[keep_phi], [full.crops[i] for i in keep],
                        [full.phi_records[i] for i in keep_phi], full.patients)
    small.save()
    return Path(folder)


def make_shape_checkpoint(dataset_dir: Path, folder: Path, steps: int = 60) -> Path:
    """``folder/sage-lmsgan.pt``: a small LMS-GAN trained for a few steps on the dataset's shapes by
    the training engine (reconstruction warm-up only, so a few steps already give tumor-like blobs)."""
    import shutil

    from napari_medsynth.train.checkpoint import card_path_for
    from napari_medsynth.train.trainer import Trainer, TrainSettings

    run = folder / "run"
    settings = TrainSettings(data_dir=str(dataset_dir), out_dir=str(run), steps=steps, checkpoint_every=steps,
                             preview_every=0, threads=1, seed=0)
    done = Trainer("sage-lmsgan", settings, overrides={"z_dim": 8, "hidden": 64, "width": 4, "batch_size": 16,
                                                     "lr": 2e-3, "warmup_steps": steps}).run()
    assert done.reason == "finished", done
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(done.checkpoint, folder / "sage-lmsgan.pt")
    shutil.copyfile(card_path_for(done.checkpoint), folder / "sage-lmsgan.json")
    return folder
