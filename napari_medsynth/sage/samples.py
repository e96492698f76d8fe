"""SAGE samples on disk: writing images with their provenance sidecars, batches, and exact
regeneration from a sidecar (checking that the checkpoints and inputs are the ones recorded).

Qt-free: the SAGE studio panel and ``napari-medsynth sage`` use these functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .crops import sha256_file
from .dataset import CropDataset
from .pipeline import (
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
    Generated,
    GenerationSpec,
    Progress,
    ProvenanceError,
    SageGenerator,
    checkpoint_paths,
    sha256_array,
)


# --- files ----------------------------------------------------------------------------------------
def write_sample(generated: Generated, out_dir: str | os.PathLike, stem: str,
                 formats: tuple[str, ...] = ()) -> Path:
    """``<stem>.npy`` (float32 image), ``<stem>_label.npy`` (uint8), optional ``<stem>.png`` /
    ``<stem>.nii.gz`` / ``<stem>_label.nii.gz``, then ``<stem>.json``; each file atomically, the
    sidecar last (a sample with a sidecar is complete). Returns the sidecar path."""
    import io as _io

    from ..io.atomic import atomic_write_bytes, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"image": f"{stem}.npy", "label": f"{stem}_label.npy"}
    arrays = ((files["image"], generated.image.astype(np.float32)), (files["label"], generated.label.astype(np.uint8)))
    for name, arr in arrays:
        buf = _io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        atomic_write_bytes(out / name, buf.getvalue())
    unknown = set(formats) - {"png", "nifti"}
    if unknown:
        raise ValueError(f"unknown output format(s) {', '.join(sorted(unknown))}; choose png and/or nifti")
    if "png" in formats:
        from PIL import Image

        buf = _io.BytesIO()
        Image.fromarray(np.round(np.clip(generated.image, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
        atomic_write_bytes(out / f"{stem}.png", buf.getvalue())
        files["png"] = f"{stem}.png"
    if "nifti" in formats:
        from ..io import write_volume

        spacing = (1.0, *generated.spacing)
        write_volume(out / f"{stem}.nii.gz", generated.image.astype(np.float32), spacing=spacing)
        write_volume(out / f"{stem}_label.nii.gz", generated.label.astype(np.uint8), kind="labels", spacing=spacing)
        files["nifti"], files["nifti_label"] = f"{stem}.nii.gz", f"{stem}_label.nii.gz"
    path = out / f"{stem}.json"
    atomic_write_text(path, json.dumps(generated.sidecar(files), indent=1) + "\n")
    return path


def generate_batch(generator: SageGenerator, specs: list[GenerationSpec], out_dir: str | os.PathLike,
                   prefix: str = "sage", formats: tuple[str, ...] = (), progress: Progress | None = None,
                   should_stop: Callable[[], bool] | None = None) -> list[Path]:
    """Generate and write each spec; ``progress(done, total, message)`` as it goes; ``should_stop()``
    ends the batch between samples (the samples written so far stay complete)."""
    written = []
    width = max(5, len(str(len(specs))))
    for i, spec in enumerate(specs):
        if should_stop is not None and should_stop():
            break
        sub = None
        if progress is not None:
            sub = lambda d, n, t, i=i: progress(i + d / n, len(specs), f"image {i + 1}/{len(specs)}: {t}")  # noqa: E731
        generated = generator.generate(spec, sub)
        written.append(write_sample(generated, out_dir, f"{prefix}_{i:0{width}d}", formats))
        if progress is not None:
            progress(i + 1, len(specs), f"wrote {written[-1].name}")
    return written


# --- regeneration ---------------------------------------------------------------------------------
def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"sidecar {path} not found") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProvenanceError(f"{path.name} is not a readable JSON sidecar ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT:
        raise ProvenanceError(f"{path.name} is not a SAGE sample sidecar (written by 'napari-medsynth sage')")
    if int(record.get("version", 0)) > SIDECAR_VERSION:
        raise ProvenanceError(f"{path.name} was written by a newer napari-medsynth; update to regenerate it")
    return record


def regenerate(sidecar: str | os.PathLike, dataset_dir: str | os.PathLike | None = None,
               checkpoints: str | os.PathLike | None = None, progress: Progress | None = None
               ) -> tuple[Generated, bool]:
    """Rebuild the sample described by ``sidecar``; returns (generated, identical).

    The dataset and checkpoints are the recorded ones unless given. Every input whose SHA-256 the
    sidecar records is checked first; a different checkpoint, crop or slice is refused with a
    message naming it. ``identical`` tells whether the image and label hash as recorded.
    """
    record = read_sidecar(sidecar)
    spec = GenerationSpec.from_dict(record.get("spec", {}))
    ds_info = record.get("dataset", {})
    root = dataset_dir or ds_info.get("path")
    if root is None:
        raise ProvenanceError("the sidecar names no dataset folder; pass it")
    dataset = CropDataset.load(root)
    ckpts = record.get("checkpoints", {})
    if checkpoints is not None:
        shape_path, texture_path = checkpoint_paths(checkpoints)
    else:
        shape_path = ckpts.get("shape", {}).get("path")
        texture_path = ckpts.get("texture", {}).get("path")
    gen = SageGenerator(dataset, shape_path=shape_path, texture_path=texture_path)
    _verify_inputs(gen, spec, record)
    generated = gen.generate(spec, progress)
    result = record.get("result", {})
    identical = (sha256_array(generated.image) == result.get("image_sha256")
                 and sha256_array(generated.label) == result.get("label_sha256"))
    return generated, identical


def _verify_inputs(gen: SageGenerator, spec: GenerationSpec, record: dict) -> None:
    ckpts = record.get("checkpoints", {})
    for role, label in (("shape", "shape (LMS-GAN)"), ("texture", "texture (TAN)")):
        if role not in ckpts:
            continue
        model = gen.shape_model if role == "shape" else gen.texture_model
        want = ckpts[role].get("sha256")
        if model.sha256 != want:
            where = getattr(gen, f"{role}_path") or "the shipped checkpoint"
            raise ProvenanceError(f"the {label} checkpoint {where} has SHA-256 {model.sha256[:12]}…, but this sample "
                                  f"was made with {str(want)[:12]}…; pass the original checkpoints with --checkpoints")
    ds = gen.dataset
    info = record.get("dataset", {})
    checks = [("texture_tc_sha256", lambda: ds.tc[spec.texture_index], f"tumor crop {spec.texture_index}")]
    for key, i in (("shape_btc_sha256", spec.shape.index), ("shape_a_sha256", spec.shape.a),
                   ("shape_b_sha256", spec.shape.b)):
        if key in info:
            checks.append((key, lambda i=i: ds.btc[i], f"tumor shape {i}"))
    if "phi_sha256" in info:
        checks.append(("phi_sha256", lambda: ds.phi[spec.phi.index], f"tumor-free slice {spec.phi.index}"))
    for key, get, what in checks:
        try:
            got = sha256_array(get())
        except (IndexError, TypeError):
            got = None
        if got != info.get(key):
            raise ProvenanceError(f"{what} of {ds.root} is not the one this sample was made from (the dataset changed "
                                  "since); regenerate with the original dataset folder")
    if spec.phi.volume is not None:
        path = Path(spec.phi.volume)
        if not path.is_file():
            raise FileNotFoundError(f"the volume {path} this sample was merged into is not found")
        if sha256_file(path) != info.get("volume_sha256"):
            raise ProvenanceError(f"{path.name} has changed since this sample was made (its SHA-256 differs)")
