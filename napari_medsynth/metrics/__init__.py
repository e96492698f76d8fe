"""Metrics of synthetic images: IS, FID, SSIM, SWD, t-SNE, cleaning filters and C2ST statistics.

No Qt and no napari here: every function takes arrays (or a torch module and batches) and
returns numbers, so notebooks, the CLI and widgets share them. Names are imported on first use,
so that ``import napari_medsynth.metrics`` does not load torch or scikit-learn.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "module_outputs": "features", "iterate_batches": "features",
    "inception_score": "inception", "inception_score_of": "inception", "real_baseline": "inception",
    "BaselineIS": "inception",
    "ssim_pairs": "ssim", "ms_ssim_pairs": "ssim", "PairedSSIM": "ssim",
    "sliced_wasserstein_distance": "swd", "SWDResult": "swd",
    "c2st_statistics": "c2st", "C2STResult": "c2st",
    "kmeans_clusters": "cleaning", "Clusters": "cleaning", "zscore_filter": "cleaning",
    "ZScoreReport": "cleaning", "size_matched_zscore_filter": "cleaning", "SizeMatchedReport": "cleaning",
    "pass_rate_by_size": "cleaning",
    "nearest_distances": "memorisation", "memorisation_report": "memorisation", "MemorisationReport": "memorisation",
    "tsne_embedding": "tsne", "save_tsne_figure": "tsne", "Embedding": "tsne",
    "frechet_distance": "fid", "frechet_distance_of": "fid", "gaussian_frechet_distance": "fid",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
