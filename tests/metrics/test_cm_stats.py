"""Hand-checked cases for the evaluation statistics (issue 14): Cllr, DCF, t-EER, bootstrap, Holm."""

import math

import numpy as np
import pytest

from pylib.errors import DataError
from pylib.metrics.bootstrap import bootstrap_eer, eer_from_counts, eer_from_indices, percentile_ci
from pylib.metrics.cllr import cllr, min_cllr
from pylib.metrics.cm import compute_eer
from pylib.metrics.dcf import ASVSPOOF5_COSTS, actual_dcf, bayes_threshold, min_dcf
from pylib.metrics.significance import eer_significance, holm_bonferroni, z_independent
from pylib.metrics.teer import tandem_eer


def test_cllr_hand_values():
    assert cllr([0.0, 0.0], [0.0]) == pytest.approx(1.0)               # uninformative: 1 bit
    # llr = +-log 3: each trial costs log2(1 + 1/3)
    assert cllr([math.log(3)], [-math.log(3)]) == pytest.approx(math.log2(4 / 3))
    assert cllr([800.0], [-800.0]) == 0.0                               # no overflow to inf
    assert cllr([-800.0], [0.0]) == pytest.approx((800 / math.log(2) + 1) / 2)
    assert cllr([-np.inf], [0.0]) == np.inf


def test_min_cllr_hand_values():
    assert min_cllr([2.0, 3.0], [0.0, 1.0]) == 0.0                     # separable: PAV gives +-inf
    # reversed scores: PAV pools everything into one bin at the prior, llr ~ 0 -> ~1 bit
    assert min_cllr([0.0, 1.0], [2.0, 3.0]) == pytest.approx(1.0, abs=1e-5)
    # min Cllr never exceeds Cllr of the same scores taken as LLRs
    g = np.random.default_rng(0)
    tar, non = g.normal(1, 1, 200), g.normal(-1, 1, 300)
    assert min_cllr(tar, non) <= cllr(tar, non)
    with pytest.raises(DataError, match="no target scores"):
        min_cllr([], [1.0])


def test_dcf_hand_values():
    tar, non = [0.5, 1.5, 2.5, 3.5], [-1.0, 0.0, 1.0, 2.0]
    # p=0.5, unit costs: threshold 0, Pmiss 0, Pfa 3/4 -> 0.5*0.75 / 0.5
    assert bayes_threshold(0.5) == 0.0
    assert actual_dcf(tar, non, 0.5) == pytest.approx(0.75)
    # best threshold 0.5: Pmiss 0, Pfa 2/4 -> 0.5 (1.5 and 2.5 tie at 0.5; the lowest is reported)
    assert min_dcf(tar, non, 0.5) == (pytest.approx(0.5), 0.5)
    # ASVspoof 5 costs: normaliser min(0.95*1, 0.05*10) = 0.5, threshold log(0.5/0.95) < 0
    assert bayes_threshold(**ASVSPOOF5_COSTS) == pytest.approx(math.log(0.5 / 0.95))
    assert actual_dcf(tar, non, **ASVSPOOF5_COSTS) == pytest.approx(0.05 * 10 * 0.75 / 0.5)
    # at threshold 3.5: Pmiss 3/4, Pfa 0 -> 0.95*0.75/0.5; at 0.5: Pfa 2/4 -> 0.5
    assert actual_dcf(tar, non, threshold=3.5, **ASVSPOOF5_COSTS) == pytest.approx(0.95 * 0.75 / 0.5)
    assert min_dcf(tar, non, **ASVSPOOF5_COSTS)[0] == pytest.approx(0.5)
    # ties are never split: one bona fide and one spoof at the same score -> reject both or accept both
    assert min_dcf([1.0], [1.0], 0.5) == (1.0, 1.0)
    with pytest.raises(ValueError, match="p_target"):
        min_dcf(tar, non, 1.0)


def _teer_brute(asv, cm, rho):
    """Direct definition, quadratic: every (ASV threshold, CM threshold) pair."""
    (tar_a, tar_c), (non_a, non_c), (spf_a, spf_c) = asv, cm, rho[1]
    rho = rho[0]
    out = []
    for ta in np.concatenate([[-np.inf], np.sort(np.concatenate([tar_a, non_a, spf_a]))]):
        pm_a = np.mean(tar_a <= ta) if np.isfinite(ta) else 0.0
        pfn, pfs = (np.mean(non_a > ta), np.mean(spf_a > ta)) if np.isfinite(ta) else (1.0, 1.0)
        if (1 - rho) * pfn + rho * pfs < pm_a:
            continue
        best = None
        for tc in np.concatenate([[-np.inf], np.sort(np.concatenate([tar_c, non_c, spf_c]))]):
            bona = np.concatenate([tar_c, non_c])
            pm_c = np.mean(bona <= tc) if np.isfinite(tc) else 0.0
            pf_c = np.mean(spf_c > tc) if np.isfinite(tc) else 1.0
            miss = pm_a + pm_c - pm_a * pm_c
            fa = (1 - rho) * pfn * (1 - pm_c) + rho * pfs * pf_c
            if best is None or abs(miss - fa) < best[0]:
                best = (abs(miss - fa), (miss + fa) / 2)
        out.append(best[1])
    return np.array(out)


def test_tandem_eer_against_direct_definition():
    g = np.random.default_rng(2)
    tar_a, non_a, spf_a = g.normal(3, 1, 6), g.normal(-1, 1, 9), g.normal(1, 2, 12)
    tar_c, non_c, spf_c = g.normal(2, 1, 6), g.normal(2, 1, 9), g.normal(-1, 1.5, 12)
    r = tandem_eer(tar_a, tar_c, non_a, non_c, spf_a, spf_c, rho=0.3)
    brute = _teer_brute((tar_a, tar_c), (non_a, non_c), (0.3, (spf_a, spf_c)))
    np.testing.assert_allclose(r["values"][np.isfinite(r["values"])], brute, rtol=1e-12)


def test_tandem_eer_perfect_systems_reach_zero():
    # ASV separates target from non-target and spoof; CM separates bona fide from spoof
    r = tandem_eer([5.0, 6.0], [1.0, 1.5], [-5.0, -4.0], [1.2, 1.1], [0.0, 1.0], [-1.0, -2.0], rho=0.5)
    assert np.nanmin(r["values"]) == 0.0
    assert r["concurrent_teer"] == 0.0
    with pytest.raises(ValueError, match="one pair per trial"):
        tandem_eer([1.0], [1.0, 2.0], [0.0], [0.0], [0.0], [0.0])


def test_eer_from_counts_equals_eer_of_expanded_trials():
    scores = np.array([0.1, 0.4, 0.4, 0.9, 0.2, 0.4, 0.8])
    bona = np.array([False, True, False, True, False, True, False])
    order = np.lexsort((~bona, scores))
    counts = np.array([[1, 1, 1, 1, 1, 1, 1], [3, 0, 2, 1, 0, 1, 2], [0, 0, 4, 1, 1, 0, 0]])
    got = eer_from_counts(counts[:, order], bona[order])  # columns in sorted-trial order
    for row, eer in zip(counts, got):
        ix = np.repeat(np.arange(7), row)
        assert eer == compute_eer(scores[ix][bona[ix]], scores[ix][~bona[ix]])[0]
    # a resample without spoof trials has no EER
    assert np.isnan(eer_from_indices(scores, bona, [np.array([1, 3])])[0])


def test_bootstrap_eer_seeded_and_sane():
    g = np.random.default_rng(4)
    bona = g.random(2000) < 0.2
    scores = np.where(bona, g.normal(2, 1, 2000), g.normal(0, 1, 2000))
    a = bootstrap_eer(scores, bona, 200, seed=1)
    b = bootstrap_eer(scores, bona, 200, seed=1)
    c = bootstrap_eer(scores, bona, 200, seed=2)
    np.testing.assert_array_equal(a["resampled"], b["resampled"])
    assert not np.array_equal(a["resampled"], c["resampled"])
    assert a["eer"] == compute_eer(scores[bona], scores[~bona])[0]
    assert a["ci_low"] < a["eer"] < a["ci_high"] and a["n_valid"] == 200
    assert (a["ci_low"], a["ci_high"]) == percentile_ci(a["resampled"], 5)
    assert a["half_width"] == pytest.approx((a["ci_high"] - a["ci_low"]) / 2)
    # by group (e.g. speaker): coarser resampling, a wider interval
    grouped = bootstrap_eer(scores, bona, 200, groups=np.arange(2000) % 5, seed=1)
    assert grouped["ci_high"] - grouped["ci_low"] > a["ci_high"] - a["ci_low"]
    # separable scores: every resample has EER 0
    sep = bootstrap_eer([3.0, 4.0, 0.0, 1.0], [True, True, False, False], 50, seed=0)
    assert sep["ci_low"] == sep["ci_high"] == sep["eer"] == 0.0


def test_bootstrap_eer_bad_input():
    with pytest.raises(DataError, match="one class is empty"):
        bootstrap_eer([0.1, 0.2], [True, True], 10)
    with pytest.raises(ValueError, match="groups has shape"):
        bootstrap_eer([0.1, 0.2], [True, False], 10, groups=[1])
    # grouping by class: resamples often miss a class; they are left out and counted
    r = bootstrap_eer([0.1, 0.2, 0.3, 0.4], [True, True, False, False], 40, groups=[0, 0, 1, 1], seed=0)
    assert 0 < r["n_valid"] < 40 and np.isnan(r["resampled"]).sum() == 40 - r["n_valid"]


def test_z_and_holm_hand_values():
    # HTER 0.1 vs 0.2, 100 + 100 trials: var = 2 (0.09 + 0.16) / 4 / 100
    assert z_independent(0.1, 0.1, 0.2, 0.2, 100, 100) == pytest.approx(0.1 / math.sqrt(0.00125))
    # Holm, m = 3: critical z 2.394 (0.05/3), 2.241 (0.05/2), 1.960 (0.05)
    np.testing.assert_array_equal(holm_bonferroni(np.array([0.5, 3.0, 2.3])), [False, True, True])
    # step-down stops at the first failure: 2.2 < 2.241 although 2.2 > 1.96
    np.testing.assert_array_equal(holm_bonferroni(np.array([2.2, 2.2])), [False, False])
    np.testing.assert_array_equal(holm_bonferroni(np.array([np.nan, 5.0])), [False, True])
    sig, z = eer_significance([[0.01], [0.05], [0.0101]], n_bonafide=7000, n_spoof=60000)
    assert sig.shape == z.shape == (3, 3)
    assert sig[0, 1] and sig[1, 0] and not sig[0, 2] and not sig.diagonal().any()
