"""Downstream experiment: does training on synthetic images help a classifier and a segmenter?

Patient-wise k-fold cross-validation on the real set. In every fold the networks are trained
(each through the one Trainer) on one of these training sets and tested on the fold's real test
patients, which never appear in training:

* ``real``: the real training patients' images;
* ``synthetic``: synthetic images only (as many as there are real training images);
* ``real + synthetic xA``: the real training images plus A times as many synthetic ones;
* ``real + classic DA``: real images with classic augmentation (flip, rotation <= 10 degrees,
  shift / shear / zoom <= 8 %, elastic; see :mod:`napari_medsynth.train.arrays`);
* ``real + classic DA + synthetic xA``: both, with the largest A.

Classification (the "classifier" recipe): the real set's classes (e.g. control vs mutated), or
tumor vs non-tumor from the masks. Image-level ACC / SEN / SPEC; patient-level (SAGE Table III):
the mean of a patient's slice probabilities weighted by tumor area (uniform without masks), when
every patient has one class. Segmentation (the "unet2d" recipe): mean Dice over the test images
that contain tumor. Each number is mean (std) over folds.

The synthetic images are the same in every fold. When the generator was trained on all real
patients, test patients leak into the synthetic training sets; for a clean comparison generate
one synthetic set per fold from that fold's training patients (as SAGE did) and run once per fold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .imagesets import ImageSet
from .training import EvaluationError, Progress, fit_network, predict_crops

NEGATIVE_NAMES = ("control", "non-tumor", "healthy", "negative", "normal", "wildtype", "wild-type")


@dataclass
class DownstreamSettings:
    folds: int = 3
    classifier_steps: int = 200
    unet_steps: int = 200
    #: Synthetic images added, as multiples of the number of real training images.
    amounts: tuple[float, ...] = (0.5, 1.0)
    #: Run only these training sets (names as in :func:`conditions`); None: all of them.
    only: tuple[str, ...] | None = None
    batch_size: int = 32
    width: int = 8
    lr: float = 1e-3
    seed: int = 0
    threads: int | None = None
    classification: bool = True
    segmentation: bool = True


@dataclass
class DownstreamResult:
    task: str                      # e.g. "control vs mutated"
    positive: str | None           # class counted as positive for SEN / SPEC
    folds: int
    #: condition -> metric -> per-fold values (NaN where a fold had no such test case)
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    n_train: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """condition -> metric -> (mean, std) over folds (NaN folds left out)."""
        out = {}
        for cond, metrics in self.values.items():
            out[cond] = {}
            for name, vals in metrics.items():
                v = np.asarray(vals, float)
                v = v[np.isfinite(v)]
                out[cond][name] = (float(v.mean()), float(v.std())) if len(v) else (float("nan"), float("nan"))
        return out

    def to_dict(self) -> dict:
        return {"task": self.task, "positive": self.positive, "folds": self.folds, "values": self.values,
                "n_train": self.n_train, "summary": {c: {m: list(v) for m, v in ms.items()}
                                                     for c, ms in self.summary().items()},
                "notes": self.notes}


def patient_folds(patients, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Patient-wise k-fold: [(train image indices, test image indices), ...]."""
    patients = np.asarray(patients)
    ids = np.unique(patients)
    if not 2 <= k <= len(ids):
        raise EvaluationError(f"{k}-fold cross-validation needs at least {k} real patients; the real set has "
                              f"{len(ids)} (set the patient in each image's JSON sidecar, or use fewer folds)")
    order = np.random.default_rng(seed).permutation(len(ids))
    out = []
    for f in range(k):
        test = np.isin(patients, ids[order[f::k]])
        out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def conditions(amounts) -> list[tuple[str, bool, float]]:
    """(name, classic augmentation, synthetic amount; -1 = synthetic only) of every training set."""
    amounts = sorted(float(a) for a in amounts)
    rows = [("real", False, 0.0), ("synthetic", False, -1.0)]
    rows += [(f"real + synthetic x{a:g}", False, a) for a in amounts]
    rows += [("real + classic DA", True, 0.0)]
    if amounts:
        rows += [(f"real + classic DA + synthetic x{amounts[-1]:g}", True, amounts[-1])]
    return rows


def downstream_experiment(real: ImageSet, synthetic: ImageSet, work_dir: str | os.PathLike,
                          settings: DownstreamSettings | None = None,
                          progress: Progress | None = None) -> dict[str, DownstreamResult]:
    """Run the experiment; returns {"classification": ..., "segmentation": ...} (those that apply)."""
    s = settings or DownstreamSettings()
    if any(a <= 0 for a in s.amounts):
        raise EvaluationError(f"synthetic amounts must be positive multiples; got {s.amounts}")
    if real.images.shape[1:] != synthetic.images.shape[1:]:
        raise EvaluationError("real and synthetic images differ in size; load both at one size")
    folds = patient_folds(real.patients, s.folds, s.seed)
    work = Path(work_dir)
    tasks, skipped = [], None
    if s.classification:
        cls_task = _classification_task(real, synthetic)
        if isinstance(cls_task, str):
            if not s.segmentation:
                raise EvaluationError(cls_task)
            skipped = cls_task
        else:
            tasks.append(("classification", cls_task))
    if s.segmentation:
        if real.masks is None or not (real.masks[real.has_mask].sum(axis=(1, 2)) > 0).any():
            if not tasks:
                raise EvaluationError("the real set has no tumor masks (<stem>_label/_seg/_labels7) to train a "
                                      "segmenter, and fewer than two classes to train a classifier")
        else:
            tasks.append(("segmentation", None))
    rows = conditions(s.amounts)
    if s.only is not None:
        unknown = sorted(set(s.only) - {r[0] for r in rows})
        if unknown:
            raise EvaluationError(f"unknown training set(s) {', '.join(unknown)}; available: "
                                  f"{', '.join(r[0] for r in rows)}")
        rows = [r for r in rows if r[0] in s.only]
    total = len(tasks) * len(rows) * len(folds)
    done = [0]
    results = {}
    for kind, task in tasks:
        result = (DownstreamResult(task["name"], task["positive"], len(folds)) if kind == "classification"
                  else DownstreamResult("tumor segmentation", None, len(folds)))
        for cond, classic, amount in rows:
            for f, (train_idx, test_idx) in enumerate(folds):
                label = f"{kind}, {cond}, fold {f + 1}/{len(folds)}"

                def step_progress(d, t, m, _label=label):
                    if progress is not None:
                        progress(done[0], total, f"{_label}: step {d}/{t}")

                folder = work / kind / _slug(cond) / f"fold{f + 1}"
                if kind == "classification":
                    values, n = _classify_fold(real, synthetic, task, train_idx, test_idx, classic, amount, s,
                                               folder, step_progress, f)
                else:
                    values, n = _segment_fold(real, synthetic, train_idx, test_idx, classic, amount, s, folder,
                                              step_progress, f)
                if values is None:
                    result.notes.append(f"{cond}: {n}")
                    done[0] += len(folds) - f
                    break
                for name, v in values.items():
                    result.values.setdefault(cond, {}).setdefault(name, []).append(v)
                result.n_train.setdefault(cond, []).append(n)
                done[0] += 1
                if progress is not None:
                    progress(done[0], total, f"{label}: done")
        results[kind] = result
    if skipped and "segmentation" in results:
        results["segmentation"].notes.append(f"no classification: {skipped}")
    return results


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def _classification_task(real: ImageSet, synthetic: ImageSet):
    names = [c for c in real.class_names if c != "all"]
    if len(names) < 2:
        return (f"the real set has {len(names)} class(es) ({', '.join(real.class_names)}); classification needs "
                "two: give classes by subfolder or JSON sidecar, or masks for tumor vs non-tumor")
    negatives = [n for n in names if n.lower() in NEGATIVE_NAMES]
    positive = None
    if len(names) == 2:
        positive = next(n for n in names if n not in negatives) if len(negatives) == 1 else names[1]
    return {"name": " vs ".join(names), "classes": names, "positive": positive}


def _mix(real: ImageSet, synthetic: ImageSet, train_idx, usable_syn, amount: float, rng):
    """Indices of the real and synthetic training images of one condition."""
    if amount < 0:  # synthetic only, as many as the real training images
        n_syn, real_idx = len(train_idx), np.array([], int)
    else:
        n_syn, real_idx = int(round(amount * len(train_idx))), train_idx
    if n_syn and not len(usable_syn):
        return None, None
    syn_idx = rng.choice(usable_syn, min(n_syn, len(usable_syn)), replace=False) if n_syn else np.array([], int)
    return real_idx, np.sort(syn_idx)


def _classify_fold(real, synthetic, task, train_idx, test_idx, classic, amount, s, folder, progress, fold):
    classes = task["classes"]
    usable = np.flatnonzero(np.isin(synthetic.classes, classes))
    rng = np.random.default_rng([s.seed, fold])
    real_idx, syn_idx = _mix(real, synthetic, train_idx, usable, amount, rng)
    if real_idx is None:
        return None, f"no synthetic image has one of the classes {', '.join(classes)}"
    lookup = {c: i for i, c in enumerate(classes)}
    images = np.concatenate([real.images[real_idx], synthetic.images[syn_idx]])
    labels = np.array([lookup[c] for c in np.concatenate([real.classes[real_idx], synthetic.classes[syn_idx]])])
    if len(np.unique(labels)) < 2:
        return None, "the training images of a fold hold only one class"
    size = real.images.shape[-1]
    net, _ = fit_network("classifier", folder, images, labels, steps=s.classifier_steps, seed=s.seed,
                         threads=s.threads, progress=progress, label="classifier",
                         overrides={"image_size": size, "n_classes": len(classes), "batch_size": s.batch_size,
                                    "width": s.width, "lr": s.lr, "augment": "classic" if classic else "flip"})
    test = real.subset(test_idx)
    truth = np.array([lookup.get(c, -1) for c in test.classes])
    keep = truth >= 0
    probs = predict_crops(net, test.images[keep], size)
    truth, test = truth[keep], test.subset(np.flatnonzero(keep))
    values = _binary_metrics(probs.argmax(1), truth, classes, task["positive"], "")
    # Patient level: weighted mean of the slice probabilities, if each patient has one class.
    weights = test.masks.sum(axis=(1, 2)).astype(float) if test.masks is not None else np.ones(len(test))
    weights = np.where(weights > 0, weights, 1.0)
    pp, pt = [], []
    for p in np.unique(test.patients):
        sel = test.patients == p
        if len(np.unique(truth[sel])) != 1:
            pp, pt = [], []
            break
        pp.append(int(np.average(probs[sel], axis=0, weights=weights[sel]).argmax()))
        pt.append(int(truth[sel][0]))
    values.update(_binary_metrics(np.array(pp), np.array(pt), classes, task["positive"], "PL ")
                  if pp else {"PL ACC": float("nan"), "PL SEN": float("nan"), "PL SPEC": float("nan")})
    return values, len(images)


def _binary_metrics(pred, truth, classes, positive, prefix: str) -> dict[str, float]:
    out = {f"{prefix}ACC": float((pred == truth).mean()) if len(truth) else float("nan")}
    if positive is not None:
        pos = classes.index(positive)
        tp = np.sum((pred == pos) & (truth == pos))
        tn = np.sum((pred != pos) & (truth != pos))
        n_pos, n_neg = np.sum(truth == pos), np.sum(truth != pos)
        out[f"{prefix}SEN"] = float(tp / n_pos) if n_pos else float("nan")
        out[f"{prefix}SPEC"] = float(tn / n_neg) if n_neg else float("nan")
    return out


def _segment_fold(real, synthetic, train_idx, test_idx, classic, amount, s, folder, progress, fold):
    train_idx = train_idx[real.has_mask[train_idx]]
    usable = np.flatnonzero(synthetic.has_mask) if synthetic.masks is not None else np.array([], int)
    rng = np.random.default_rng([s.seed, fold, 1])
    real_idx, syn_idx = _mix(real, synthetic, train_idx, usable, amount, rng)
    if real_idx is None:
        return None, "no synthetic image has a mask (<stem>_label / _seg / _labels7)"
    images = np.concatenate([real.images[real_idx], synthetic.images[syn_idx]])
    masks = np.concatenate([real.masks[real_idx], synthetic.masks[syn_idx]])
    size = real.images.shape[-1]
    net, _ = fit_network("unet2d", folder, images, np.zeros(len(images), np.int64), masks,
                         steps=s.unet_steps, seed=s.seed, threads=s.threads, progress=progress, label="U-Net",
                         overrides={"image_size": size, "batch_size": max(2, s.batch_size // 2), "width": s.width,
                                    "lr": s.lr, "augment": "classic" if classic else "flip"})
    test_idx = test_idx[real.has_mask[test_idx]]
    truth = real.masks[test_idx].astype(bool)
    with_tumor = truth.sum(axis=(1, 2)) > 0
    if not with_tumor.any():
        return {"Dice": float("nan")}, len(images)
    pred = segment(net, real.images[test_idx][with_tumor])
    return {"Dice": float(np.mean(dice_scores(pred, truth[with_tumor])))}, len(images)


def segment(net, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Binary tumor masks (N, H, W) predicted by a trained U-Net."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size, None], dtype=np.float32))
            out.append(net(x).argmax(1).numpy().astype(bool))
    return np.concatenate(out)


def dice_scores(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image Dice 2|A & B| / (|A| + |B|); 1 where both are empty."""
    inter = (pred & truth).sum(axis=(1, 2))
    total = pred.sum(axis=(1, 2)) + truth.sum(axis=(1, 2))
    return np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)
