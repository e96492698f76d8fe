"""Seeded region growing: finds a bright lesion, stays in its ROI, grows with the tolerance."""

from pathlib import Path

import numpy as np
import pytest

from napari_medsynth.io import read_volume
from napari_medsynth.sage.segment import grow_region, robust_range

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def blob_volume(spacing=(1.0, 1.0, 1.0), radius_mm=8.0, seed=0):
    """(z, y, x) volume: noisy brain at 400 with a bright ball (900) of ``radius_mm`` with a dark core."""
    shape = tuple(int(round(n / s)) for n, s in zip((40, 60, 60), spacing))
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[(np.arange(n) - n / 2 + 0.5) * s for n, s in zip(shape, spacing)], indexing="ij")
    r = np.sqrt(zz ** 2 + yy ** 2 + xx ** 2)
    vol = 400 + rng.normal(0, 15, shape)
    vol[r <= radius_mm] = 900 + rng.normal(0, 15, int((r <= radius_mm).sum()))
    vol[r <= radius_mm / 3] = 200
    return vol.astype(np.float32), r <= radius_mm, r


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_3d_grow_finds_the_lesion_with_its_core():
    vol, truth, r = blob_volume()
    seed = np.argwhere(np.abs(r - 5.5) < 0.5)[0]  # a click in the middle of the bright shell
    mask = grow_region(vol, seed, tolerance=200, mode="3d")
    assert mask.shape == vol.shape and mask.dtype == bool
    assert dice(mask, truth) > 0.9  # the dark core is filled in slice by slice


def test_2d_grow_stays_in_the_seed_slice():
    vol, truth, r = blob_volume()
    z = vol.shape[0] // 2
    seed = (z, *np.argwhere(np.abs(r[z] - 5.5) < 0.5)[0])
    mask = grow_region(vol, seed, tolerance=200, mode="2d")
    assert mask[z].any() and not np.delete(mask, z, axis=0).any()
    assert dice(mask[z], truth[z]) > 0.9


def test_roi_radius_and_tolerance_bound_the_region():
    vol, truth, r = blob_volume()
    seed = tuple(int(v) for v in np.argwhere(~truth & (r > 15))[0])
    # background is uniform: a generous tolerance fills it up to the ROI radius, in mm
    mask = grow_region(vol, seed, tolerance=100, mode="2d", roi_radius_mm=10)
    ys, xs = np.nonzero(mask[seed[0]])
    assert np.sqrt((ys - seed[1]) ** 2 + (xs - seed[2]) ** 2).max() <= 10
    assert mask.sum() > 0.5 * np.pi * 10 ** 2 / 2
    # more tolerance never gives less
    sizes = [grow_region(vol, seed, tolerance=t, mode="3d", roi_radius_mm=12).sum() for t in (5, 30, 100)]
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[0] < sizes[2]


def test_anisotropic_spacing_keeps_the_roi_round_in_mm():
    vol, truth, r = blob_volume(spacing=(2.0, 0.5, 1.0))
    seed = tuple(int(v) for v in np.argwhere(~truth & (r > 18))[0])
    mask = grow_region(vol, seed, tolerance=100, mode="2d", roi_radius_mm=6, spacing=(2.0, 0.5, 1.0))
    ys, xs = np.nonzero(mask[seed[0]])
    extent_mm = (np.ptp(ys) * 0.5, np.ptp(xs) * 1.0)
    assert extent_mm[0] == pytest.approx(extent_mm[1], abs=2.0)


def test_sample_tumor_slice_is_found_from_a_click():
    img = read_volume(SAMPLES / "MSYN-001" / "MSYN-001_t1ce.nii.gz")
    seg = read_volume(SAMPLES / "MSYN-001" / "MSYN-001_seg.nii.gz").data
    enh = np.argwhere(seg == 4)
    seed = tuple(enh[np.argmin(((enh - enh.mean(0)) ** 2).sum(1))])  # a click on the enhancing rim
    mask = grow_region(img.data, seed, 0.15 * robust_range(img.data), mode="2d", spacing=img.spacing)[seed[0]]
    # the rim grows over the enhancing tumor, its necrotic core is filled in, little leaks out
    core, whole = np.isin(seg[seed[0]], [1, 4]), seg[seed[0]] > 0
    assert dice(mask, core) > 0.65 and (mask & whole).sum() > 0.7 * mask.sum()


def test_bad_requests_are_refused():
    vol, _, _ = blob_volume()
    with pytest.raises(ValueError, match="outside the volume"):
        grow_region(vol, (0, 0, 99), 10)
    with pytest.raises(ValueError, match="mode"):
        grow_region(vol, (1, 1, 1), 10, mode="4d")
    with pytest.raises(ValueError, match="tolerance"):
        grow_region(vol, (1, 1, 1), -1)
    with pytest.raises(ValueError, match="3-D"):
        grow_region(vol[0], (1, 1), 10)
