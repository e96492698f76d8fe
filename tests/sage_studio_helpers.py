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
    """``folder/sage-lmsgan.pt``: a small LMS-GAN fitted for a few steps on the dataset's shapes
    (its real-data path, Eq. 1a), written in the format of the training engine's checkpoints."""
    import dataclasses

    import torch

    from napari_medsynth.models.lms_gan import DenseShapeGenerator, ShapeEncoder
    from napari_medsynth.train.checkpoint import save_checkpoint
    from napari_medsynth.train.recipes.sage_lmsgan import LMSGANConfig

    btc = torch.from_numpy(CropDataset.load(dataset_dir).btc.astype(np.float32))[:, None]
    config = LMSGANConfig(image_size=btc.shape[-1], z_dim=8, hidden=64, width=4)
    torch.manual_seed(0)
    enc = ShapeEncoder(config.image_size, config.z_dim, config.width)
    gen = DenseShapeGenerator(config.image_size, config.z_dim, config.hidden)
    opt = torch.optim.Adam([*enc.parameters(), *gen.parameters()], lr=2e-3)
    for _ in range(steps):
        mean, _ = enc(btc)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(gen(mean + 0.3 * torch.randn_like(mean)), btc)
        opt.zero_grad()
        loss.backward()
        opt.step()
    payload = {"recipe": "sage-lmsgan", "step": steps, "config": dataclasses.asdict(config),
               "model": {"networks": {"E": enc.state_dict(), "G": gen.state_dict()}}}
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "sage-lmsgan.pt", payload, {"recipe": "sage-lmsgan"})
    return folder
