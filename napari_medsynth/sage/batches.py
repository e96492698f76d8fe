"""Random SAGE specifications, one at a time or as a batch: the one place batches are made.

``napari-medsynth sage generate|merge`` and the SAGE studio's "Generate N" describe a batch with
a :class:`BatchRequest` and get its specs from :func:`batch_specs`, so the same request makes
the same images in both. Every random choice comes from one seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import CropDataset
from .merge import sample_attributes
from .pipeline import SHAPE_MODES, GenerationSpec, PhiSource, ShapeSource

#: Default allowed range of the random attributes: mean +- K_STD * std of the real crops.
K_STD = 1.0


def random_spec(dataset: CropDataset, rng: np.random.Generator, k: float = K_STD, shape_mode: str = "noise",
                klass: str | None = None, phi: PhiSource | None = None) -> GenerationSpec:
    """A spec with every random choice drawn from ``rng``: shape seed or real crops, texture
    source, TAN seed, tumor-free slice, location/size/orientation within mean +- k * std."""
    n_crops = len(dataset)
    if n_crops == 0:
        raise ValueError(f"{dataset.root} holds no tumor crops to take textures from")
    pool = np.arange(n_crops) if klass is None else \
        np.array([i for i, r in enumerate(dataset.crops) if r.klass == klass], int)
    if len(pool) == 0:
        classes = sorted({r.klass for r in dataset.crops})
        raise ValueError(f"no tumor crops of class {klass!r} (the dataset has: {', '.join(classes)})")
    seed = lambda: int(rng.integers(0, 2**31 - 1))  # noqa: E731
    if shape_mode == "noise":
        shape = ShapeSource("noise", seed=seed())
    elif shape_mode == "real":
        shape = ShapeSource("real", index=int(rng.choice(pool)))
    elif shape_mode == "interpolate":
        a, b = rng.choice(pool, size=2, replace=len(pool) < 2)
        shape = ShapeSource("interpolate", a=int(a), b=int(b), t=float(rng.uniform(0, 1)))
    else:
        raise ValueError(f"shape mode must be one of {', '.join(SHAPE_MODES)}, not {shape_mode!r}")
    texture_index = int(rng.choice(pool))
    if phi is None:
        if len(dataset.phi) == 0:
            raise ValueError(f"{dataset.root} holds no tumor-free slices to merge into; add a volume or use a "
                             "volume's slices")
        phi = PhiSource(index=int(rng.integers(len(dataset.phi))))
    attrs = sample_attributes(dataset.attribute_ranges(), k, rng)
    return GenerationSpec(shape=shape, texture_index=texture_index, texture_seed=seed(), phi=phi,
                          centroid_rel=attrs.centroid_rel, size_rel=attrs.size_rel,
                          orientation_deg=attrs.orientation_deg)


@dataclass
class BatchRequest:
    """What a batch of N samples varies and what it keeps fixed.

    Random unless fixed: the shape (``shape_mode``: LMS-GAN noise, real shapes or interpolations,
    from ``klass`` only when given), the texture source (``texture_index`` fixes it), the TAN seed,
    the tumor-free slice (the dataset's, or ``phi_slices`` of the volume ``phi_volume``), and the
    location, size and orientation within mean +- ``k`` std (``size_rel`` / ``orientation_deg``
    fix the latter two).
    """

    n: int
    seed: int = 0
    k: float = K_STD
    shape_mode: str = "noise"
    klass: str | None = None
    texture_index: int | None = None
    texture_steps: int | None = None
    phi_volume: str | None = None
    phi_slices: tuple[int, ...] = ()
    size_rel: float | None = None
    orientation_deg: float | None = None

    def check(self, names: dict[str, str] | None = None) -> None:
        """Refuse impossible numbers; ``names`` says what the user called them (e.g. ``--n``)."""
        name = (names or {}).get
        if self.n < 1:
            raise ValueError(f"{name('n', 'n')} must be at least 1 (got {self.n})")
        if self.k < 0:
            raise ValueError(f"{name('k', 'k')} must be >= 0 (got {self.k})")
        if self.texture_steps is not None and self.texture_steps < 0:
            raise ValueError(f"{name('texture_steps', 'texture steps')} must be >= 0")
        if self.shape_mode not in SHAPE_MODES:
            raise ValueError(f"shape mode must be one of {', '.join(SHAPE_MODES)}, not {self.shape_mode!r}")
        if self.phi_volume is not None and not self.phi_slices:
            raise ValueError("name the slices of the volume to merge into")


def batch_specs(dataset: CropDataset, request: BatchRequest) -> list[GenerationSpec]:
    """The ``request.n`` specs of a batch, drawn from ``request.seed`` in a fixed order."""
    request.check()
    if request.texture_index is not None and not 0 <= request.texture_index < len(dataset):
        raise ValueError(f"texture index {request.texture_index} is outside the dataset's {len(dataset)} crops")
    rng = np.random.default_rng(request.seed)
    specs = []
    for _ in range(request.n):
        phi = None
        if request.phi_volume is not None:
            phi = PhiSource(volume=request.phi_volume, slice=int(rng.choice(list(request.phi_slices))))
        spec = random_spec(dataset, rng, k=request.k, shape_mode=request.shape_mode, klass=request.klass, phi=phi)
        if request.texture_index is not None:
            spec.texture_index = int(request.texture_index)
        if request.size_rel is not None:
            spec.size_rel = float(request.size_rel)
        if request.orientation_deg is not None:
            spec.orientation_deg = float(request.orientation_deg)
        spec.texture_steps = request.texture_steps
        specs.append(spec)
    return specs
