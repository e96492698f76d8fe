"""Machine Turing test: can a fresh CNN tell real images from synthetic ones?

A classifier two-sample test (C2ST; Lopez-Paz & Oquab 2017). Both sets are split into a training
part and a held-out part (by image, or by group, e.g. patient, so that slices of one scan never
sit on both sides). A small ResNet-18-style network (recipe "c2st", trained through the one
:class:`~napari_medsynth.train.trainer.Trainer`) learns real (1) vs synthetic (0) on random
``patch`` x ``patch`` crops of the training part (crops that are mostly air around the brain are
drawn again, see ``min_foreground``); it then classifies the held-out images (probabilities
averaged over every grid crop on the image's foreground), balanced to equally many real and
synthetic images.
The accuracy with its 95 % Wilson interval and a one-sided binomial p-value against 0.5 come from
:func:`napari_medsynth.metrics.c2st.c2st_statistics`.

Reading it: ~0.5 (interval containing 0.5, p >= 0.05) means this classifier could not tell the
sets apart; near 1.0 means the synthetic images are easy to spot. Like the human reader studies,
the test is only as strong as the classifier: a short run can miss subtle differences, so report
the training steps with the result. :attr:`TuringResult.auc` (the chance that a real test image
scores above a synthetic one) does not depend on the 0.5 threshold: a classifier trained on other
patients may put every image of a new patient on one side of 0.5 (accuracy 0.5) and still rank
real above synthetic.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..metrics.c2st import C2STResult, c2st_statistics
from .training import EvaluationError, Progress, fit_network, predict_crops


@dataclass(frozen=True)
class TuringResult:
    """Outcome of :func:`machine_turing_test`; ``statistics`` holds accuracy, CI and p-value."""

    statistics: C2STResult
    n_train_real: int
    n_train_fake: int
    steps: int
    patch: int
    #: P(real) of every held-out image and its truth (1 real, 0 synthetic), in test order.
    probabilities: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    checkpoint_dir: str = ""

    @property
    def accuracy(self) -> float:
        return self.statistics.accuracy

    @property
    def ci_low(self) -> float:
        return self.statistics.ci_low

    @property
    def ci_high(self) -> float:
        return self.statistics.ci_high

    @property
    def p_value(self) -> float:
        return self.statistics.p_value

    @property
    def auc(self) -> float:
        """Area under the ROC curve of the held-out scores: P(real scores above synthetic), ties half."""
        from ..reader_study.roc import empirical_auc

        p = np.asarray(self.probabilities, dtype=np.float64)
        truth = np.asarray(self.labels) == 1
        if truth.all() or not truth.any():
            return float("nan")
        return empirical_auc(p[~truth], p[truth])

    @property
    def called_real(self) -> float:
        """Share of held-out images called real: 0 or 1 means one answer for all (nothing learnt,
        or a shift between training and test patients that the threshold does not survive)."""
        return float(np.mean(np.asarray(self.probabilities) > 0.5))

    def to_dict(self) -> dict:
        s = asdict(self.statistics)
        s["distinguishable"] = self.statistics.distinguishable
        return {"statistics": s, "auc": round(self.auc, 4), "called_real": round(self.called_real, 4),
                "n_train_real": self.n_train_real, "n_train_fake": self.n_train_fake,
                "n_test": self.statistics.n, "steps": self.steps, "patch": self.patch,
                "checkpoint_dir": self.checkpoint_dir}


def machine_turing_test(real, fake, patch: int = 64, steps: int = 300, seed: int = 0, holdout: float = 0.3,
                        threads: int | None = None, work_dir: str | os.PathLike | None = None,
                        progress: Progress | None = None, *, real_groups=None, fake_groups=None,
                        batch_size: int = 32, width: int = 8, lr: float = 1e-3, test_groups=None,
                        min_foreground: float = 0.5) -> TuringResult:
    """Train a fresh CNN to tell ``real`` from ``fake`` and score it on held-out images.

    ``real``, ``fake``: (N, H, W) float images of one size, in a common intensity range (e.g. both
    rescaled to [-1, 1] the same way; a range difference is itself a giveaway the test will find).
    ``patch``: side of the random crops the network sees (images smaller than that are refused).
    ``holdout``: fraction of each set's images (or groups) held out for testing.
    ``real_groups`` / ``fake_groups``: optional (N,) ids (e.g. patient); a group is never split.
    ``test_groups``: the group ids to test on (e.g. one patient per fold of a cross-validation);
    default: ``holdout`` of the groups, drawn at random.
    ``min_foreground``: training crops are redrawn until this fraction of them is foreground (pixels
    that differ from the image's corner pixel, i.e. not the air around a brain), and test images are
    scored on the grid crops that are; 0 uses any crop and the centre and corner crops.
    ``work_dir``: where the training data and checkpoint go (a temporary folder if None).
    ``progress(done, total, message)`` is called after every training step.
    """
    real = _stack(real, "real")
    fake = _stack(fake, "fake")
    if real.shape[1:] != fake.shape[1:]:
        raise EvaluationError(f"real images are {real.shape[1]}x{real.shape[2]} but synthetic ones are "
                              f"{fake.shape[1]}x{fake.shape[2]}; resize both to one size first")
    if real.shape[1] != real.shape[2]:
        raise EvaluationError(f"images must be square; got {real.shape[1]}x{real.shape[2]} (pad them first)")
    if patch < 8 or patch > real.shape[1]:
        raise EvaluationError(f"patch must lie between 8 and the image size {real.shape[1]}; got {patch}")
    if not 0 < holdout < 1:
        raise EvaluationError(f"holdout must be a fraction between 0 and 1; got {holdout}")
    if steps < 1:
        raise EvaluationError(f"steps must be at least 1; got {steps}")
    if not 0.0 <= min_foreground <= 1.0:
        raise EvaluationError(f"min_foreground must be a fraction from 0 to 1; got {min_foreground}")
    rng = np.random.default_rng(seed)
    train_r, test_r = _split(len(real), real_groups, holdout, rng, "real", test_groups)
    train_f, test_f = _split(len(fake), fake_groups, holdout, rng, "fake", test_groups)
    n_test = min(len(test_r), len(test_f))  # balanced, so that 0.5 is chance level
    test_r = np.sort(rng.choice(test_r, n_test, replace=False))
    test_f = np.sort(rng.choice(test_f, n_test, replace=False))

    images = np.concatenate([real[train_r], fake[train_f]])
    labels = np.concatenate([np.ones(len(train_r), np.int64), np.zeros(len(train_f), np.int64)])
    overrides = {"image_size": patch, "batch_size": batch_size, "width": width, "lr": lr, "n_classes": 2,
                 "augment": "flip", "balance": True, "min_foreground": float(min_foreground)}

    def run(folder: Path) -> TuringResult:
        net, _ = fit_network("c2st", folder, images, labels, steps=steps, seed=seed, threads=threads,
                             overrides=overrides, progress=progress, label="machine Turing test")
        test = np.concatenate([real[test_r], fake[test_f]])
        truth = np.concatenate([np.ones(n_test, np.int8), np.zeros(n_test, np.int8)])
        p_real = predict_crops(net, test, patch, crops="foreground" if min_foreground > 0 else "five",
                               min_foreground=min_foreground)[:, 1]
        return TuringResult(c2st_statistics(p_real, truth), len(train_r), len(train_f), steps, patch,
                            p_real, truth, str(folder / "run") if work_dir is not None else "")

    if work_dir is not None:
        return run(Path(work_dir))
    with tempfile.TemporaryDirectory(prefix="medsynth-c2st-") as tmp:
        return run(Path(tmp))


def _stack(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise EvaluationError(f"{name} images must be a stack (N, H, W); got shape {a.shape}")
    if len(a) < 4:
        raise EvaluationError(f"the machine Turing test needs at least 4 {name} images; got {len(a)}")
    if not np.isfinite(a).all():
        raise EvaluationError(f"{name} images contain NaN or infinite values")
    return a


def _split(n: int, groups, holdout: float, rng: np.random.Generator, name: str,
           test_groups=None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): whole groups (default: single images) held out at random,
    or the ``test_groups`` given."""
    g = np.arange(n) if groups is None else np.asarray(groups)
    if g.shape != (n,):
        raise EvaluationError(f"{name}_groups must have one id per image ({n}); got shape {g.shape}")
    unique = np.unique(g)
    if len(unique) < 2:
        raise EvaluationError(f"all {name} images belong to one group; a held-out split needs at least two")
    if test_groups is None:
        n_test = min(len(unique) - 1, max(1, int(round(holdout * len(unique)))))
        test_groups = rng.choice(unique, n_test, replace=False)
    is_test = np.isin(g, np.asarray(test_groups))
    if is_test.all() or not is_test.any():
        raise EvaluationError(f"test_groups {list(test_groups)} must name some but not all {name} groups")
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
