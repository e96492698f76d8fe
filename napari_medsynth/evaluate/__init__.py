"""Evaluation of synthetic images: machine Turing test, domain-classifier metrics, downstream
experiments and the report that gathers them. No Qt here; widgets and the CLI call these.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "machine_turing_test": "turing", "TuringResult": "turing",
    "EvaluationError": "training", "fit_network": "training", "load_trained": "training",
    "predict_crops": "training",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
