"""t-SNE of real vs synthetic features and its figure."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medsynth.metrics import save_tsne_figure, tsne_embedding


def _sets(shift=8.0, n=40, d=64):
    rng = np.random.default_rng(0)
    return {"real": rng.normal(size=(n, d)), "synthetic": rng.normal(size=(n, d)) + shift}


def _neighbour_purity(emb):
    """Share of points whose nearest other point comes from the same set."""
    d = np.linalg.norm(emb.points[:, None] - emb.points[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return float((emb.groups[d.argmin(axis=1)] == emb.groups).mean())


def test_separate_sets_stay_apart_and_mixed_sets_mix():
    apart = tsne_embedding(_sets(), max_iter=500)
    assert apart.points.shape == (80, 2) and apart.names == ("real", "synthetic")
    assert (apart.groups == "real").sum() == 40
    assert _neighbour_purity(apart) == 1.0
    mixed = tsne_embedding(_sets(shift=0.0), max_iter=500)
    assert _neighbour_purity(mixed) < 0.8


def test_same_seed_same_map_and_default_perplexity_fits_small_sets():
    a = tsne_embedding(_sets(n=10), max_iter=250, seed=2)
    b = tsne_embedding(_sets(n=10), max_iter=250, seed=2)
    np.testing.assert_array_equal(a.points, b.points)
    assert a.perplexity == pytest.approx(19 / 3)


def test_figure_is_written_atomically(tmp_path):
    from PIL import Image

    emb = tsne_embedding({**_sets(), "augmented": _sets()["real"] + 4.0}, max_iter=500)
    out = save_tsne_figure(emb, tmp_path / "figs" / "tsne.png", title="real vs synthetic")
    assert out == tmp_path / "figs" / "tsne.png"
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size[0] > 300
    assert [p.name for p in out.parent.iterdir()] == ["tsne.png"]  # no temporary file left
    save_tsne_figure(emb, tmp_path / "tsne.svg")
    assert (tmp_path / "tsne.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("sets, kwargs, message", [
    ({}, {}, "non-empty"),
    ({"real": np.zeros((5, 3)), "synthetic": np.zeros((5, 4))}, {}, "same feature size"),
    ({"real": np.full((5, 3), np.nan)}, {}, "NaN"),
    ({"real": np.zeros((2, 3))}, {}, "at least 4"),
    ({"real": np.zeros((5, 3))}, {"perplexity": 5}, "perplexity"),
])
def test_bad_input_is_refused_with_a_reason(sets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tsne_embedding(sets, **kwargs)
