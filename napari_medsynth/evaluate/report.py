"""The evaluation report: every metric of the papers from a real and a synthetic image folder.

:func:`evaluate` loads both sets at one size (:mod:`.imagesets`), then

1. trains the domain classifier (recipe "classifier") on real images of the real set's classes
   (patient-wise 70/30 split; its held-out accuracy is reported so the reader can judge it) and
   computes, through it, the Inception Score of held-out real images (the baseline) and of as
   many synthetic images, and the FID between the pooled features of both sets;
2. SSIM as SAGE reports it (mean over random generated-vs-real pairs) and multi-scale SWD;
3. the machine Turing test (:func:`.turing.machine_turing_test`);
4. a t-SNE figure of real vs synthetic domain-classifier features, and k-means++ clusters of the
   synthetic images (Han et al.) with a figure of each cluster's most central members;
5. optionally the downstream experiment (:mod:`.downstream`).

It writes ``report.md`` (tables in the papers' layout), ``report.json`` (every number),
``figures/*.png``, ``clusters.npz`` (cluster of every synthetic image, for the cleaning panel)
and the trained networks under ``work/`` (checkpoints with model cards).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes, atomic_write_text
from .imagesets import ImageSet, load_image_set
from .training import EvaluationError, Progress, fit_network, predict_crops


@dataclass
class EvaluationSettings:
    size: int = 64                 # every image is resized to size x size
    patch: int = 64                # machine Turing test crop size (<= size)
    domain_steps: int = 300
    c2st_steps: int = 300
    holdout: float = 0.3
    ssim_pairs: int = 1000
    clusters: int = 4              # k of the k-means++ cleaning clusters; 0: none
    max_images: int | None = 2000  # per set, random (seeded)
    width: int = 8
    batch_size: int = 32
    seed: int = 0
    threads: int | None = None
    include_phi: bool = False      # crop datasets: add tumor-free slices as "non-tumor"
    downstream: bool = False
    folds: int = 3
    downstream_steps: int = 200
    unet_steps: int = 200
    amounts: tuple[float, ...] = (0.5, 1.0)


def evaluate(real_dir, synthetic_dir, out_dir, settings: EvaluationSettings | None = None,
             progress: Progress | None = None) -> dict:
    """Run the evaluation and write the report into ``out_dir``; returns the numbers (report.json)."""
    s = settings or EvaluationSettings()
    out = Path(out_dir)
    if s.patch > s.size:
        raise EvaluationError(f"the Turing-test patch ({s.patch}) must not exceed the image size ({s.size})")
    if (out / "work").exists() and any((out / "work").iterdir()):
        raise EvaluationError(f"{out} already holds an evaluation (work/); choose an empty output folder")
    say = progress or (lambda d, t, m: None)
    t0 = time.perf_counter()
    say(0, 1, "loading images")
    real = load_image_set(real_dir, s.size, name="real", max_images=s.max_images, include_phi=s.include_phi,
                          seed=s.seed)
    synthetic = load_image_set(synthetic_dir, s.size, name="synthetic", max_images=s.max_images, seed=s.seed)
    figures = out / "figures"
    numbers: dict = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
                     "real": real.summary(), "synthetic": synthetic.summary(), "notes": []}
    _save_samples(real, synthetic, figures / "samples.png")

    # 1. domain classifier, IS, FID; 4. t-SNE and clusters
    numbers["domain"] = _domain_metrics(real, synthetic, out, s, say, figures, numbers["notes"])
    # 2. SSIM and SWD
    from ..metrics.ssim import ssim_pairs
    from ..metrics.swd import sliced_wasserstein_distance

    say(0, 1, "SSIM and SWD")
    ssim = ssim_pairs(synthetic.images, real.images, data_range=2.0, n_pairs=s.ssim_pairs, seed=s.seed)
    numbers["ssim"] = {"mean": ssim.mean, "std": ssim.std, "n_pairs": ssim.n_pairs, "pairing": ssim.pairing}
    swd = sliced_wasserstein_distance(real.images, synthetic.images, seed=s.seed)
    numbers["swd"] = {"resolutions": list(swd.resolutions), "per_level_x1e3": list(swd.per_level),
                      "mean_x1e3": swd.mean}
    # 3. machine Turing test
    from .turing import machine_turing_test

    real_groups = real.patients if len(np.unique(real.patients)) >= 2 else None
    fake_groups = synthetic.patients if len(np.unique(synthetic.patients)) >= 4 else None
    turing = machine_turing_test(real.images, synthetic.images, patch=s.patch, steps=s.c2st_steps, seed=s.seed,
                                 holdout=s.holdout, threads=s.threads, work_dir=out / "work" / "c2st",
                                 progress=say, real_groups=real_groups, fake_groups=fake_groups,
                                 batch_size=s.batch_size, width=s.width)
    numbers["turing"] = turing.to_dict()
    # 5. downstream
    if s.downstream:
        from .downstream import DownstreamSettings, downstream_experiment

        ds = DownstreamSettings(folds=s.folds, classifier_steps=s.downstream_steps, unet_steps=s.unet_steps,
                                amounts=tuple(s.amounts), batch_size=s.batch_size, width=s.width, seed=s.seed,
                                threads=s.threads)
        results = downstream_experiment(real, synthetic, out / "work" / "downstream", ds, progress=say)
        numbers["downstream"] = {k: v.to_dict() for k, v in results.items()}
    numbers["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / "report.json", json.dumps(_plain(numbers), indent=2) + "\n")
    atomic_write_text(out / "report.md", render_markdown(numbers))
    say(1, 1, f"report written to {out / 'report.md'}")
    return numbers


def _domain_metrics(real: ImageSet, synthetic: ImageSet, out: Path, s: EvaluationSettings, say, figures, notes):
    from ..metrics.features import iterate_batches, module_outputs
    from ..metrics.fid import frechet_distance
    from ..metrics.inception import inception_score
    from ..networks.classifier import PooledFeatures
    from .downstream import patient_folds

    classes = [c for c in real.class_names if c != "all"]
    if len(classes) < 2:
        notes.append(f"IS, FID, t-SNE and clusters need a domain classifier of at least two real classes; the "
                     f"real set has {', '.join(real.class_names)} (give classes by subfolder or JSON sidecar, or "
                     "masks for tumor vs non-tumor)")
        return None
    rng = np.random.default_rng(s.seed)
    n_patients = len(np.unique(real.patients))
    if n_patients >= 3:
        train_idx, test_idx = patient_folds(real.patients, max(2, min(n_patients, round(1 / s.holdout))), s.seed)[0]
    else:
        order = rng.permutation(len(real))
        cut = int(round(len(real) * (1 - s.holdout)))
        train_idx, test_idx = np.sort(order[:cut]), np.sort(order[cut:])
    lookup = {c: i for i, c in enumerate(classes)}
    labels = np.array([lookup[c] for c in real.classes])
    net, _ = fit_network("classifier", out / "work" / "domain", real.images[train_idx], labels[train_idx],
                         steps=s.domain_steps, seed=s.seed, threads=s.threads, progress=say,
                         label="domain classifier",
                         overrides={"image_size": s.size, "n_classes": len(classes), "batch_size": s.batch_size,
                                    "width": s.width})
    held_acc = float((predict_crops(net, real.images[test_idx], s.size).argmax(1) == labels[test_idx]).mean())
    say(0, 1, "IS, FID, t-SNE, clusters")
    logits_real = module_outputs(net, iterate_batches(real.images[test_idx]))
    logits_syn = module_outputs(net, iterate_batches(synthetic.images))
    n = min(len(logits_real), len(logits_syn))  # IS depends on the number of images: use equally many
    syn_pick = np.sort(rng.choice(len(logits_syn), n, replace=False))
    real_pick = np.sort(rng.choice(len(logits_real), n, replace=False))
    is_real = inception_score(logits_real[real_pick], logits=True)
    is_syn = inception_score(logits_syn[syn_pick], logits=True)
    feats = PooledFeatures(net)
    f_real = module_outputs(feats, iterate_batches(real.images))
    f_syn = module_outputs(feats, iterate_batches(synthetic.images))
    result = {"classes": classes, "train_images": int(len(train_idx)), "heldout_images": int(len(test_idx)),
              "heldout_accuracy": held_acc, "checkpoint_dir": str(out / "work" / "domain" / "run"),
              "is_real": is_real[0], "is_synthetic": is_syn[0], "is_images": int(n),
              "is_ratio": is_syn[0] / is_real[0], "fid": frechet_distance(f_real, f_syn),
              "feature_dim": int(f_real.shape[1])}
    from ..metrics.tsne import save_tsne_figure, tsne_embedding

    if len(f_real) + len(f_syn) >= 8:
        emb = tsne_embedding({"real": f_real, "synthetic": f_syn}, seed=s.seed)
        save_tsne_figure(emb, figures / "tsne.png", title="t-SNE of domain-classifier features")
        result["tsne_figure"] = "figures/tsne.png"
    if s.clusters > 0 and len(f_syn) > s.clusters:
        from ..metrics.cleaning import kmeans_clusters

        cl = kmeans_clusters(f_syn, s.clusters, seed=s.seed)
        import io

        buf = io.BytesIO()
        np.savez(buf, labels=cl.labels, distances=cl.distances, images=synthetic.images,
                 sources=np.array(synthetic.sources), root=np.array(synthetic.root))
        atomic_write_bytes(out / "clusters.npz", buf.getvalue())
        _save_clusters(synthetic, cl, figures / "clusters.png")
        result["clusters"] = {"k": cl.k, "sizes": cl.sizes.tolist(), "figure": "figures/clusters.png",
                              "file": "clusters.npz"}
    return result


def _montage_axes(fig, rows, cols):
    return [[fig.add_subplot(rows, cols, r * cols + c + 1) for c in range(cols)] for r in range(rows)]


def _save_grid(rows_of_images, row_titles, path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(1, max(len(r) for r in rows_of_images))
    fig = Figure(figsize=(1.3 * cols + 1.5, 1.4 * len(rows_of_images) + 0.6))
    FigureCanvasAgg(fig)
    axes = _montage_axes(fig, len(rows_of_images), cols)
    for r, (images, name) in enumerate(zip(rows_of_images, row_titles)):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=-1, vmax=1)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())


def _save_samples(real: ImageSet, synthetic: ImageSet, path: Path, n: int = 8) -> None:
    rng = np.random.default_rng(0)
    pick = lambda s: s.images[np.sort(rng.choice(len(s), min(n, len(s)), replace=False))]  # noqa: E731
    _save_grid([pick(real), pick(synthetic)], ["real", "synthetic"], path, "Random real and synthetic images")


def _save_clusters(synthetic: ImageSet, clusters, path: Path, n: int = 8) -> None:
    rows = [synthetic.images[clusters.representatives[c][:n]] for c in range(clusters.k)]
    names = [f"cluster {c}\n({int(clusters.sizes[c])} images)" for c in range(clusters.k)]
    _save_grid(rows, names, path, "k-means++ clusters of synthetic images (most central members)")


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _fmt(v, digits=3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def render_markdown(n: dict) -> str:
    """The report's Markdown from the numbers that :func:`evaluate` returns."""
    r, sy = n["real"], n["synthetic"]
    lines = ["# Evaluation of synthetic images", "",
             f"Real: `{r['root']}`: {r['n_images']} images, {r['n_patients']} patient(s), classes "
             f"{r['classes']}.  ", f"Synthetic: `{sy['root']}`: {sy['n_images']} images, classes {sy['classes']}.  ",
             f"Evaluation size {r['size']} x {r['size']} px, intensities rescaled to [-1, 1].", "",
             "![samples](figures/samples.png)", ""]
    d = n.get("domain")
    lines += ["## Inception Score and FID (domain classifier)", ""]
    if d:
        lines += [f"A ResNet-18-style classifier ({' / '.join(d['classes'])}) trained on {d['train_images']} real "
                  f"images; accuracy on {d['heldout_images']} held-out real images: {_fmt(d['heldout_accuracy'])}. "
                  f"IS on {d['is_images']} images each (range 1 to {len(d['classes'])}).", "",
                  "| Images | IS | IS / real IS | FID |", "|---|---|---|---|",
                  f"| Real (baseline, held out) | {_fmt(d['is_real'])} | 1.000 | 0 |",
                  f"| Synthetic | {_fmt(d['is_synthetic'])} | {_fmt(d['is_ratio'])} | {_fmt(d['fid'], 2)} |", ""]
    lines += [f"- {note}" for note in n.get("notes", [])] + ([""] if n.get("notes") else [])
    ss, sw = n["ssim"], n["swd"]
    lines += ["## SSIM and SWD", "", "| Metric | Value |", "|---|---|",
              f"| SSIM, mean (std) over {ss['n_pairs']} {ss['pairing']} synthetic-real pairs | "
              f"{_fmt(ss['mean'])} ({_fmt(ss['std'])}) |",
              f"| SWD x 1e3, mean over levels | {_fmt(sw['mean_x1e3'], 2)} |"]
    lines += [f"| SWD x 1e3 at {res} px | {_fmt(v, 2)} |" for res, v in zip(sw["resolutions"], sw["per_level_x1e3"])]
    t = n["turing"]
    st = t["statistics"]
    verdict = ("the classifier tells them apart (p < 0.05)" if st["distinguishable"]
               else "not distinguishable by this classifier (p >= 0.05)")
    lines += ["", "## Machine Turing test", "",
              f"A fresh CNN trained {t['steps']} steps on {t['patch']} px crops of {t['n_train_real']} real and "
              f"{t['n_train_fake']} synthetic images, tested on {st['n']} held-out images (half real). "
              "0.5 = indistinguishable.", "",
              "| Accuracy | 95% CI | p (one-sided vs 0.5) | Verdict |", "|---|---|---|---|",
              f"| {_fmt(st['accuracy'])} | {_fmt(st['ci_low'])} - {_fmt(st['ci_high'])} | {st['p_value']:.3g} "
              f"| {verdict} |"]
    if d and d.get("tsne_figure"):
        lines += ["", "## t-SNE", "", "![t-SNE](figures/tsne.png)"]
    if d and d.get("clusters"):
        c = d["clusters"]
        lines += ["", "## Clusters of synthetic images", "",
                  f"k-means++ (k = {c['k']}) on domain-classifier features; sizes {c['sizes']}. Look at them and "
                  "discard unrealistic clusters in the Clean synthetic images panel (it reads `clusters.npz`).", "",
                  "![clusters](figures/clusters.png)"]
    if "downstream" in n:
        lines += ["", "## Downstream experiment", ""] + _downstream_tables(n["downstream"])
    lines += ["", f"Computed in {n.get('seconds', 0)} s. Every number is in `report.json`; the trained networks "
              "(checkpoints and model cards) are under `work/`.", ""]
    return "\n".join(lines)


def _downstream_tables(ds: dict) -> list[str]:
    lines = []
    for kind, res in ds.items():
        summary = res["summary"]
        metrics = list(next(iter(summary.values())).keys()) if summary else []
        positive = f" (positive: {res['positive']})" if res.get("positive") else ""
        head = f"{kind.capitalize()}: {res['task']}{positive}"
        lines += [f"### {head}", "", f"Mean (std) over {res['folds']} patient-wise folds; tested on real images "
                  "of the held-out patients only.", "",
                  "| Training set | Images | " + " | ".join(metrics) + " |",
                  "|---|---|" + "---|" * len(metrics)]
        for cond, vals in summary.items():
            n_train = res["n_train"].get(cond, [])
            cells = [f"{_fmt(m)} ({_fmt(sd)})" for m, sd in (vals[k] for k in metrics)]
            lines.append(f"| {cond} | {int(np.mean(n_train)) if n_train else 0} | " + " | ".join(cells) + " |")
        lines += [f"- {note}" for note in res.get("notes", [])] + [""]
    return lines
