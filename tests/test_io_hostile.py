"""Hostile and broken files: every one is made inside its test and refused with a specific message.

Covers damaged gzip data and trailers, size claims checked before decompressing (with the peak
memory of the read measured in a subprocess), and the cases that used to escape as raw exceptions.
"""

import os
import struct
import subprocess
import sys
import zlib

import nibabel as nib
import numpy as np
import pytest
from conftest import save_nifti

from napari_medsynth._reader import read_path
from napari_medsynth.cli import main as cli_main
from napari_medsynth.io import VolumeReadError, read_case, read_volume
from napari_medsynth.io.errors import AffineFallbackWarning
from napari_medsynth.io.nifti_checks import ENV_VARS, MAX_TRAILING_BYTES, MAX_VOXELS


def nifti_header(shape=(4, 5, 6), dtype=np.float32, edit=None) -> bytes:
    """The 352 bytes before the voxels of a .nii file (header + extension flag), optionally edited."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr.set_sform(np.eye(4), code=1)
    hdr.set_qform(np.eye(4), code=1)
    hdr["vox_offset"] = 352
    if edit:
        edit(hdr)
    return hdr.binaryblock + b"\x00" * 4


def write_raw(path, prefix: bytes, data: bytes = b"") -> str:
    blob = prefix + data
    path.write_bytes(gzip_bytes(blob) if path.name.endswith(".gz") else blob)
    return str(path)


def gzip_bytes(blob: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(blob) + c.flush()


def gzip_with_zeros(prefix: bytes, zeros: int, block: int = 16 << 20) -> bytes:
    """A valid one-member gzip of ``prefix`` followed by ``zeros`` zero bytes, built in ~1 KB per MB.

    After a full flush deflate restarts with no history, so every all-zero block compresses to the
    same bytes: one block is compressed and repeated; CRC-32 and length are computed properly.
    """
    assert zeros % block == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    zero_block = bytes(block)
    one = c.compress(zero_block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush()
    crc = zlib.crc32(prefix)
    for _ in range(zeros // block):
        crc = zlib.crc32(zero_block, crc)
    trailer = struct.pack("<II", crc, (len(prefix) + zeros) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + one * (zeros // block) + tail + trailer


_CHILD = r"""
import os, resource, sys
from napari_medsynth.io import VolumeReadError, read_volume
read_volume(sys.argv[2])  # warm up: every module and code path the read needs is loaded
def status_kb(field):
    # VmHWM (peak RSS of this address space) starts afresh at exec; ru_maxrss would carry over the
    # peak of the forked parent (a test process holding a napari viewer, say)
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = status_kb("VmRSS")
try:
    read_volume(sys.argv[1])
    print("OPENED")
except VolumeReadError as exc:
    print("REFUSED", exc)
print("GROWTH_MB", (status_kb("VmHWM") - base) / 1024)
"""


def read_in_subprocess(path, tmp_path) -> tuple[str, float]:
    """Read ``path`` in a fresh interpreter: (its output line, peak RSS growth in MB during the read)."""
    warm = save_nifti(tmp_path / "warm.nii.gz", np.ones((8, 8, 8), np.float32), np.eye(4))
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS.values()}
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), warm], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    return lines[0], float(lines[-1].split()[1])


def a_volume(tmp_path, name="g.nii.gz"):
    orig = np.random.default_rng(0).normal(size=(40, 40, 30)).astype(np.float32)
    return save_nifti(tmp_path / name, orig, np.eye(4)), orig


# ---------------------------------------------------------------- gzip integrity


def test_flipped_byte_in_compressed_data_is_refused(tmp_path):
    src, orig = a_volume(tmp_path)
    raw = bytearray(open(src, "rb").read())
    raw[len(raw) // 2] ^= 0x10
    bad = tmp_path / "flipped.nii.gz"
    bad.write_bytes(raw)
    # nibabel alone opens it with wrong voxels: it never reads the gzip trailer
    assert (np.asanyarray(nib.load(str(bad)).dataobj) != orig).any()
    with pytest.raises(VolumeReadError, match=r"flipped.nii.gz: the file is corrupt \(gzip check failed: the CRC-32"):
        read_volume(bad)


def test_flipped_bytes_anywhere_never_open_silently(tmp_path):
    src, _ = a_volume(tmp_path)
    raw = open(src, "rb").read()
    bad = tmp_path / "flip.nii.gz"
    for pos in range(12, len(raw), len(raw) // 40):
        flipped = bytearray(raw)
        flipped[pos] ^= 0x04
        bad.write_bytes(flipped)
        with pytest.raises(VolumeReadError, match=r"gzip check failed|truncated or corrupt|not a readable"):
            read_volume(bad)


@pytest.mark.parametrize("where,message", [(-8, "the CRC-32 checksum does not match the data"),
                                           (-3, "the length in the gzip trailer does not match the data")])
def test_broken_trailer_is_refused(tmp_path, where, message):
    src, _ = a_volume(tmp_path)
    raw = bytearray(open(src, "rb").read())
    raw[where] ^= 0xFF
    bad = tmp_path / "trailer.nii.gz"
    bad.write_bytes(raw)
    with pytest.raises(VolumeReadError, match=rf"the file is corrupt \(gzip check failed: {message}\)"):
        read_volume(bad)


def test_missing_trailer_is_refused(tmp_path):
    src, _ = a_volume(tmp_path)
    bad = tmp_path / "notrailer.nii.gz"
    bad.write_bytes(open(src, "rb").read()[:-8])  # every voxel is there, the CRC-32/length are not
    with pytest.raises(VolumeReadError, match=r"truncated or corrupt: the file ends inside the compressed data, "
                                              r"before the gzip trailer"):
        read_volume(bad)


def test_multi_member_gzip_and_zero_padding_open(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    blob = nifti_header() + data.tobytes(order="F")
    p = tmp_path / "members.nii.gz"
    p.write_bytes(gzip_bytes(blob[:400]) + gzip_bytes(blob[400:700]) + gzip_bytes(blob[700:]) + b"\x00" * 64)
    vol = read_volume(p)
    np.testing.assert_array_equal(vol.data, read_volume(write_raw(tmp_path / "one.nii", blob)).data)


def test_trailing_garbage_after_the_gzip_data_is_refused(tmp_path):
    src, _ = a_volume(tmp_path)
    bad = tmp_path / "garbage.nii.gz"
    bad.write_bytes(open(src, "rb").read() + b"this is not gzip")
    with pytest.raises(VolumeReadError, match=r"the file is corrupt \(gzip check failed: the compressed data are "
                                              r"damaged"):
        read_volume(bad)


# ---------------------------------------------------------------- size claims and bombs

#: Bound on the growth of peak RSS while a hostile file is refused (the old reader needed GBs).
RSS_BOUND_MB = 200


def test_tiny_file_claiming_gigabytes_is_refused_before_decompressing(tmp_path):
    shape = (MAX_VOXELS // (1024 * 1024) - 1, 1024, 1024)  # float64, just under the voxel cap: 4 GiB
    p = tmp_path / "claim.nii.gz"
    p.write_bytes(gzip_bytes(nifti_header(shape, np.float64)))
    assert p.stat().st_size < 200
    line, growth = read_in_subprocess(p, tmp_path)
    n_bytes = int(np.prod(shape)) * 8
    assert line.startswith(f"REFUSED claim.nii.gz: the header claims {n_bytes:,} bytes of voxel data")
    assert "NAPARI_MEDSYNTH_MAX_BYTES" in line
    assert growth < RSS_BOUND_MB


def test_gzip_bomb_claiming_what_it_holds_is_refused_by_the_cap(tmp_path):
    shape = (1536, 512, 512)  # 1.5 GiB of float32 zeros in a 1.5 MB file
    p = tmp_path / "bomb.nii.gz"
    p.write_bytes(gzip_with_zeros(nifti_header(shape), 1536 * 512 * 512 * 4))
    assert p.stat().st_size < 2_000_000
    line, growth = read_in_subprocess(p, tmp_path)
    assert line.startswith("REFUSED bomb.nii.gz: the header claims 1,610,612,736 bytes of voxel data")
    assert growth < RSS_BOUND_MB


def test_gzip_bomb_holding_more_than_it_claims_stops_early(tmp_path):
    shape = (64, 64, 64)  # claims 1 MiB, holds 1 GiB
    p = tmp_path / "longbomb.nii.gz"
    p.write_bytes(gzip_with_zeros(nifti_header(shape), 1024 * 1024 * 1024))
    line, growth = read_in_subprocess(p, tmp_path)
    assert line.startswith("REFUSED longbomb.nii.gz: the compressed data hold more than the 1,048,928 bytes the "
                           "header declares")
    assert "decompression bomb" in line
    assert growth < RSS_BOUND_MB


def test_truncated_file_claiming_much_costs_no_memory(tmp_path):
    shape = (900, 512, 512)  # 900 MiB claimed, under the cap; the file holds 1 MiB
    p = tmp_path / "short.nii.gz"
    p.write_bytes(gzip_bytes(nifti_header(shape, np.float32) + bytes(1 << 20)))
    line, growth = read_in_subprocess(p, tmp_path)
    assert line.startswith("REFUSED short.nii.gz: the file is truncated or corrupt: the compressed data stop after "
                           "1,048,928 of the 943,718,752 bytes")
    assert growth < RSS_BOUND_MB


def test_a_few_trailing_bytes_are_tolerated(tmp_path):
    data = np.arange(120, dtype=np.float32)
    p = write_raw(tmp_path / "pad.nii.gz", nifti_header(), data.tobytes() + bytes(MAX_TRAILING_BYTES))
    assert read_volume(p).data.shape == (6, 5, 4)


def test_caps_are_configurable(tmp_path, monkeypatch):
    p = save_nifti(tmp_path / "small.nii.gz", np.ones((10, 10, 10), np.float32), np.eye(4))
    with pytest.raises(VolumeReadError, match=r"claims 4,000 bytes of voxel data .* more than the 1,000-byte cap"):
        read_volume(p, max_bytes=1000)
    with pytest.raises(VolumeReadError, match=r"claims 1,000 voxels .* more than the 999 .*max_voxels="):
        read_volume(p, max_voxels=999)
    monkeypatch.setenv("NAPARI_MEDSYNTH_MAX_BYTES", "2K")
    with pytest.raises(VolumeReadError, match=r"more than the 2,048-byte cap \(raise it with NAPARI_MEDSYNTH_MAX_B"):
        read_path(p)  # the napari reader takes no arguments: the environment raises or lowers the cap
    assert read_volume(p, max_bytes=4000).data.shape == (10, 10, 10)
    monkeypatch.setenv("NAPARI_MEDSYNTH_MAX_BYTES", "lots")
    with pytest.raises(VolumeReadError, match=r"NAPARI_MEDSYNTH_MAX_BYTES='lots': expected a positive number"):
        read_volume(p)


# ---------------------------------------------------------------- raw exceptions that escaped


@pytest.mark.parametrize("dtype,what", [(np.complex64, r"holds complex numbers \(complex64\)"),
                                        (np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]),
                                         r"holds RGB colour voxels \(RGB\)")])
def test_complex_and_rgb_voxels_are_refused(tmp_path, dtype, what, capsys):
    p = str(tmp_path / "odd.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), dtype), np.eye(4)), p)
    message = rf"odd.nii.gz: {what}; napari-medsynth reads real-valued scalar MR"
    with pytest.raises(VolumeReadError, match=message):
        read_volume(p)
    with pytest.raises(VolumeReadError, match=message):
        read_path(p)
    assert cli_main(["info", p]) == 2
    err = capsys.readouterr().err
    assert "real-valued scalar MR" in err and "Traceback" not in err


def test_case_folder_with_a_4d_member_names_the_file(tmp_path):
    folder = tmp_path / "case7"
    folder.mkdir()
    save_nifti(folder / "case7_t1.nii.gz", np.ones((4, 5, 6), np.float32), np.eye(4))
    save_nifti(folder / "case7_flair.nii.gz", np.ones((4, 5, 6, 3), np.float32), np.eye(4))
    message = r"case7: case7_flair.nii.gz is 4-D \(shape \(4, 5, 6, 3\), 3 channels or time points\); a case folder"
    with pytest.raises(VolumeReadError, match=message):
        read_case(folder)
    with pytest.raises(VolumeReadError, match=message):
        read_path(folder)


def _nan_sform(hdr):
    hdr["srow_x"] = hdr["srow_y"] = hdr["srow_z"] = np.nan


def _singular_sform(hdr):
    hdr["srow_x"] = hdr["srow_y"] = hdr["srow_z"] = 0.0


@pytest.mark.parametrize("edit,problem", [(_nan_sform, "holds NaN or infinite values"),
                                          (_singular_sform, r"is singular \(it collapses an axis\)")])
def test_unusable_sform_falls_back_to_the_qform(tmp_path, edit, problem):
    def with_qform(hdr):
        edit(hdr)
        hdr.set_qform(np.diag([2.0, 3.0, 4.0, 1.0]), code=1)

    p = write_raw(tmp_path / "s.nii.gz", nifti_header(edit=with_qform), bytes(120 * 4))
    with pytest.warns(AffineFallbackWarning, match=rf"s.nii.gz: the sform {problem}; using the qform instead"):
        vol = read_volume(p)
    np.testing.assert_allclose(vol.source_affine, np.diag([2.0, 3.0, 4.0, 1.0]))


@pytest.mark.parametrize("edit,problem", [(_nan_sform, "the sform holds NaN or infinite values"),
                                          (_singular_sform, "the sform is singular")])
def test_no_usable_affine_is_refused(tmp_path, edit, problem):
    def no_qform(hdr):
        edit(hdr)
        hdr["qform_code"] = 0

    p = write_raw(tmp_path / "s.nii.gz", nifti_header(edit=no_qform), bytes(120 * 4))
    with pytest.raises(VolumeReadError, match=rf"the affine \(voxel-to-scanner transform\) is unusable: {problem}"):
        read_volume(p)


def test_broken_qform_quaternion_is_refused_not_a_value_error(tmp_path):
    def bad_quaternion(hdr):
        hdr["sform_code"] = 0
        hdr["quatern_b"] = 2.0

    p = write_raw(tmp_path / "q.nii.gz", nifti_header(edit=bad_quaternion), bytes(120 * 4))
    with pytest.raises(VolumeReadError, match=r"unusable: the qform cannot be computed"):
        read_volume(p)


def test_thousand_channels_are_refused_before_reading(tmp_path):
    p = write_raw(tmp_path / "many.nii.gz", nifti_header((4, 4, 4, 1000)))  # header only: no voxel is read
    with pytest.raises(VolumeReadError, match=r"many.nii.gz: holds 1,000 channels or time points .* at most 16 are "
                                              r"accepted \(raise the limit with NAPARI_MEDSYNTH_MAX_CHANNELS"):
        read_path(p)
    few = save_nifti(tmp_path / "few.nii.gz", np.zeros((4, 4, 4, 3), np.float32), np.eye(4))
    with pytest.raises(VolumeReadError, match="holds 3 channels"):
        read_volume(few, max_channels=2)
    assert read_volume(few).data.shape == (3, 4, 4, 4)


@pytest.mark.parametrize("value", [300, 0, 540 * 2])
def test_wrong_sizeof_hdr_is_refused(tmp_path, value):
    def edit(hdr):
        hdr["sizeof_hdr"] = value

    p = write_raw(tmp_path / "sz.nii", nifti_header(edit=edit), bytes(120 * 4))
    with pytest.raises(VolumeReadError, match=rf"sz.nii: not a readable NIfTI file: sizeof_hdr is {value}, expected "
                                              r"348 \(NIfTI-1\) or 540 \(NIfTI-2\)"):
        read_volume(p)


@pytest.mark.parametrize("ndim", [9, 8, 0, -2])
def test_impossible_dimension_count_is_named(tmp_path, ndim):
    def edit(hdr):
        hdr["dim"][0] = ndim

    p = write_raw(tmp_path / "dims.nii.gz", nifti_header(edit=edit), bytes(120 * 4))
    with pytest.raises(VolumeReadError, match=rf"the header declares {ndim} dimensions \(dim\[0\] = {ndim}\); "
                                              r"NIfTI allows 1 to 7"):
        read_volume(p)


def test_voxel_data_inside_the_header_is_refused(tmp_path):
    def edit(hdr):
        hdr["vox_offset"] = 0  # nibabel would read the header bytes as voxels

    p = write_raw(tmp_path / "off.nii", nifti_header(edit=edit), bytes(120 * 4))
    with pytest.raises(VolumeReadError, match=r"puts the voxel data at byte 0 \(vox_offset\), inside the header"):
        read_volume(p)


# ---------------------------------------------------------------- same voxels as nibabel for good files


def _scaled(tmp_path, name):
    img = nib.Nifti1Image(np.arange(120, dtype=np.int16).reshape(4, 5, 6), np.diag([1.0, 2.0, 3.0, 1.0]))
    img.header.set_slope_inter(0.5, 10.0)
    nib.save(img, str(tmp_path / name))
    return str(tmp_path / name)


def _big_endian(tmp_path, name):
    hdr = nib.Nifti1Header().as_byteswapped(">")
    data = np.random.default_rng(1).normal(size=(4, 5, 6)).astype(">f4")
    nib.save(nib.Nifti1Image(data, np.eye(4), header=hdr), str(tmp_path / name))
    return str(tmp_path / name)


def _nifti2(tmp_path, name):
    nib.save(nib.Nifti2Image(np.arange(120, dtype=np.float64).reshape(4, 5, 6), np.eye(4)), str(tmp_path / name))
    return str(tmp_path / name)


def _extension(tmp_path, name):
    img = nib.Nifti1Image(np.arange(120, dtype=np.uint8).reshape(4, 5, 6), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"made inside a test" * 10))
    nib.save(img, str(tmp_path / name))
    return str(tmp_path / name)


@pytest.mark.parametrize("make", [_scaled, _big_endian, _nifti2, _extension])
@pytest.mark.parametrize("ext", [".nii.gz", ".nii"])
def test_good_files_read_exactly_as_nibabel_reads_them(tmp_path, make, ext):
    p = make(tmp_path, "x" + ext)
    ref = nib.load(p)
    vol = read_volume(p, kind="image")
    expected = np.asanyarray(ref.dataobj)
    assert vol.data.dtype == expected.dtype
    np.testing.assert_array_equal(np.sort(vol.data.ravel()), np.sort(expected.ravel()))
    np.testing.assert_array_equal(vol.source_affine, ref.affine)
    assert vol.header_bytes == ref.header.binaryblock
