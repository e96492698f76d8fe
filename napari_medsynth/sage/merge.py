"""SAGE merge block: paste a synthetic tumor crop (Syn-TC) into a tumor-free slice (PHI).

The crop is scaled so that tumor area / brain area equals ``size_rel``, rotated, centred on a
point inside the brain mask and blended in with an edge-tapering Gaussian (paper §III-B, merge
block)::

    alpha = gaussian(label, sigma) * brain_mask
    image = (1 - alpha) * phi + alpha * tumor

``tumor`` is the Syn-TC resampled onto the slice, with its texture continued outwards from the
tumor's interior (nearest interior pixel), so the tapered band blends tumor texture into tissue
instead of into the crop's black surround: no dark rim, no seam.

Intensities: TCs and PHIs of a crop dataset share one normalisation (each volume's 0.5-99.5
percentile range inside the brain mapped to [0, 1]); :func:`normalize_slice` brings a slice of any other volume to
that scale, so the crop is pasted without rescaling and keeps its contrast against the tissue.

Location uses the dataset's convention: ``centroid_rel`` is the tumor centroid in the brain's
bounding box of the slice, (0.5, 0.5) the middle of the brain. A tumor that would cross the brain
boundary is moved to the nearest position where it fits (``fit="shift"``) or refused
(``fit="refuse"``); both say so in plain words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

#: Gaussian taper of the paste border, in pixels of the slice.
DEFAULT_SIGMA = 2.5
#: Depth (pixels) over which the rim's intensity matching fades out towards the tumor core.
RIM_FADE = 4.0
#: Lower bound of sampled relative tumor sizes: a tumor of a few pixels is no tumor.
MIN_SIZE_REL = 0.002
#: Sampled centroids stay this far inside the brain's bounding box.
CENTROID_MARGIN = 0.05


class MergeError(ValueError):
    """The tumor cannot be merged as asked; the message says why and what to change."""


@dataclass
class MergeResult:
    image: np.ndarray  # (H, W) float32: the PHI with the tumor blended in
    label: np.ndarray  # (H, W) uint8: 1 where the pasted tumor is
    alpha: np.ndarray  # (H, W) float32: blending weight of the tumor
    center_rc: tuple[float, float]  # where the tumor centroid was placed (pixels)
    requested_center_rc: tuple[float, float]
    scale: float  # millimetres (slice pixels when spacing is 1) per crop pixel
    rotation_deg: float
    size_rel: float  # achieved tumor area / brain area
    notes: list[str] = field(default_factory=list)

    @property
    def shifted(self) -> bool:
        return tuple(self.center_rc) != tuple(self.requested_center_rc)


@dataclass
class Attributes:
    """Where, how large and how turned a tumor is pasted (the merge block's random attributes)."""

    centroid_rel: tuple[float, float]
    size_rel: float
    orientation_deg: float


# --- location in the brain's bounding box --------------------------------------------------------
def brain_bbox(brain_mask: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the mask, ends exclusive; a clear error for an empty mask."""
    rows, cols = np.nonzero(brain_mask)
    if rows.size == 0:
        raise MergeError("the brain mask of this slice is empty: choose a slice that shows brain")
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def rel_to_pixel(brain_mask: np.ndarray, centroid_rel) -> tuple[float, float]:
    """Pixel (row, col) of a relative position; pixel i spans [i, i + 1) as in the crop records."""
    r0, r1, c0, c1 = brain_bbox(brain_mask)
    return (r0 + float(centroid_rel[0]) * (r1 - r0) - 0.5, c0 + float(centroid_rel[1]) * (c1 - c0) - 0.5)


def pixel_to_rel(brain_mask: np.ndarray, center_rc) -> tuple[float, float]:
    r0, r1, c0, c1 = brain_bbox(brain_mask)
    return ((float(center_rc[0]) + 0.5 - r0) / (r1 - r0), (float(center_rc[1]) + 0.5 - c0) / (c1 - c0))


# --- attributes ------------------------------------------------------------------------------------
def attribute_limits(ranges: dict, k: float) -> dict[str, tuple]:
    """The allowed range mean +- k * std of each attribute, clipped to meaningful values."""
    if k < 0:
        raise ValueError(f"k must be >= 0 (got {k})")
    try:
        cen_m = np.asarray(ranges["centroid_rel"]["mean"], float)
        cen_s = np.asarray(ranges["centroid_rel"]["std"], float)
        size_m, size_s = float(ranges["size_rel"]["mean"]), float(ranges["size_rel"]["std"])
        ori_m, ori_s = float(ranges["orientation_deg"]["mean"]), float(ranges["orientation_deg"]["std"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"attribute ranges need centroid_rel, size_rel and orientation_deg mean/std ({exc})") from exc
    lo_c = np.clip(cen_m - k * cen_s, CENTROID_MARGIN, 1 - CENTROID_MARGIN)
    hi_c = np.clip(cen_m + k * cen_s, CENTROID_MARGIN, 1 - CENTROID_MARGIN)
    return {
        "centroid_rel": (tuple(lo_c.tolist()), tuple(hi_c.tolist())),
        "size_rel": (max(size_m - k * size_s, MIN_SIZE_REL), max(size_m + k * size_s, MIN_SIZE_REL)),
        "orientation_deg": (max(ori_m - k * ori_s, -90.0), min(ori_m + k * ori_s, 90.0)),
    }


def sample_attributes(ranges: dict, k: float, rng: np.random.Generator) -> Attributes:
    """Location, size and orientation drawn uniformly from mean +- k * std of the real crops."""
    lim = attribute_limits(ranges, k)
    (lr, lc), (hr, hc) = lim["centroid_rel"]
    return Attributes(
        centroid_rel=(float(rng.uniform(lr, hr)), float(rng.uniform(lc, hc))),
        size_rel=float(rng.uniform(*lim["size_rel"])),
        orientation_deg=float(rng.uniform(*lim["orientation_deg"])),
    )


def shape_orientation_deg(btc: np.ndarray) -> float:
    """Major-axis angle of a binary shape, scikit-image ``regionprops`` convention (degrees)."""
    from skimage.measure import regionprops

    props = regionprops(np.asarray(btc, bool).astype(np.uint8))
    if not props:
        raise MergeError("the tumor shape is empty")
    return math.degrees(props[0].orientation)


def rotation_for_orientation(btc: np.ndarray, orientation_deg: float) -> float:
    """Rotation (degrees, counter-clockwise as displayed) that turns ``btc``'s major axis to
    ``orientation_deg``; the smallest such turn (orientations repeat every 180 degrees)."""
    turn = float(orientation_deg) - shape_orientation_deg(btc)
    return (turn + 90.0) % 180.0 - 90.0


# --- the merge -------------------------------------------------------------------------------------
def normalize_slice(image: np.ndarray) -> np.ndarray:
    """A volume (or slice) on the crop datasets' scale: the 0.5-99.5 percentiles inside the
    brain -> [0, 1], background 0 (:func:`napari_medsynth.sage.crops.scale_volume`)."""
    from .crops import scale_volume

    return scale_volume(np.asarray(image, np.float32)).astype(np.float32)


def _inverse_matrix(scale: float, rotation_deg: float, spacing=(1.0, 1.0)) -> np.ndarray:
    """Slice (row, col) pixel offsets -> crop offsets: to millimetres, undo a counter-clockwise
    turn, then the scaling (``scale``: millimetres per crop pixel)."""
    t = math.radians(rotation_deg)
    forward = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])  # (row, col), rows down
    return forward.T @ np.diag([float(spacing[0]), float(spacing[1])]) / scale


def _resample(crop: np.ndarray, crop_center, center_rc, scale, rotation_deg, shape, order=1,
              spacing=(1.0, 1.0)) -> np.ndarray:
    m = _inverse_matrix(scale, rotation_deg, spacing)
    offset = np.asarray(crop_center, float) - m @ np.asarray(center_rc, float)
    return ndimage.affine_transform(np.asarray(crop, np.float64), m, offset=offset, output_shape=shape,
                                    order=order, mode="constant", cval=0.0)


def _fitting_center(mask_crop, crop_center, center_rc, scale, rotation_deg, region,
                    spacing) -> tuple[float, float] | None:
    """Nearest centre to ``center_rc`` (same sub-pixel offset) where the whole tumor lies in
    ``region``; None when it fits nowhere. Integer shifts move the resampled mask exactly."""
    frac = np.asarray(center_rc, float) - np.floor(center_rc)
    extent = math.ceil(scale * math.hypot(*mask_crop.shape) / 2 / min(spacing)) + 2
    size = 2 * extent + 1
    patch = _resample(mask_crop, crop_center, (extent + frac[0], extent + frac[1]), scale, rotation_deg,
                      (size, size), spacing=spacing) >= 0.5
    if patch.sum() > region.sum():
        return None
    # Erosion of the region by the tumor's footprint, as one FFT correlation (a direct erosion
    # with a large footprint takes seconds): a centre is allowed when no footprint pixel lands
    # outside the region; the image border counts as outside.
    outside = np.pad(~region, extent, constant_values=True).astype(np.float32)
    hits = signal.fftconvolve(outside, patch[::-1, ::-1].astype(np.float32), mode="same")
    allowed = hits[extent:-extent, extent:-extent] < 0.5
    if not allowed.any():
        return None
    start = np.clip(np.floor(center_rc).astype(int), 0, np.array(region.shape) - 1)
    if allowed[tuple(start)]:
        best = start
    else:
        _, idx = ndimage.distance_transform_edt(~allowed, return_indices=True)
        best = idx[:, start[0], start[1]]
    return float(best[0] + frac[0]), float(best[1] + frac[1])


def merge_tumor(phi: np.ndarray, brain_mask: np.ndarray, syn_tc: np.ndarray, syn_btc: np.ndarray,
                center_rc, size_rel: float, rotation_deg: float = 0.0, sigma: float = DEFAULT_SIGMA,
                fit: str = "shift", match_border: bool = True, spacing=(1.0, 1.0)) -> MergeResult:
    """Blend ``syn_tc`` (shape ``syn_btc``) into ``phi`` at ``center_rc`` (row, col pixels).

    ``size_rel``: tumor area / brain area of this slice. ``rotation_deg``: counter-clockwise turn
    of the crop as displayed. ``sigma``: Gaussian taper in slice pixels (0: hard paste).
    ``fit``: "shift" moves a tumor that would cross the brain boundary to the nearest place
    where it fits; "refuse" raises :class:`MergeError` instead. ``match_border``: shift the
    tumor's intensities by a smooth field so that its rim meets the surrounding tissue (see
    :func:`_border_offset`); False pastes the crop's intensities unchanged. ``spacing``: the
    slice's pixel size (row, col) in mm, so that tumors keep their shape on anisotropic slices.
    """
    phi = np.asarray(phi, np.float32)
    brain = np.asarray(brain_mask, bool)
    btc = np.asarray(syn_btc, bool)
    tc = np.asarray(syn_tc, np.float32)
    if phi.ndim != 2 or brain.shape != phi.shape:
        raise MergeError(f"the slice must be 2-D with a brain mask of the same shape (got {phi.shape} "
                         f"and {brain.shape})")
    if tc.shape != btc.shape or tc.ndim != 2:
        raise MergeError(f"tumor crop and shape must be 2-D of one size (got {tc.shape} and {btc.shape})")
    if fit not in ("shift", "refuse"):
        raise ValueError(f"fit must be 'shift' or 'refuse', not {fit!r}")
    if not np.isfinite(size_rel) or size_rel <= 0:
        raise MergeError(f"relative size must be > 0 (got {size_rel})")
    if sigma < 0:
        raise MergeError(f"the taper sigma must be >= 0 (got {sigma})")
    if btc.sum() < 4:
        raise MergeError("the tumor shape has fewer than 4 pixels; nothing to paste")
    brain_area = int(brain.sum())
    if brain_area == 0:
        raise MergeError("the brain mask of this slice is empty: choose a slice that shows brain")
    if not np.isfinite(center_rc).all():
        raise MergeError(f"the tumor location must be finite (got {center_rc})")

    spacing = (float(spacing[0]), float(spacing[1]))
    if min(spacing) <= 0:
        raise MergeError(f"pixel sizes must be positive (got {spacing})")
    scale = math.sqrt(size_rel * brain_area * spacing[0] * spacing[1] / float(btc.sum()))
    crop_center = ndimage.center_of_mass(btc)
    margin = int(math.ceil(sigma))
    region = ndimage.binary_erosion(brain, iterations=margin) if margin else brain
    requested = (float(center_rc[0]), float(center_rc[1]))
    center = _fitting_center(btc.astype(np.float32), crop_center, requested, scale, rotation_deg, region, spacing)
    notes = []
    if center is None:
        raise MergeError(f"a tumor of relative size {size_rel:.3g} ({size_rel * brain_area:.0f} pixels) does not "
                         f"fit inside the brain of this slice ({brain_area} pixels); choose a smaller size "
                         "or a larger slice")
    if center != requested:
        if fit == "refuse":
            raise MergeError(f"a tumor centred at row {requested[0]:.0f}, column {requested[1]:.0f} would reach "
                             "outside the brain; choose a point further inside or a smaller size")
        notes.append(f"moved from ({requested[0]:.0f}, {requested[1]:.0f}) to ({center[0]:.0f}, {center[1]:.0f}) "
                     "so that the tumor lies inside the brain")

    label = _resample(btc.astype(np.float32), crop_center, center, scale, rotation_deg, phi.shape,
                      spacing=spacing) >= 0.5
    tumor = _resample(tc, crop_center, center, scale, rotation_deg, phi.shape, spacing=spacing).astype(np.float32)
    # Continue the texture outwards from the interior (the crop's edge pixels mix with its black
    # surround) so that the taper blends tumor into tissue, never a dark rim into tissue.
    interior = ndimage.binary_erosion(label)
    source = interior if interior.any() else label
    _, idx = ndimage.distance_transform_edt(~source, return_indices=True)
    tumor = tumor[idx[0], idx[1]]
    if match_border:
        tumor = tumor + _border_offset(phi, tumor, label, brain)
        tumor = _soften_margin(tumor, label)
    alpha = ndimage.gaussian_filter(label.astype(np.float32), sigma) if sigma > 0 else label.astype(np.float32)
    alpha = (alpha * brain).astype(np.float32)
    image = np.clip((1.0 - alpha) * phi + alpha * tumor, 0.0, 1.0).astype(np.float32)  # the datasets' [0, 1]
    return MergeResult(image=image, label=label.astype(np.uint8), alpha=alpha, center_rc=center,
                       requested_center_rc=requested, scale=scale, rotation_deg=float(rotation_deg),
                       size_rel=float(label.sum()) / brain_area, notes=notes)


def _soften_margin(tumor: np.ndarray, label: np.ndarray, width: float = 1.5) -> np.ndarray:
    """Fade the crop's fine texture out towards its outline (a low-passed copy takes over within
    ~``width`` pixels of the edge), so grainy or sharp-rimmed crops do not draw a seam."""
    depth = ndimage.distance_transform_edt(label)
    weight = np.exp(-0.5 * (depth / (2 * width)) ** 2).astype(np.float32)
    return (weight * ndimage.gaussian_filter(tumor, width) + (1 - weight) * tumor).astype(np.float32)


def _border_offset(phi: np.ndarray, tumor: np.ndarray, label: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """A smooth intensity offset that makes the tumor's rim meet the tissue it is pasted into.

    A crop's outer rim (edema, infiltrated margin) had the intensity of the tissue around it in
    the slice it came from; in the new slice that tissue is brighter or darker. The difference
    tissue - tumor along the rim is spread over the tumor by normalised Gaussian interpolation
    (a fast stand-in for a membrane/Poisson fill) and faded out towards the core: the rim then
    matches the new surroundings while the tumor keeps its own intensities and internal contrast.
    """
    rim = label & ~ndimage.binary_erosion(label)
    ring = ndimage.binary_dilation(label, iterations=2) & ~label & brain
    if not rim.any() or not ring.any():
        return np.zeros_like(tumor)
    # tissue intensity next to each rim pixel: average of the ring around it
    width = 2.0
    tissue = ndimage.gaussian_filter(np.where(ring, phi, 0.0), width) / \
        np.maximum(ndimage.gaussian_filter(ring.astype(np.float32), width), 1e-6)
    diff = np.where(rim, tissue - tumor, 0.0)
    radius = max(2.0, np.sqrt(label.sum() / np.pi) / 3)  # a third of the tumor's radius
    weight = ndimage.gaussian_filter(rim.astype(np.float32), radius)
    offset = ndimage.gaussian_filter(diff, radius) / np.maximum(weight, 1e-6)
    offset = np.where(weight > 1e-4, offset, 0.0)
    # Only the margin is adjusted: the offset fades over RIM_FADE pixels inside the tumor, so the
    # core keeps the crop's own intensities (enhancement stays bright, necrosis dark).
    depth = ndimage.distance_transform_edt(label)
    return (offset * np.exp(-0.5 * (depth / RIM_FADE) ** 2)).astype(np.float32)


def seam_gradients(image: np.ndarray, label: np.ndarray, brain_mask: np.ndarray, ring: tuple[int, int] = (3, 8)):
    """(mean gradient magnitude on the paste border, mean gradient magnitude of the tissue
    around it). The border is the tumor's one-pixel outline on both sides; the surround is the
    brain between ``ring[0]`` and ``ring[1]`` pixels outside the tumor. A visible seam makes the
    first number larger than the second."""
    label = np.asarray(label, bool)
    brain = np.asarray(brain_mask, bool)
    gr, gc = np.gradient(np.asarray(image, np.float64))
    grad = np.hypot(gr, gc)
    border = ndimage.binary_dilation(label) & ~ndimage.binary_erosion(label)
    outer = ndimage.binary_dilation(label, iterations=ring[1]) & ~ndimage.binary_dilation(label, iterations=ring[0])
    around = outer & ndimage.binary_erosion(brain, iterations=2)
    if not border.any() or not around.any():
        raise MergeError("no tumor border or no tissue around it to compare")
    return float(grad[border].mean()), float(grad[around].mean())
