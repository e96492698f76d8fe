"""Metric values on hand-computed confusion matrices, checked against the arithmetic."""

import numpy as np
import pytest
from scipy.stats import binomtest
from scipy.stats import t as t_dist

from napari_medsynth.reader_study.scoring import fleiss_kappa, score, t_interval, wilson_ci
from napari_medsynth.reader_study.sheets import Answer, KeyEntry


def _han_table2():
    """Han et al., Table 2: 50 real tumor, 50 real non-tumor, 50 synthetic tumor, 50 synthetic
    non-tumor; one physician. Real/synthetic: R as R 73, R as S 27, S as R 14, S as S 86.
    Tumor: T as T 77, T as N 23 (11 real, 12 synthetic), N as T 2 (both synthetic), N as N 98."""
    key, answers = {}, []
    plan = []  # (source, tumor, called_real, called_tumor)
    for i in range(50):
        plan.append(("real", True, i >= 14, i >= 11))          # 14 called synthetic, 11 non-tumor
    for i in range(50):
        plan.append(("real", False, i >= 13, False))           # 13 called synthetic (14 + 13 = 27)
    for i in range(50):
        plan.append(("synthetic", True, i < 7, i >= 12))       # 7 called real, 12 called non-tumor
    for i in range(50):
        plan.append(("synthetic", False, i < 7, i < 2))        # 7 called real, 2 called tumor
    for k, (source, tumor, called_real, called_tumor) in enumerate(plan):
        sid = str(100000 + k)
        key[sid] = KeyEntry(sid, source, tumor, "all")
        answers.append(Answer(sid, "physician", "real" if called_real else "synthetic", called_tumor))
    return key, answers


def test_han_table2_values():
    key, answers = _han_table2()
    (row, mean) = score(key, answers)
    counts = [row[c] for c in ("real_as_real", "real_as_synthetic", "synthetic_as_real", "synthetic_as_synthetic")]
    assert counts == [73, 27, 14, 86]
    assert [row[c] for c in ("tumor_as_tumor", "tumor_as_non_tumor", "non_tumor_as_tumor",
                             "non_tumor_as_non_tumor")] == [77, 23, 2, 98]
    assert row["n"] == 200
    assert row["accuracy"] == pytest.approx((73 + 86) / 200)      # 159/200 = 0.795 (paper: 79.5%)
    assert row["fpr"] == pytest.approx(14 / (14 + 86))            # synthetic called real: 0.14
    assert row["fnr"] == pytest.approx(27 / (73 + 27))            # real called synthetic: 0.27
    assert row["precision"] == pytest.approx(73 / (73 + 14))      # 73/87 = 0.8391
    assert row["tumor_accuracy"] == pytest.approx((77 + 98) / 200)  # 175/200 = 0.875 (paper: 87.5%)
    ci = binomtest(159, 200).proportion_ci(method="wilson")
    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["p_value"] == pytest.approx(binomtest(159, 200, 0.5).pvalue)
    assert row["p_value"] < 1e-15  # far better than guessing
    assert mean["reader"] == "mean" and mean["accuracy"] == row["accuracy"]  # one reader: mean = reader
    assert mean["fleiss_kappa"] is None  # agreement needs two readers


def test_three_readers_two_groups_and_the_mean_row():
    """Group 'control': 4 real (ids 0-3), 4 synthetic (4-7). Reader a: all correct. Reader b:
    calls everything real -> ACC 4/8, FPR 4/4, FNR 0/4, PR 4/8. Reader c: swaps one of each ->
    rr 3, rs 1, sr 1, ss 3 -> ACC 6/8, FPR 1/4, FNR 1/4, PR 3/4.
    Mean ACC = (1 + .5 + .75)/3 = .75, MS(R) = .25^2 = .0625.

    MRMC (Obuchowski-Rockette, jackknife over the 8 cases): the case-deleted accuracies give
    Cov(theta_j, theta_j') = sum_k (x_jk - mean_j)(x_j'k - mean_j') / (K (K - 1)) for 0/1 calls x.
    Reader a is constant (covariance 0); for b = 1111 0000 and c = 0111 0111 the products are
    -.375 + 3 * .125 + .375 - 3 * .125 = 0. So Cov2 = 0, SE^2 = MS(R) / J, Hillis df = J - 1 = 2:
    here the RRRC interval is .75 +- t(.975, 2) * .25 / sqrt(3), t(.975, 2) = 4.302653, and the
    test against 0.5 is t = .25 / (.25 / sqrt(3)) = sqrt(3) on 2 df (p = 0.2254)."""
    key = {str(i): KeyEntry(str(i), "real" if i < 4 else "synthetic", None, "control") for i in range(8)}
    key.update({str(i): KeyEntry(str(i), "real", None, "mutated") for i in range(8, 10)})
    truth = {i: key[str(i)].source for i in range(10)}
    calls = {"a": dict(truth), "b": {i: "real" for i in range(10)},
             "c": {**truth, 0: "synthetic", 4: "real"}}
    answers = [Answer(str(i), r, calls[r][i]) for r in calls for i in range(10)]
    rows = {(r["reader"], r["group"]): r for r in score(key, answers)}
    assert set(rows) == {(r, g) for r in ("a", "b", "c", "mean") for g in ("control", "mutated", "all")}
    b, c, m = rows[("b", "control")], rows[("c", "control")], rows[("mean", "control")]
    assert (b["accuracy"], b["fpr"], b["fnr"], b["precision"]) == (0.5, 1.0, 0.0, 0.5)
    assert (c["accuracy"], c["fpr"], c["fnr"], c["precision"]) == (0.75, 0.25, 0.25, 0.75)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["fpr"] == pytest.approx((0 + 1 + 0.25) / 3)
    half = 4.302653 * 0.25 / np.sqrt(3)
    expected = (0.75 - half, min(1.0, 0.75 + half))
    assert (m["accuracy_ci_low"], m["accuracy_ci_high"]) == pytest.approx(expected, abs=1e-6)
    assert m["real_as_real"] == 4 + 4 + 3 and m["n"] == 24  # pooled counts
    assert m["accuracy_df"] == pytest.approx(2.0) and m["accuracy_se"] == pytest.approx(0.25 / np.sqrt(3))
    assert m["p_value"] == pytest.approx(2 * t_dist.sf(np.sqrt(3), 2))  # 0.2254, not a pooled binomial test
    assert m["p_value"] == pytest.approx(0.22540333, abs=1e-8)
    # mutated has only real images: FPR undefined (no synthetic), FNR defined
    mut = rows[("a", "mutated")]
    assert mut["fpr"] is None and mut["fpr_ci_low"] is None and mut["fnr"] == 0.0
    # Fleiss' kappa over the 8 control images, 3 readers, categories (real, synthetic):
    # images 0-3 real,real,real except 0 (a real, b real, c synth); images 4-7: a synth, b real, c synth
    # except 4 (a synth, b real, c real). Rows: [3,0]x3, [2,1], [1,2]x3, [2,1]
    table = [[3, 0]] * 3 + [[2, 1]] + [[1, 2]] * 3 + [[2, 1]]
    # P_i: 1 for [3,0]; (4+1-3)/6 = 1/3 for [2,1] and [1,2] -> P_bar = (3 + 5/3)/8 = 0.58333
    # p_real = (9 + 2 + 3 + 2)/24 = 16/24; P_e = (2/3)^2 + (1/3)^2 = 5/9; kappa = (7/12 - 5/9)/(4/9) = 1/16
    assert fleiss_kappa(table) == pytest.approx(1 / 16)
    assert m["fleiss_kappa"] == pytest.approx(1 / 16)


def test_wilson_matches_scipy_and_binomial_p_by_hand():
    for k, n in [(0, 10), (3, 10), (10, 10), (45, 92), (1, 1)]:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_ci(k, n) == pytest.approx((ci.low, ci.high))
    assert wilson_ci(0, 0) == (None, None)
    # 7 of 10 correct: P(X >= 7) = (120 + 45 + 10 + 1) / 1024 = 176/1024; two-sided = 0.34375
    assert binomtest(7, 10, 0.5).pvalue == pytest.approx(0.34375)
    assert t_interval([0.5]) == (None, None)


def test_fleiss_kappa_textbook_example():
    """Fleiss (1971) / Wikipedia worked example: 10 items, 14 raters, 5 categories; P_bar = 0.378,
    P_e = 0.213, kappa = 0.210."""
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    assert fleiss_kappa([[3, 0], [3, 0]]) is None  # one category only: undefined
    with pytest.raises(ValueError):
        fleiss_kappa([[3, 0], [1, 1]])
