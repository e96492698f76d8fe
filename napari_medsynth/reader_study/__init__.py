"""Blind Visual Turing tests of synthetic images with radiologists (SAGE Table II, Han et al. Table 2).

Organizer side: :func:`create_study` (stimuli + key), :func:`export_offline`, :func:`merge_sessions`,
:func:`score_files` (metrics, ROC and MRMC analysis, fooled rates, report). Reader side:
:class:`ReaderSession`. Names are imported on first use, so that importing the reader side never
loads the modules that read answer keys.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "create_study": "create", "CreatedStudy": "create",
    "load_study": "study", "Study": "study", "StudySettings": "study", "StudyError": "study",
    "ReaderSession": "session", "SessionError": "session", "SessionLockedError": "session",
    "SessionWriteError": "session", "leak_check": "leakcheck", "LeakCheck": "leakcheck",
    "read_session_file": "session",
    "read_key": "sheets", "read_answers": "sheets", "SheetError": "sheets",
    "score": "scoring", "score_study": "scoring", "fleiss_kappa": "scoring", "wilson_ci": "scoring",
    "empirical_auc": "roc", "delong": "roc", "binormal_fit": "roc", "operating_points": "roc",
    "obuchowski_rockette": "mrmc", "single_treatment": "mrmc", "jackknife_auc": "mrmc",
    "export_offline": "export", "merge_sessions": "export", "score_files": "export",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
