"""MR volume input/output: NIfTI files, BraTS case folders, orientation and normalization."""

from .atomic import atomic_write, atomic_write_text, fsync_dir
from .case import CASE_SUFFIXES, CaseFiles, case_files, find_case_files, find_cases, read_case, read_segmentation
from .errors import AffineFallbackWarning, NonFiniteVoxelsWarning, VolumeReadError, VolumeWriteError
from .nifti import DISPLAY_AXCODES, Volume, is_nifti_path, read_volume, write_volume
from .normalize import brain_mask, percentile_rescale, zscore

__all__ = [
    "AffineFallbackWarning",
    "atomic_write",
    "atomic_write_text",
    "fsync_dir",
    "CASE_SUFFIXES",
    "CaseFiles",
    "case_files",
    "find_cases",
    "read_segmentation",
    "DISPLAY_AXCODES",
    "NonFiniteVoxelsWarning",
    "Volume",
    "VolumeReadError",
    "VolumeWriteError",
    "brain_mask",
    "find_case_files",
    "is_nifti_path",
    "percentile_rescale",
    "read_case",
    "read_volume",
    "write_volume",
    "zscore",
]
