"""ROC and MRMC statistics of reader studies against published worked examples and hand-made ratings.

Reference numbers (transcribed, never computed here by other software):

* Van Dyke et al. (1993) data, RJafroc ``dataset02`` (ratings in tests/data/vandyke1993.csv, from
  RJafroc's inst/extdata/datasets/VD.lrc): the output of ``StSignificanceTesting(dataset02,
  FOM = "Wilcoxon", method = "OR")`` printed in Chakraborty's RJafroc book, chapter "Applications
  using the Obuchowski Rockette method" (github.com/dpc10ster/RJafrocBook,
  docs/10C-OR-AnalysisApplications.md). The MRMCaov README (github.com/brian-j-smith/MRMCaov,
  by Smith & Hillis) prints the same variance components, F, df, p and CIs for its VanDyke data.
* Binormal ML fit: RJafroc book, chapter "Binormal model" (docs/06-binormal-model.md), ratings
  table K1 = (30, 19, 8, 2, 1), K2 = (5, 6, 5, 12, 22): ``FitBinormalRoc`` gives a = 1.320453,
  b = 0.6074929, AUC = 0.8704522, StdAUC = 0.03790423 (JROCFIT: a = 1.3204, b = 0.6075).
"""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from napari_medsynth.reader_study import analysis, mrmc, roc
from napari_medsynth.reader_study.scoring import score_study
from napari_medsynth.reader_study.sheets import Answer, KeyEntry

DATA = Path(__file__).parent / "data" / "vandyke1993.csv"


def printed(text: str) -> tuple[float, float]:
    """A published number and half a unit of its last printed digit."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10.0 ** -decimals


def assert_printed(ours: float, text: str) -> None:
    value, tol = printed(text)
    assert abs(ours - value) <= tol * (1 + 1e-9), f"{ours!r} is not {text} to the printed precision"


@pytest.fixture(scope="module")
def vandyke():
    table = np.loadtxt(DATA, delimiter=",", skiprows=4)
    diseased = table[:, 1].astype(bool)
    ratings = table[:, 2:].T.reshape(2, 5, -1)  # (modality, reader, case)
    assert ratings.shape == (2, 5, 114) and diseased.sum() == 45
    foms, jk = mrmc.jackknife_auc(ratings[:, :, ~diseased], ratings[:, :, diseased])
    return ratings, diseased, foms, mrmc.jackknife_covariance(jk)


def test_vandyke_reader_aucs(vandyke):
    ratings, diseased, foms, _ = vandyke
    published = [["0.91964573", "0.85877617", "0.90386473", "0.97310789", "0.82979066"],
                 ["0.94782609", "0.90531401", "0.92173913", "0.99935588", "0.92995169"]]
    for i in range(2):
        for j in range(5):
            assert_printed(foms[i, j], published[i][j])
            assert roc.empirical_auc(ratings[i, j, ~diseased], ratings[i, j, diseased]) == pytest.approx(foms[i, j])
    aucs, _ = roc.delong(ratings[0][:, ~diseased], ratings[0][:, diseased])
    assert aucs == pytest.approx(foms[0])


def test_vandyke_obuchowski_rockette(vandyke):
    _, _, foms, cov = vandyke
    a = mrmc.obuchowski_rockette(foms, cov, n_cases=114)
    assert_printed(a.treatment_means[0], "0.89703704")
    assert_printed(a.treatment_means[1], "0.94083736")
    # TRanova
    assert_printed(a.ms_t, "0.00479617053")
    assert_printed(a.ms_r, "0.00383619999")
    assert_printed(a.ms_tr, "0.00055103062")
    # VarCom: OR variance components and error covariances (jackknife)
    assert_printed(a.var_r, "0.00153499935")
    assert_printed(a.var_tr, "0.00020040252")
    assert_printed(a.components.cov1, "0.00034661371")
    assert_printed(a.components.cov2, "0.00034407483")
    assert_printed(a.components.cov3, "0.00023902837")
    assert_printed(a.components.var, "0.00080228827")
    # RRRC F-test with Hillis ddf, and the CI of the modality difference
    assert_printed(a.f_stat, "4.4563187")
    assert a.ndf == 1
    assert_printed(a.ddf, "15.259675")
    assert_printed(a.p_value, "0.051665686")
    diff = a.differences[(0, 1)]
    assert_printed(diff.estimate, "-0.043800322")
    assert_printed(diff.se, "0.02074862")  # MRMCaov README
    assert_printed(diff.ci_low, "-0.087959499")
    assert_printed(diff.ci_high, "0.00035885444")
    assert diff.p_value == pytest.approx(a.p_value)  # t^2 = F with one numerator df


def test_vandyke_each_modality_rrrc_ci(vandyke):
    """RJafroc ``RRRC$ciAvgRdrEachTrt`` and ``ANOVA$IndividualTrt``: one modality at a time."""
    _, _, foms, cov = vandyke
    published = [("0.89703704", "0.033173597", "12.744648", "0.82522360", "0.96885048", "0.00048396180",
                  "0.0030826287", "0.00101410277"),
                 ("0.94083736", "0.021566368", "12.710190", "0.89413783", "0.98753689", "0.00020418785",
                  "0.0013046019", "0.00059047376")]
    for i, (est, se, df, low, high, cov2, ms_r, var) in enumerate(published):
        block = cov[5 * i:5 * (i + 1), 5 * i:5 * (i + 1)]
        single = mrmc.single_treatment(foms[i], block, null=0.5, n_cases=114)
        inf = single.inference
        for ours, text in ((inf.estimate, est), (inf.se, se), (inf.df, df), (inf.ci_low, low), (inf.ci_high, high),
                           (single.cov2, cov2), (single.ms_r, ms_r), (single.var, var)):
            assert_printed(ours, text)
        assert single.method == "OR-RRRC (Hillis df)"
        assert inf.p_value < 1e-7  # both modalities far above chance
        assert mrmc.obuchowski_rockette(foms, cov).treatments[i].inference == inf


def test_binormal_fit_matches_the_published_rocfit_example():
    neg = np.repeat(np.arange(1, 6), [30, 19, 8, 2, 1])
    pos = np.repeat(np.arange(1, 6), [5, 6, 5, 12, 22])
    fit = roc.binormal_fit(neg, pos)
    # published to 7 digits by an optimiser that stops ~1e-6 short: our log likelihood is at
    # least as high as at the published values, so compare to 5e-6
    assert fit.a == pytest.approx(1.320453, abs=5e-6)
    assert fit.b == pytest.approx(0.6074929, abs=5e-6)
    assert fit.thresholds == pytest.approx((0.007680547, 0.896273068, 1.515647850, 2.396722099), abs=5e-6)
    assert fit.auc == pytest.approx(0.8704522, abs=5e-7)
    assert fit.se == pytest.approx(0.03790423, abs=5e-7)
    assert fit.a == pytest.approx(1.3204, abs=1e-4) and fit.b == pytest.approx(0.6075, abs=1e-4)  # JROCFIT
    assert fit.auc == pytest.approx(stats.norm.cdf(fit.a / np.sqrt(1 + fit.b ** 2)))
    assert not fit.equal_variance and fit.ci_low < fit.auc < fit.ci_high


def test_roc_on_hand_made_ratings_perfect_chance_inverted():
    real, synthetic = np.arange(1, 6), np.arange(6, 11)
    # perfect: every synthetic image rated above every real one
    assert roc.empirical_auc(real, synthetic) == 1.0
    assert roc.binormal_fit(real, synthetic) is None  # no interior operating point: degenerate
    fpf, tpf = roc.operating_points(real, synthetic)
    assert fpf[0] == tpf[0] == 0 and fpf[-1] == tpf[-1] == 1 and (0.0, 1.0) in set(zip(fpf, tpf))
    # inverted: every real image rated above every synthetic one
    assert roc.empirical_auc(synthetic, real) == 0.0
    assert roc.binormal_fit(synthetic, real) is None
    # chance: the same ratings in both classes
    same = np.arange(1, 11)
    est = roc.auc_with_ci(same, same)
    assert est.auc == 0.5 and est.p_value == pytest.approx(1.0) and est.ci_low < 0.5 < est.ci_high
    fit = roc.binormal_fit(same, same)
    assert fit.auc == pytest.approx(0.5, abs=1e-6) and fit.b == pytest.approx(1.0, abs=1e-4)
    # ties count 1/2: negatives 1, 2, 3 vs positives 2, 3, 4 -> (3 + 2.5 + 1.5) / 9
    assert roc.empirical_auc([1, 2, 3], [2, 3, 4]) == pytest.approx(7 / 9)


def test_delong_by_hand():
    """neg 1, 3; pos 2, 4. psi (pos x neg) = [[1, 0], [1, 1]]: AUC 3/4. Placements of positives
    V10 = (1/2, 1): variance 1/8; of negatives V01 = (1, 1/2): variance 1/8.
    Var = 1/8 / 2 + 1/8 / 2 = 1/8."""
    aucs, cov = roc.delong([1, 3], [2, 4])
    assert aucs[0] == 0.75 and cov[0, 0] == pytest.approx(1 / 8)
    # two readers: the second reads the same ratings, so the covariance equals the variance
    aucs, cov = roc.delong([[1, 3], [1, 3]], [[2, 4], [2, 4]])
    assert cov == pytest.approx(np.full((2, 2), 1 / 8))


def test_fast_jackknife_equals_deleting_each_case():
    rng = np.random.default_rng(3)
    neg, pos = rng.integers(1, 11, (1, 3, 9)), rng.integers(3, 11, (1, 3, 7))
    foms, jk = mrmc.jackknife_auc(neg, pos)
    for j in range(3):
        everything = np.concatenate([neg[0, j], pos[0, j]])
        is_pos = np.r_[np.zeros(9, bool), np.ones(7, bool)]
        for k in range(16):
            keep = np.arange(16) != k
            r, p = everything[keep], is_pos[keep]
            assert jk[0, j, k] == pytest.approx(roc.empirical_auc(r[~p], r[p]))
    calls = rng.integers(0, 2, (1, 3, 12)).astype(float)
    den = np.ones_like(calls)
    rate, jk = mrmc.jackknife_proportion(calls, den)
    for j in range(3):
        assert jk[0, j] == pytest.approx([np.delete(calls[0, j], k).mean() for k in range(12)])


def test_rating_scale():
    a = lambda answer, c: Answer("1", "r", answer, confidence=c)  # noqa: E731
    assert [analysis.rating(a("real", c)) for c in (5, 4, 3, 2, 1)] == [1, 2, 3, 4, 5]
    assert [analysis.rating(a("synthetic", c)) for c in (1, 2, 3, 4, 5)] == [6, 7, 8, 9, 10]
    assert analysis.rating(a("real", None)) == 5 and analysis.rating(a("synthetic", None)) == 6
    assert analysis.scale_levels([a("real", 7)]) == 7 and analysis.scale_levels([a("real", None)]) == 5


def _study(calls: dict[str, dict[int, tuple[str, int]]], n_real=6, n_synth=6):
    key = {str(i): KeyEntry(str(i), "real" if i < n_real else "synthetic", None, "all")
           for i in range(n_real + n_synth)}
    answers = [Answer(str(i), r, call, confidence=c) for r in calls for i, (call, c) in calls[r].items()]
    return key, answers


def test_mrmc_of_hand_made_readers_through_score_study():
    """Three readers with confidences: the mean row's AUC interval is the OR single-modality
    interval computed here by brute force (delete each image, recompute each reader's AUC)."""
    rng = np.random.default_rng(7)
    n = 12
    truth = np.r_[np.zeros(6, bool), np.ones(6, bool)]
    calls = {}
    for r, skill in (("r1", 0.9), ("r2", 0.7), ("r3", 0.6)):
        right = rng.random(n) < skill
        said_synth = np.where(right, truth, ~truth)
        calls[r] = {i: ("synthetic" if said_synth[i] else "real", int(rng.integers(1, 6))) for i in range(n)}
    key, answers = _study(calls)
    result = score_study(key, answers)
    mean = next(row for row in result.rows if row["reader"] == "mean")
    ratings = np.array([[analysis.rating(Answer(str(i), r, calls[r][i][0], confidence=calls[r][i][1]))
                         for i in range(n)] for r in calls])
    theta = np.array([roc.empirical_auc(x[~truth], x[truth]) for x in ratings])
    jk = np.array([[roc.empirical_auc(np.delete(x, k)[~np.delete(truth, k)], np.delete(x, k)[np.delete(truth, k)])
                    for k in range(n)] for x in ratings])
    dev = jk - jk.mean(axis=1, keepdims=True)
    cov = (n - 1) / n * dev @ dev.T
    cov2 = cov[~np.eye(3, dtype=bool)].mean()
    ms_r = theta.var(ddof=1)
    den = ms_r + 3 * max(cov2, 0)
    df = den ** 2 / (ms_r ** 2 / 2)
    se = np.sqrt(den / 3)
    half = stats.t.ppf(0.975, df) * se
    assert mean["auc"] == pytest.approx(theta.mean())
    assert mean["auc_se"] == pytest.approx(se) and mean["auc_df"] == pytest.approx(df)
    assert (mean["auc_ci_low"], mean["auc_ci_high"]) == pytest.approx((max(0, theta.mean() - half),
                                                                       min(1, theta.mean() + half)))
    assert mean["auc_p_value"] == pytest.approx(2 * stats.t.sf(abs(theta.mean() - 0.5) / se, df))
    assert mean["mrmc_cases"] == 12 and result.levels == 5
    assert mean["rating_levels"] == max(len(np.unique(x)) for x in ratings)  # points of the 10 actually used
    fom_rows = {m["fom"]: m for m in result.mrmc}
    assert set(fom_rows) == {"auc", "accuracy", "fpr", "fnr", "precision"}
    assert fom_rows["auc"]["ci_low"] == pytest.approx(mean["auc_ci_low"])
    assert fom_rows["fpr"]["p_value"] is None  # no "chance" value for FPR
    readers = [row for row in result.rows if row["reader"] != "mean"]
    for row, x in zip(readers, ratings):
        assert row["auc"] == pytest.approx(roc.empirical_auc(x[~truth], x[truth]))
        assert row["auc_ci_low"] <= row["auc"] <= row["auc_ci_high"]


def test_perfect_chance_and_inverted_readers_in_a_study():
    n = 10
    perfect = {i: ("synthetic" if i >= 5 else "real", 5) for i in range(n)}
    inverted = {i: ("real" if i >= 5 else "synthetic", 5) for i in range(n)}
    chance = {i: ("real" if i % 2 else "synthetic", 3) for i in range(n)}  # 0, 2, 4 real called synthetic ...
    key, answers = _study({"perfect": perfect, "inverted": inverted, "chance": chance}, 5, 5)
    rows = {row["reader"]: row for row in score_study(key, answers).rows}
    assert rows["perfect"]["auc"] == 1.0 and rows["inverted"]["auc"] == 0.0
    # chance: real 0..4 -> calls s, r, s, r, s; synthetic 5..9 -> r, s, r, s, r: 3/5 vs 2/5 called synthetic
    assert rows["chance"]["auc"] == pytest.approx((2 / 5 + (1 - 3 / 5)) / 2)
    assert rows["perfect"]["auc_binormal"] is None  # degenerate, no fit
    assert rows["mean"]["auc"] == pytest.approx((1 + 0 + 0.4) / 3)


def test_incomplete_readers_are_noted_and_left_out_of_the_mrmc():
    calls = {"a": {i: ("synthetic" if i >= 4 else "real", 4) for i in range(8)},
             "b": {i: ("synthetic" if i % 3 else "real", 2) for i in range(7)}}  # b skipped image 7
    key, answers = _study(calls, 4, 4)
    result = score_study(key, answers)
    mean = next(row for row in result.rows if row["reader"] == "mean")
    assert mean["mrmc_cases"] == 7
    assert any("not answered by every reader" in note for note in result.notes)


def test_provenance_sidecar(tmp_path):
    (tmp_path / "sage").mkdir()
    (tmp_path / "sage" / "sage_00007.npy").write_bytes(b"")
    (tmp_path / "sage" / "sage_00007.json").write_text("{}")
    case = tmp_path / "spade" / "SYN-0001"
    case.mkdir(parents=True)
    (case / "SYN-0001_t1ce.nii.gz").write_bytes(b"")
    (case / "SYN-0001.json").write_text("{}")
    assert analysis.provenance_sidecar(f"{tmp_path}/sage/sage_00007.npy") == str(tmp_path / "sage" / "sage_00007.json")
    assert analysis.provenance_sidecar(f"{case}/SYN-0001_t1ce.nii.gz[axial 40]") == str(case / "SYN-0001.json")
    assert analysis.provenance_sidecar("sage/sage_00007.npy", base=tmp_path) == str(tmp_path / "sage" /
                                                                                    "sage_00007.json")
    assert analysis.provenance_sidecar("synthetic/all[3]") == ""  # an array handed over in memory
    assert analysis.provenance_sidecar("") == ""
