"""SAGE merge block on real anatomy: a sample tumor pasted into a tumor-free sample slice."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medsynth._sample_data import sample_case_dir
from napari_medsynth.io import brain_mask, read_volume
from napari_medsynth.sage.merge import (
    MergeError,
    attribute_limits,
    merge_tumor,
    normalize_slice,
    rel_to_pixel,
    rotation_for_orientation,
    sample_attributes,
    seam_gradients,
    shape_orientation_deg,
)


@pytest.fixture(scope="module")
def real():
    """PHI: an axial slice of the tumor-free case; TC/BTC: the largest tumor section of MSYN-001."""
    healthy = read_volume(sample_case_dir("MSYN-H01") / "MSYN-H01_t1ce.nii.gz").data
    tumor_case = read_volume(sample_case_dir("MSYN-001") / "MSYN-001_t1ce.nii.gz").data
    seg = read_volume(sample_case_dir("MSYN-001") / "MSYN-001_seg.nii.gz").data
    k = int(np.argmax((seg > 0).sum(axis=(1, 2))))
    mask = seg[k] > 0
    rows, cols = np.nonzero(mask)
    box = np.s_[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    btc = mask[box]
    tc = normalize_slice(tumor_case)[k][box] * btc
    phi = normalize_slice(healthy)[80]
    return phi, brain_mask(healthy[80]), tc, btc


@pytest.mark.parametrize("where, size, turn", [((0.4, 0.6), 0.04, 0.0), ((0.6, 0.35), 0.02, 70.0),
                                               ((0.3, 0.3), 0.06, -35.0)])
def test_tapered_merge_has_no_seam_but_a_hard_paste_has(real, where, size, turn):
    phi, brain, tc, btc = real
    center = rel_to_pixel(brain, where)
    soft = merge_tumor(phi, brain, tc, btc, center, size, turn)
    border, around = seam_gradients(soft.image, soft.label, brain)
    assert border <= around, f"seam: border gradient {border:.4f} > tissue gradient {around:.4f}"
    hard = merge_tumor(phi, brain, tc, btc, center, size, turn, sigma=0, match_border=False)
    border, around = seam_gradients(hard.image, hard.label, brain)
    assert border > 1.5 * around  # the measure does see a pasted edge


def test_across_tumors_and_slices_the_border_is_as_smooth_as_the_tissue():
    """36 random placements of four sample tumors (their own rims range from as smooth as the
    tissue to twice as sharp) into three slices: the paste border is never sharper than the
    tissue around it, while a hard paste is."""
    healthy = read_volume(sample_case_dir("MSYN-H01") / "MSYN-H01_t1ce.nii.gz").data
    scaled = normalize_slice(healthy)
    rng = np.random.default_rng(0)
    soft, hard = [], []
    for case in ("MSYN-001", "MSYN-003", "MSYN-005", "MSYN-006"):
        image = normalize_slice(read_volume(sample_case_dir(case) / f"{case}_t1ce.nii.gz").data)
        seg = read_volume(sample_case_dir(case) / f"{case}_seg.nii.gz").data
        k = int(np.argmax((seg > 0).sum(axis=(1, 2))))
        rows, cols = np.nonzero(seg[k])
        box = np.s_[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        btc = seg[k][box] > 0
        for z in (70, 80, 90):
            brain = brain_mask(healthy[z])
            for _ in range(3):
                args = (rel_to_pixel(brain, rng.uniform(0.3, 0.7, 2)), rng.uniform(0.01, 0.06), rng.uniform(-90, 90))
                res = merge_tumor(scaled[z], brain, image[k][box] * btc, btc, *args)
                border, around = seam_gradients(res.image, res.label, brain)
                soft.append(border / around)
                res = merge_tumor(scaled[z], brain, image[k][box] * btc, btc, *args, sigma=0, match_border=False)
                border, around = seam_gradients(res.image, res.label, brain)
                hard.append(border / around)
    soft, hard = np.array(soft), np.array(hard)
    assert soft.max() <= 1.0 and np.median(soft) < 0.9
    assert (hard > soft).all() and np.median(hard) > 1.5


def test_size_location_and_containment(real):
    phi, brain, tc, btc = real
    center = rel_to_pixel(brain, (0.45, 0.55))
    res = merge_tumor(phi, brain, tc, btc, center, 0.03, 20.0)
    assert res.size_rel == pytest.approx(0.03, rel=0.08)
    rows, cols = np.nonzero(res.label)
    assert abs(rows.mean() - center[0]) < 1.5 and abs(cols.mean() - center[1]) < 1.5
    assert not res.shifted and res.notes == []
    assert not (res.label.astype(bool) & ~brain).any()
    # outside the taper the slice is untouched; outside the brain it is untouched everywhere
    np.testing.assert_array_equal(res.image[res.alpha == 0], phi[res.alpha == 0])
    np.testing.assert_array_equal(res.image[~brain], phi[~brain])
    # deep inside the tumor the image is the tumor's texture, not the tissue
    core = res.alpha > 0.999
    assert core.sum() > 50
    assert np.abs(res.image[core] - phi[core]).mean() > 0.05


@pytest.mark.parametrize("target", [-60.0, 0.0, 45.0, 80.0])
def test_rotation_reaches_the_asked_orientation(real, target):
    phi, brain, tc, btc = real
    turn = rotation_for_orientation(btc, target)
    res = merge_tumor(phi, brain, tc, btc, rel_to_pixel(brain, (0.5, 0.5)), 0.05, turn)
    got = shape_orientation_deg(res.label)
    assert abs((got - target + 90) % 180 - 90) < 6


def test_rotation_is_counter_clockwise_as_displayed():
    bar = np.zeros((21, 21), np.float32)
    bar[9:12, 2:19] = 1
    phi = np.full((80, 80), 0.3, np.float32)
    brain = np.ones_like(phi, bool)
    res = merge_tumor(phi, brain, bar, bar > 0, (40, 40), float(bar.sum()) / brain.sum(), 30.0, sigma=0)
    rows, cols = np.nonzero(res.label)
    assert rows[cols.argmax()] < rows[cols.argmin()]  # the right end went up


def test_anisotropic_pixels_keep_the_tumor_round_in_millimetres():
    disk = np.hypot(*np.mgrid[-10:11, -10:11]) <= 9
    phi = np.full((100, 200), 0.3, np.float32)
    brain = np.ones_like(phi, bool)
    res = merge_tumor(phi, brain, disk * 0.8, disk, (50, 100), 0.02, 0.0, spacing=(2.0, 1.0))
    rows, cols = np.nonzero(res.label)
    height_mm, width_mm = 2.0 * (np.ptp(rows) + 1), 1.0 * (np.ptp(cols) + 1)
    assert abs(height_mm - width_mm) <= 2.5
    assert res.size_rel == pytest.approx(0.02, rel=0.1)  # the area ratio holds on any pixel grid


def test_near_the_edge_the_tumor_is_moved_inside_or_refused(real):
    phi, brain, tc, btc = real
    r0 = np.nonzero(brain.any(axis=1))[0][0]
    col = float(np.nonzero(brain[r0 + 2])[0].mean())
    res = merge_tumor(phi, brain, tc, btc, (r0 + 2, col), 0.03, 0.0)
    assert res.shifted and "inside the brain" in res.notes[0]
    assert not (res.alpha[~brain] > 0).any()
    assert not (res.label.astype(bool) & ~brain).any()
    assert res.center_rc[0] > r0 + 5
    with pytest.raises(MergeError, match="would reach outside the brain"):
        merge_tumor(phi, brain, tc, btc, (r0 + 2, col), 0.03, 0.0, fit="refuse")


def test_bad_requests_are_refused_with_reasons(real):
    phi, brain, tc, btc = real
    center = rel_to_pixel(brain, (0.5, 0.5))
    with pytest.raises(MergeError, match="does not fit inside the brain"):
        merge_tumor(phi, brain, tc, btc, center, 1.5, 0.0)
    with pytest.raises(MergeError, match="brain mask of this slice is empty"):
        merge_tumor(phi, np.zeros_like(brain), tc, btc, center, 0.03, 0.0)
    with pytest.raises(MergeError, match="relative size must be > 0"):
        merge_tumor(phi, brain, tc, btc, center, 0.0, 0.0)
    with pytest.raises(MergeError, match="same shape"):
        merge_tumor(phi, brain[:-1], tc, btc, center, 0.03, 0.0)
    with pytest.raises(MergeError, match="fewer than 4 pixels"):
        merge_tumor(phi, brain, tc, np.zeros_like(btc), center, 0.03, 0.0)


RANGES = {"centroid_rel": {"mean": [0.45, 0.55], "std": [0.1, 0.05]},
          "size_rel": {"mean": 0.03, "std": 0.01}, "orientation_deg": {"mean": 10.0, "std": 30.0}}


def test_sampled_attributes_stay_within_mean_plus_minus_k_std():
    rng = np.random.default_rng(3)
    draws = [sample_attributes(RANGES, 1.5, rng) for _ in range(300)]
    size = np.array([a.size_rel for a in draws])
    ori = np.array([a.orientation_deg for a in draws])
    cen = np.array([a.centroid_rel for a in draws])
    assert size.min() >= 0.03 - 1.5 * 0.01 and size.max() <= 0.03 + 1.5 * 0.01
    assert ori.min() >= 10 - 45 and ori.max() <= 10 + 45 and ori.std() > 15  # spread over the range
    assert cen[:, 0].min() >= 0.3 and cen[:, 0].max() <= 0.6 and cen[:, 1].max() <= 0.625
    again = sample_attributes(RANGES, 1.5, np.random.default_rng(3))
    assert again == draws[0]
    fixed = sample_attributes(RANGES, 0.0, rng)
    assert fixed.size_rel == pytest.approx(0.03) and fixed.centroid_rel == pytest.approx((0.45, 0.55))
    # orientations never leave -90..90, sizes never reach zero
    wide = attribute_limits(RANGES, 10.0)
    assert wide["orientation_deg"] == (-90.0, 90.0) and wide["size_rel"][0] > 0
    with pytest.raises(ValueError, match="k must be >= 0"):
        attribute_limits(RANGES, -1)
