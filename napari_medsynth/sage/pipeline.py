"""SAGE generation: shape (LMS-GAN) -> texture (TAN) -> merge, with exact regeneration.

A :class:`GenerationSpec` names every choice explicitly (no hidden randomness): where the shape
comes from, which real tumor crop lends its texture, the TAN seed, the tumor-free slice, and the
tumor's location, size and orientation. :func:`~.batches.random_spec` draws those choices from one seed,
:func:`~.batches.batch_specs` a batch of them (the CLI and the SAGE studio make batches there).
:class:`SageGenerator` turns a spec into an image + label; its sidecar (:meth:`Generated.sidecar`)
records the spec with the checkpoints' and the inputs' SHA-256, so :func:`.samples.regenerate` can check
that it is rebuilding from the same inputs and then rebuild the same image, bit for bit on CPU
(:mod:`.samples` writes samples and regenerates them).

Qt-free: the SAGE studio panel and ``napari-medsynth sage`` use these functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..jobs import Progress
from .crops import sha256_file
from .dataset import CropDataset
from .merge import (
    DEFAULT_SIGMA,
    MergeResult,
    merge_tumor,
    normalize_slice,
    rel_to_pixel,
    rotation_for_orientation,
)

SIDECAR_FORMAT = "napari-medsynth-sage-sample"
SIDECAR_VERSION = 1
SHAPE_MODES = ("noise", "real", "interpolate")
#: Slices of a volume whose brain area is below this fraction of the largest are not used.
MIN_BRAIN_FRACTION = 0.5



class ProvenanceError(ValueError):
    """A sidecar cannot be regenerated as recorded; the message says which input differs."""


# --- the specification --------------------------------------------------------------------------
@dataclass
class ShapeSource:
    """Where the tumor shape comes from: LMS-GAN noise (``seed``), a real BTC (``index``) used
    as it is, or the LMS-GAN interpolation between real BTCs ``a`` and ``b`` at ``t``."""

    mode: str = "noise"
    seed: int | None = None
    index: int | None = None
    a: int | None = None
    b: int | None = None
    t: float = 0.5

    def check(self, n_crops: int) -> None:
        if self.mode not in SHAPE_MODES:
            raise ValueError(f"shape mode must be one of {', '.join(SHAPE_MODES)}, not {self.mode!r}")
        if self.mode == "noise" and self.seed is None:
            raise ValueError("a noise shape needs a seed")
        needed = {"real": [self.index], "interpolate": [self.a, self.b]}.get(self.mode, [])
        for i in needed:
            if i is None or not 0 <= int(i) < n_crops:
                raise ValueError(f"real shape index {i} is outside the dataset's {n_crops} crops")
        if self.mode == "interpolate" and not 0.0 <= float(self.t) <= 1.0:
            raise ValueError(f"interpolation position t must be in [0, 1] (got {self.t})")


@dataclass
class PhiSource:
    """The tumor-free slice: the dataset's PHI ``index``, or slice ``slice`` (axial, display
    orientation) of the NIfTI ``volume``."""

    index: int | None = None
    volume: str | None = None
    slice: int | None = None

    def check(self, n_phi: int) -> None:
        if self.volume is None:
            if self.index is None or not 0 <= int(self.index) < n_phi:
                raise ValueError(f"tumor-free slice index {self.index} is outside the dataset's {n_phi} slices")
        elif self.slice is None:
            raise ValueError("a volume needs a slice number")


@dataclass
class GenerationSpec:
    shape: ShapeSource
    texture_index: int  # the real tumor crop whose texture TAN transfers
    texture_seed: int
    phi: PhiSource
    centroid_rel: tuple[float, float]  # in the brain's bounding box, as in the crop records
    size_rel: float  # tumor area / brain area
    orientation_deg: float  # major-axis angle of the pasted tumor (regionprops convention)
    sigma: float = DEFAULT_SIGMA
    texture_steps: int | None = None  # TAN optimisation steps (None: the model's default)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerationSpec:
        try:
            return cls(**{**d, "shape": ShapeSource(**d["shape"]), "phi": PhiSource(**d["phi"]),
                          "centroid_rel": tuple(d["centroid_rel"])})
        except (KeyError, TypeError) as exc:
            raise ProvenanceError(f"the generation record is incomplete or malformed ({exc})") from exc


# --- inputs ---------------------------------------------------------------------------------------
def sha256_array(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()


@dataclass
class VolumeSlices:
    """A NIfTI volume ready to give tumor-free slices: scaled like the crop datasets, with its
    brain mask (the reader's display orientation; axis 0 is the axial slice index)."""

    path: str
    sha256: str
    scaled: np.ndarray
    brain: np.ndarray
    spacing: tuple[float, float]

    @classmethod
    def read(cls, path: str | os.PathLike) -> VolumeSlices:
        from ..io import brain_mask, read_volume
        from ..io.skull import warn_if_not_skull_stripped

        vol = read_volume(path, kind="image")
        if vol.data.ndim != 3:
            raise ValueError(f"{Path(path).name}: a 3-D image is needed (this file has shape {vol.data.shape})")
        brain = brain_mask(vol.data.astype(np.float32))
        if not brain.any():
            raise ValueError(f"{Path(path).name}: no voxel above 0, so no brain to put tumors into")
        warn_if_not_skull_stripped(vol.data, vol.spacing, Path(path).name, "the SAGE merge's brain mask")
        return cls(str(Path(path).resolve()), sha256_file(path), normalize_slice(vol.data), brain,
                   (float(vol.spacing[1]), float(vol.spacing[2])))

    def usable_slices(self) -> np.ndarray:
        area = self.brain.sum(axis=(1, 2))
        return np.flatnonzero(area >= MIN_BRAIN_FRACTION * area.max())


# --- generation -----------------------------------------------------------------------------------
@dataclass
class Generated:
    image: np.ndarray  # (H, W) float32
    label: np.ndarray  # (H, W) uint8
    syn_btc: np.ndarray
    syn_tc: np.ndarray
    phi: np.ndarray
    brain: np.ndarray
    spacing: tuple[float, float]
    merge: MergeResult
    spec: GenerationSpec
    provenance: dict[str, Any] = field(default_factory=dict)

    def sidecar(self, files: dict[str, str] | None = None) -> dict[str, Any]:
        m = self.merge
        return {
            "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION,
            "patient": "synthetic", "class": self.provenance["class"], "source": "sage",
            "package_version": __version__,
            "spec": self.spec.to_dict(),
            **{k: v for k, v in self.provenance.items() if k != "class"},
            "result": {
                "center_rc": list(m.center_rc), "requested_center_rc": list(m.requested_center_rc),
                "rotation_deg": m.rotation_deg, "scale": m.scale, "size_rel": m.size_rel, "notes": m.notes,
                "image_sha256": sha256_array(self.image), "label_sha256": sha256_array(self.label),
                "shape": list(self.image.shape),
            },
            "files": files or {},
        }


class SageGenerator:
    """Dataset + shape and texture models: turns specs into images, in any order, reproducibly.

    Models load on first use (a spec with a real shape needs no shape model). ``shape_path`` /
    ``texture_path`` None means the shipped checkpoints.
    """

    def __init__(self, dataset: CropDataset, shape_model=None, texture_model=None,
                 shape_path: str | os.PathLike | None = None, texture_path: str | os.PathLike | None = None):
        self.dataset = dataset
        self._shape_model, self._texture_model = shape_model, texture_model
        self.shape_path = None if shape_path is None else str(shape_path)
        self.texture_path = None if texture_path is None else str(texture_path)
        self._manifest_sha = None
        self._volumes: dict[str, VolumeSlices] = {}

    @classmethod
    def open(cls, dataset_dir: str | os.PathLike, checkpoints: str | os.PathLike | None = None) -> SageGenerator:
        shape_path, texture_path = checkpoint_paths(checkpoints)
        return cls(CropDataset.load(dataset_dir), shape_path=shape_path, texture_path=texture_path)

    # models, loaded when first needed
    @property
    def shape_model(self):
        if self._shape_model is None:
            from .shapes import ShapeModel

            self._shape_model = ShapeModel.load(self.shape_path)
        return self._shape_model

    @property
    def texture_model(self):
        if self._texture_model is None:
            from .texture import TextureModel

            self._texture_model = TextureModel.load(self.texture_path)
        return self._texture_model

    def volume(self, path: str) -> VolumeSlices:
        key = str(Path(path).resolve())
        if key not in self._volumes:
            self._volumes[key] = VolumeSlices.read(path)
        return self._volumes[key]

    def manifest_sha256(self) -> str:
        if self._manifest_sha is None:
            path = Path(self.dataset.root) / "manifest.json"
            self._manifest_sha = sha256_file(path) if path.is_file() else ""
        return self._manifest_sha

    @staticmethod
    def _model_sized(a: np.ndarray, size: int, binary: bool = True) -> np.ndarray:
        """A crop at the model's size (dataset crops and models may differ)."""
        a = np.asarray(a)
        if a.shape != (size, size):
            from skimage.transform import resize

            a = resize(a.astype(np.float32), (size, size), order=1, anti_aliasing=False)
            return a >= 0.5 if binary else a.astype(np.float32)
        return a.astype(bool) if binary else a.astype(np.float32)

    # the three steps
    def shape(self, src: ShapeSource) -> np.ndarray:
        src.check(len(self.dataset))
        if src.mode == "real":
            return self.dataset.btc[src.index].astype(bool)
        model = self.shape_model
        if src.mode == "noise":
            return np.asarray(model.sample(int(src.seed)), bool)
        a, b = (self._model_sized(self.dataset.btc[i], model.size) for i in (src.a, src.b))
        return np.asarray(model.interpolate(a, b, float(src.t)), bool)

    def texture(self, btc: np.ndarray, spec: GenerationSpec, progress: Progress | None = None):
        """(Syn-TC, the shape at the texture model's size): TAN gives ``btc`` the texture of crop
        ``spec.texture_index``."""
        if not 0 <= spec.texture_index < len(self.dataset):
            raise ValueError(f"texture index {spec.texture_index} is outside the dataset's {len(self.dataset)} crops")
        model = self.texture_model
        size = int(getattr(model, "size", None) or btc.shape[0])  # TAN takes any square size
        source = self._model_sized(self.dataset.tc[spec.texture_index], size, binary=False)
        shape = self._model_sized(btc, size)
        out = model.texturize(shape, source, int(spec.texture_seed), steps=spec.texture_steps, progress=progress)
        return np.asarray(out, np.float32), shape

    def phi(self, src: PhiSource):
        """(slice [0, 1], brain mask, pixel size mm, provenance) of the tumor-free slice."""
        src.check(len(self.dataset.phi))
        if src.volume is None:
            i = int(src.index)
            phi, brain = self.dataset.phi[i], self.dataset.phi_mask[i].astype(bool)
            rec = self.dataset.phi_records[i]
            prov = {"phi_sha256": sha256_array(phi), "phi_from": f"{rec.patient} slice {rec.slice}"}
            return phi, brain, (1.0, 1.0), prov
        vol = self.volume(src.volume)
        k = int(src.slice)
        if not 0 <= k < vol.scaled.shape[0]:
            raise ValueError(f"slice {k} is outside {Path(src.volume).name} (0..{vol.scaled.shape[0] - 1})")
        if not vol.brain[k].any():
            raise ValueError(f"slice {k} of {Path(src.volume).name} shows no brain; choose another slice")
        return vol.scaled[k], vol.brain[k], vol.spacing, {"volume_sha256": vol.sha256}

    def generate(self, spec: GenerationSpec, progress: Progress | None = None) -> Generated:
        def report(fraction: float, text: str) -> None:
            if progress is not None:
                progress(fraction, 1.0, text)

        report(0.0, "shape")
        btc = self.shape(spec.shape)
        if btc.sum() < 4:
            raise ValueError("the shape came out empty; try another seed or shape")
        report(0.1, "texture")
        tc, btc = self.texture(btc, spec, None if progress is None else lambda d, n, t: report(0.1 + 0.8 * d / n, t))
        report(0.9, "merge")
        phi, brain, spacing, phi_prov = self.phi(spec.phi)
        center = rel_to_pixel(brain, spec.centroid_rel)
        rotation = rotation_for_orientation(btc, spec.orientation_deg)
        merged = merge_tumor(phi, brain, tc, btc, center, spec.size_rel, rotation, sigma=spec.sigma, spacing=spacing)
        report(1.0, "done")
        return Generated(merged.image, merged.label, btc, tc, np.asarray(phi, np.float32), brain, spacing, merged,
                         spec, self._provenance(spec, phi_prov))

    def _provenance(self, spec: GenerationSpec, phi_prov: dict) -> dict[str, Any]:
        ds = self.dataset
        checkpoints = {}
        if spec.shape.mode != "real":
            checkpoints["shape"] = {"path": self.shape_path, "sha256": self.shape_model.sha256}
        checkpoints["texture"] = {"path": self.texture_path, "sha256": self.texture_model.sha256}
        used = {"texture_tc_sha256": sha256_array(ds.tc[spec.texture_index])}
        for name, i in (("shape_btc_sha256", spec.shape.index), ("shape_a_sha256", spec.shape.a),
                        ("shape_b_sha256", spec.shape.b)):
            if i is not None and spec.shape.mode != "noise":
                used[name] = sha256_array(ds.btc[i])
        return {"class": ds.crops[spec.texture_index].klass, "checkpoints": checkpoints,
                "dataset": {"path": str(Path(ds.root).resolve()), "manifest_sha256": self.manifest_sha256(),
                            **used, **phi_prov}}


#: File names looked for in a checkpoints folder: the shape model, then the texture features
#: (optional: without them TAN uses its built-in random multi-scale features).
SHAPE_CHECKPOINT = "sage-lmsgan.pt"
TEXTURE_CHECKPOINTS = ("sage-tan.pt", "vgg19.pth")


def checkpoint_paths(folder: str | os.PathLike | None) -> tuple[str | None, str | None]:
    """(shape, texture) checkpoint files in ``folder`` (None: the shipped ones)."""
    if folder is None:
        return None, None
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} not found")
    if not (folder / SHAPE_CHECKPOINT).is_file():
        raise FileNotFoundError(f"{folder} has no {SHAPE_CHECKPOINT} (the LMS-GAN shape model); train one with "
                                "'napari-medsynth train sage-lmsgan' or leave out --checkpoints for the shipped one")
    texture = next((folder / n for n in TEXTURE_CHECKPOINTS if (folder / n).is_file()), None)
    return str((folder / SHAPE_CHECKPOINT).resolve()), None if texture is None else str(texture.resolve())
