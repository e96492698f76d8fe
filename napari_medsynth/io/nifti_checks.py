"""Opening a NIfTI file safely: every claim of its header is checked before the voxels are read.

* ``sizeof_hdr`` decides NIfTI-1 (348) or NIfTI-2 (540) and the byte order; any other value is
  refused (nibabel would "fix" it and carry on, guessing the byte order from ``dim[0]``).
* ``dim[0]`` must be 1..7, every size positive, the data type real-valued and scalar (complex
  and RGB voxels are refused by name).
* The header's claim (voxels, bytes, channels) is checked against caps before any voxel is
  decompressed or allocated. The caps are module constants, can be passed to
  :func:`~napari_medsynth.io.read_volume`, and can be raised for the napari reader through
  the environment variables ``NAPARI_MEDSYNTH_MAX_VOXELS``, ``NAPARI_MEDSYNTH_MAX_BYTES`` and
  ``NAPARI_MEDSYNTH_MAX_CHANNELS``.
* ``.nii.gz`` files are decompressed as a stream (:mod:`.gzip_safe`) into a buffer of exactly the
  claimed size; the gzip CRC-32/length trailer is verified, and a stream that yields more than the
  claim (plus :data:`MAX_TRAILING_BYTES`) is refused, so a decompression bomb stops early.
* The affine: an sform or qform that is NaN, infinite or singular is skipped with an
  :class:`~napari_medsynth.io.errors.AffineFallbackWarning` in favour of the other; if no declared
  transform is usable the file is refused.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.spatialimages import HeaderDataError
from nibabel.volumeutils import apply_read_scaling

from .errors import AffineFallbackWarning, VolumeReadError
from .gzip_safe import GunzipReader, GzipCorrupt, GzipTruncated

#: Refuse headers that claim more voxels than this (``NAPARI_MEDSYNTH_MAX_VOXELS``).
MAX_VOXELS = 512 * 1024 * 1024
#: Refuse headers that claim more bytes of voxel data than this (``NAPARI_MEDSYNTH_MAX_BYTES``);
#: reading needs about 2-3 times this much memory at its peak.
MAX_BYTES = 1024**3
#: Refuse 4-D files with more channels/time points than this (``NAPARI_MEDSYNTH_MAX_CHANNELS``):
#: each channel becomes a napari layer.
MAX_CHANNELS = 16
#: Decompressed bytes tolerated (and ignored) after the voxel data a header declares.
MAX_TRAILING_BYTES = 1024 * 1024
#: Header extensions (between the header and vox_offset) larger than this are refused.
MAX_EXTENSION_BYTES = 64 * 1024 * 1024

ENV_VARS = {"max_voxels": "NAPARI_MEDSYNTH_MAX_VOXELS", "max_bytes": "NAPARI_MEDSYNTH_MAX_BYTES",
            "max_channels": "NAPARI_MEDSYNTH_MAX_CHANNELS"}
_FORMATS = ((348, nib.Nifti1Header), (540, nib.Nifti2Header))
_UNITS = {"": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}
_GZIP_HINTS = {"incorrect data check": "the CRC-32 checksum does not match the data",
               "incorrect length check": "the length in the gzip trailer does not match the data"}


@dataclass(frozen=True)
class Limits:
    """Caps on what a header may claim."""

    max_voxels: int
    max_bytes: int
    max_channels: int


def limits(max_voxels: int | None = None, max_bytes: int | None = None,
           max_channels: int | None = None) -> Limits:
    """Caps to apply: the arguments, else the environment variables, else the module constants."""
    given = {"max_voxels": max_voxels, "max_bytes": max_bytes, "max_channels": max_channels}
    defaults = {"max_voxels": MAX_VOXELS, "max_bytes": MAX_BYTES, "max_channels": MAX_CHANNELS}
    out = {}
    for key, value in given.items():
        if value is None:
            text = os.environ.get(ENV_VARS[key], "").strip()
            value = _parse_size(ENV_VARS[key], text) if text else defaults[key]
        out[key] = int(value)
    return Limits(**out)


def _parse_size(var: str, text: str) -> int:
    low = text.lower().replace("_", "").replace(",", "")
    number = low.rstrip("kmgtib ")
    unit = low[len(number):].strip()
    try:
        value = int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        value = 0
    if value <= 0:
        raise VolumeReadError(f"{var}={text!r}: expected a positive number (bytes may end in K, M or G).")
    return value


@dataclass
class CheckedHeader:
    """A header whose claims passed every check, and where its voxels are."""

    header: nib.Nifti1Header  # or Nifti2Header, with extensions
    raw_shape: tuple[int, ...]  # as declared
    shape: tuple[int, ...]  # trailing unit axes dropped: 2-D, 3-D or 4-D
    dtype: np.dtype
    offset: int
    n_bytes: int

    def image_header(self):
        """The header as nibabel's loaded image holds it (offset and scaling consumed)."""
        out = self.header.copy()
        out.set_data_offset(0)
        out.set_slope_inter(None, None)
        return out


def check_path(path: Path) -> None:
    if not path.exists():
        raise VolumeReadError(f"{path}: file not found.")
    if path.is_dir():
        raise VolumeReadError(f"{path}: is a folder, not a NIfTI file (open it as a BraTS case folder).")
    if path.stat().st_size == 0:
        raise VolumeReadError(f"{path.name}: the file is empty (0 bytes).")
    if not str(path).lower().endswith((".nii", ".nii.gz")):
        raise VolumeReadError(f"{path.name}: not a NIfTI file (expected .nii or .nii.gz).")
    if _is_gz(path):
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                raise VolumeReadError(
                    f"{path.name}: named .nii.gz but is not gzip-compressed; the file is not a NIfTI volume.")


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def read_checked_header(path: str | os.PathLike, lim: Limits | None = None) -> CheckedHeader:
    """Read and check only the header of a file (decompressing no more than the header)."""
    path = Path(path)
    check_path(path)
    with open(path, "rb") as fh, _StreamErrors(path) as stream:
        src = stream.start(GunzipReader(fh, in_chunk=16 * 1024, out_chunk=64 * 1024) if _is_gz(path) else fh)
        return _read_header(path, src, lim or limits())


def load_nifti(path: Path, lim: Limits) -> tuple[CheckedHeader, np.ndarray, np.ndarray]:
    """Checked header, voxel array (in ``shape``, scaled like nibabel) and usable affine of a file."""
    check_path(path)
    with open(path, "rb") as fh, _StreamErrors(path) as stream:
        gz = _is_gz(path)
        src = stream.start(GunzipReader(fh) if gz else fh)
        info = _read_header(path, src, lim)
        if gz:
            raw = _read_gz_voxels(path, src, info)
        else:
            raw = np.memmap(path, dtype=info.dtype, mode="c", offset=info.offset, shape=info.raw_shape, order="F")
    affine = usable_affine(path, info.header)
    try:
        slope, inter = info.header.get_slope_inter()
    except HeaderDataError as exc:
        raise VolumeReadError(f"{path.name}: the header's intensity scaling is invalid ({exc}).") from exc
    data = apply_read_scaling(raw, 1.0 if slope is None else slope, 0.0 if inter is None else inter)
    return info, data.reshape(info.shape), affine


class _StreamErrors:
    """Turns gzip and OS errors met while reading into :class:`VolumeReadError` messages."""

    def __init__(self, path: Path):
        self.path, self.src = path, None

    def start(self, src):
        self.src = src
        return src

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        name = self.path.name
        if isinstance(exc, GzipCorrupt):
            detail = _gzip_detail(str(exc))
            raise VolumeReadError(f"{name}: the file is corrupt (gzip check failed: {detail}); nothing was loaded.") \
                from exc
        if isinstance(exc, GzipTruncated):
            got = getattr(self.src, "produced", 0)
            raise VolumeReadError(f"{name}: the file is truncated or corrupt: {exc} "
                                  f"(after {got:,} decompressed bytes); nothing was loaded.") from exc
        if isinstance(exc, OSError):
            raise VolumeReadError(f"{name}: the file could not be read ({exc}).") from exc
        return False


def _gzip_detail(message: str) -> str:
    for key, hint in _GZIP_HINTS.items():
        if key in message:
            return hint
    return f"the compressed data are damaged ({message.split(':', 1)[-1].strip()})"


def _read_header(path: Path, src, lim: Limits) -> CheckedHeader:
    name = path.name
    first = src.read(4)
    if len(first) < 4:
        raise VolumeReadError(f"{name}: the file is truncated or corrupt: it ends inside the NIfTI header.")
    found = [(size, header_class, endian) for size, header_class in _FORMATS
             for endian, order in (("<", "little"), (">", "big")) if int.from_bytes(first, order) == size]
    if not found:
        raise VolumeReadError(
            f"{name}: not a readable NIfTI file: sizeof_hdr is {int.from_bytes(first, 'little')}, expected 348 "
            "(NIfTI-1) or 540 (NIfTI-2), so this is not a NIfTI header.")
    size, header_class, endian = found[0]
    block = first + src.read(size - 4)
    if len(block) < size:
        raise VolumeReadError(f"{name}: the file is truncated or corrupt: it ends inside the NIfTI header "
                              f"({len(block)} of {size} bytes).")
    ndim = int(header_class(block, endianness=endian, check=False)["dim"][0])
    if not 1 <= ndim <= 7:
        raise VolumeReadError(f"{name}: the header declares {ndim} dimensions (dim[0] = {ndim}); NIfTI allows "
                              "1 to 7, so the header is corrupt.")
    try:
        hdr = header_class(block, endianness=endian, check=True)
        raw = tuple(int(s) for s in hdr.get_data_shape())
        dtype = hdr.get_data_dtype()
    except HeaderDataError as exc:
        raise VolumeReadError(f"{name}: not a readable NIfTI file ({exc}).") from exc
    shape, n_bytes = _checked_claim(name, hdr, raw, dtype, lim)
    offset = int(hdr.get_data_offset())
    if offset < size + 4:
        raise VolumeReadError(f"{name}: the header puts the voxel data at byte {offset} (vox_offset), inside the "
                              f"header; in a .nii file they start at {size + 4} or later, so the header is corrupt.")
    if offset - size > MAX_EXTENSION_BYTES:
        raise VolumeReadError(f"{name}: the header puts the voxel data at byte {offset:,} (vox_offset), claiming "
                              f"{offset - size:,} bytes of header extensions; the header is probably corrupt.")
    if not _is_gz(path) and path.stat().st_size < offset + n_bytes:
        raise VolumeReadError(f"{name}: the file is truncated: the header needs {offset + n_bytes:,} bytes, "
                              f"the file has {path.stat().st_size:,}.")
    rest = src.read(offset - size)
    if len(rest) < offset - size:
        raise VolumeReadError(f"{name}: the file is truncated or corrupt: it ends inside the header extensions.")
    try:
        hdr = header_class.from_fileobj(io.BytesIO(block + rest), endianness=endian, check=True)
    except Exception as exc:  # malformed extensions: nibabel raises several types
        raise VolumeReadError(f"{name}: not a readable NIfTI file ({exc}).") from exc
    return CheckedHeader(hdr, raw, shape, dtype, offset, n_bytes)


def _checked_claim(name: str, hdr, raw: tuple[int, ...], dtype: np.dtype, lim: Limits):
    """Validate the header's dimensions and type against the caps; (shape, bytes of voxel data)."""
    if any(s <= 0 for s in raw) or not raw:
        raise VolumeReadError(f"{name}: the header declares an invalid shape {raw}.")
    label = hdr.get_value_label("datatype")
    if dtype.kind == "c":
        raise VolumeReadError(f"{name}: holds complex numbers ({label}); napari-medsynth reads real-valued scalar "
                              "MR. Save the magnitude (or real part) as a real-valued file first.")
    if dtype.kind == "V" and dtype.names and set(dtype.names) <= {"R", "G", "B", "A"}:
        raise VolumeReadError(f"{name}: holds RGB colour voxels ({label}); napari-medsynth reads real-valued scalar "
                              "MR, not colour images.")
    if dtype.kind not in "biuf":
        raise VolumeReadError(f"{name}: stores its voxels as {label} ({dtype}); napari-medsynth reads real-valued "
                              "scalar MR.")
    n = int(np.prod(raw, dtype=np.float64))
    if n > lim.max_voxels:
        raise VolumeReadError(
            f"{name}: the header claims {n:,} voxels (shape {raw}), more than the {lim.max_voxels:,} this reader "
            f"accepts (raise the cap with {ENV_VARS['max_voxels']} or max_voxels=); the header is probably corrupt, "
            "nothing was loaded.")
    n_bytes = n * dtype.itemsize
    if n_bytes > lim.max_bytes:
        raise VolumeReadError(
            f"{name}: the header claims {n_bytes:,} bytes of voxel data (shape {raw}, {label}), more than the "
            f"{lim.max_bytes:,}-byte cap (raise it with {ENV_VARS['max_bytes']} or max_bytes=); nothing was loaded.")
    shape = list(raw)
    while len(shape) > 3 and shape[-1] == 1:  # NIfTI often pads with trailing unit dims
        shape.pop()
    if len(shape) == 1:
        raise VolumeReadError(f"{name}: a 1-D file is not an image (shape {raw}).")
    if len(shape) > 4:
        raise VolumeReadError(
            f"{name}: {len(shape)}-D data (shape {raw}) is not supported; "
            "volumes may have at most 3 spatial axes and one channel/time axis.")
    if len(shape) == 4 and shape[3] > lim.max_channels:
        raise VolumeReadError(
            f"{name}: holds {shape[3]:,} channels or time points (shape {raw}); each would open as a layer and at "
            f"most {lim.max_channels} are accepted (raise the limit with {ENV_VARS['max_channels']} or "
            "max_channels=). To look at one of them, save it as a 3-D file first, e.g. "
            "`fslroi IN.nii.gz OUT.nii.gz K 1` or `nibabel.four_to_three(nibabel.load(IN))[K]`.")
    return tuple(shape), n_bytes


def _read_gz_voxels(path: Path, src: GunzipReader, info: CheckedHeader) -> np.ndarray:
    """Decompress exactly the claimed voxel bytes, then verify the rest of the stream is just the trailer."""
    buf = np.empty(info.n_bytes, np.uint8)  # pages are only touched as data arrive
    try:
        got = src.readinto(buf)
    except GzipTruncated:  # cut inside the voxel data: say how far it got
        got = src.produced - info.offset
    total = info.offset + info.n_bytes
    if got < info.n_bytes:
        raise VolumeReadError(f"{path.name}: the file is truncated or corrupt: the compressed data stop after "
                              f"{info.offset + got:,} of the {total:,} bytes the header declares.")
    extra = src.skip(MAX_TRAILING_BYTES + 1)  # reaches the end of the stream: CRC-32 and length are checked
    if extra > MAX_TRAILING_BYTES:
        raise VolumeReadError(
            f"{path.name}: the compressed data hold more than the {total:,} bytes the header declares (over "
            f"{MAX_TRAILING_BYTES:,} bytes more); the file is corrupt or a decompression bomb, so it was not opened.")
    return np.ndarray(info.raw_shape, info.dtype, buffer=buf, order="F")


def usable_affine(path: Path, hdr) -> np.ndarray:
    """The header's best voxel-to-scanner affine, skipping NaN/infinite/singular ones (with a warning)."""
    s_code, q_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    if s_code or q_code:
        candidates = [(k, getter) for k, code, getter in (("sform", s_code, hdr.get_sform),
                                                          ("qform", q_code, hdr.get_qform)) if code]
    else:
        candidates = [("voxel-size affine (no sform or qform is set)", hdr.get_base_affine)]
    problems = []
    for label, getter in candidates:
        problem = _affine_problem(getter)
        if problem is None:
            if problems:
                warnings.warn(f"{path.name}: {'; '.join(problems)}; using the {label} instead.",
                              AffineFallbackWarning, stacklevel=4)
            return np.asarray(getter(), dtype=np.float64)
        problems.append(f"the {label} {problem}")
    raise VolumeReadError(f"{path.name}: the affine (voxel-to-scanner transform) is unusable: {'; '.join(problems)}. "
                          "The voxels cannot be placed in space, so the file was not opened.")


def _affine_problem(getter) -> str | None:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            aff = np.asarray(getter(), dtype=np.float64)
    except (ValueError, HeaderDataError, np.linalg.LinAlgError) as exc:
        return f"cannot be computed ({exc})"
    if not np.all(np.isfinite(aff)):
        return "holds NaN or infinite values"
    sv = np.linalg.svd(aff[:3, :3], compute_uv=False)
    if sv[0] <= 0 or sv[-1] <= 1e-6 * sv[0]:
        return "is singular (it collapses an axis)"
    return None
