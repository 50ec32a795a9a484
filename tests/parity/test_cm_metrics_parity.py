"""Evaluation statistics of pylib.metrics against the seed's sandbox (issue 14).

Cllr / min Cllr (sandbox/eval_biometric_cllr.py), t-EER (sandbox/eval_biometric_teer.py), the
bootstrap EER confidence interval (sandbox/eval_conf_inter.py) and the Holm-Bonferroni EER
significance test (sandbox/eval_sig_test.py). Small random cases, some with rounded (tied) scores.
"""

import sys
import types

import numpy as np
import pytest

from pylib.metrics.bootstrap import eer_from_indices, percentile_ci
from pylib.metrics.cllr import cllr, min_cllr, pav_llrs
from pylib.metrics.significance import eer_significance, far_frr_dependent, z_dependent, z_independent
from pylib.metrics.teer import tandem_eer
from tests.parity.peers import load_seed_module


def _cases():
    g = np.random.default_rng(14)
    for n, ties in ((6, False), (40, True), (300, False)):
        tar, non = g.normal(1.0, 1.0, n), g.normal(-1.0, 1.7, 3 * n + 1)
        if ties:
            tar, non = np.round(tar), np.round(non)
        yield tar, non


def test_cllr_and_min_cllr_match_seed():
    seed = load_seed_module("sandbox.eval_biometric_cllr")
    for tar, non in _cases():
        assert cllr(tar, non) == pytest.approx(seed.compute_cllr(tar, non), rel=1e-12)
        assert min_cllr(tar, non) == pytest.approx(seed.compute_min_cllr(tar, non), rel=1e-12)
        seed_tar, seed_non = seed.optimal_llr(tar, non)
        ours_tar, ours_non = pav_llrs(tar, non)
        np.testing.assert_allclose(ours_tar, seed_tar, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours_non, seed_non, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rho", [0.05, 0.5, 0.9])
def test_tandem_eer_matches_seed(rho):
    seed = load_seed_module("sandbox.eval_biometric_teer")
    g = np.random.default_rng(7)
    for n, ties in ((8, False), (30, True), (150, False)):
        tar = np.c_[g.normal(3, 1, n), g.normal(2, 1, n)]
        non = np.c_[g.normal(-1, 1, 2 * n), g.normal(2, 1, 2 * n)]
        spf = np.c_[g.normal(1, 2, 3 * n), g.normal(-1, 1.5, 3 * n)]
        if ties:
            tar, non, spf = np.round(tar), np.round(non), np.round(spf)
        path, values, con, con_tau = seed.compute_t_eer(tar, non, spf, rho)
        ours = tandem_eer(tar[:, 0], tar[:, 1], non[:, 0], non[:, 1], spf[:, 0], spf[:, 1], rho)
        np.testing.assert_array_equal(ours["values"], values)
        np.testing.assert_array_equal(ours["path"], path)
        if np.isfinite(con):  # the seed gives NaN when an index of the point is 0 (see tandem_eer)
            assert ours["concurrent_teer"] == con
            np.testing.assert_array_equal(ours["concurrent_thresholds"], con_tau)


def _sklearn_resample(arr, replace=True, n_samples=None, random_state=None):
    """sklearn.utils.resample(replace=True) as sklearn computes it (sklearn is no nnsp dependency):
    RandomState(random_state).randint(0, len, size=n_samples) picks the rows."""
    assert replace
    arr = np.asarray(arr)
    rs = random_state
    if not isinstance(rs, np.random.RandomState):
        rs = np.random.RandomState(rs)
    return arr[rs.randint(0, arr.shape[0], size=arr.shape[0] if n_samples is None else n_samples)]


@pytest.fixture
def conf_inter(monkeypatch):
    """The seed's eval_conf_inter with a stand-in for the two sklearn names it imports."""
    utils = types.ModuleType("sklearn.utils")
    utils.resample = _sklearn_resample
    metrics = types.ModuleType("sklearn.metrics")
    metrics.accuracy_score = lambda y, p: float(np.mean(np.asarray(y) == np.asarray(p)))
    sk = types.ModuleType("sklearn")
    sk.utils, sk.metrics = utils, metrics
    for name, mod in (("sklearn", sk), ("sklearn.utils", utils), ("sklearn.metrics", metrics)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "sandbox.eval_conf_inter", raising=False)
    return load_seed_module("sandbox.eval_conf_inter")


@pytest.mark.parametrize("grouped", [False, True])
def test_bootstrap_eer_matches_seed_given_its_indices(conf_inter, grouped):
    g = np.random.default_rng(3)
    n = 400
    labels = g.random(n) < 0.3
    scores = np.round(np.where(labels, g.normal(1.5, 1, n), g.normal(-0.5, 1.2, n)), 1)  # ties
    conditions = g.integers(0, 4, n) if grouped else None
    n_boot = 60
    indices = [conf_inter.get_bootstrap_indices(n, conditions, random_state=i) for i in range(n_boot)]
    seed_vals = np.array([conf_inter.compute_eer_wrapper(labels[ix], scores[ix]) for ix in indices])
    ours = eer_from_indices(scores, labels, indices)
    np.testing.assert_array_equal(ours, seed_vals)
    for alpha in (5, 10):
        np.testing.assert_allclose(percentile_ci(ours, alpha), conf_inter.get_conf_int(seed_vals, alpha),
                                   rtol=0, atol=0)
    # the seed's end-to-end figure: center EER and CI half width
    center, half = conf_inter.get_eer_conf(scores, labels, conditions=conditions, num_bootstraps=n_boot)
    low, high = percentile_ci(ours)
    assert (high - low) / 2.0 == half
    assert eer_from_indices(scores, labels, [np.arange(n)])[0] == center


def test_significance_matches_seed():
    seed = load_seed_module("sandbox.eval_sig_test")
    g = np.random.default_rng(5)
    for shape in ((3, 1), (4, 3)):
        eers = g.uniform(0.01, 0.12, shape)
        eers[1] = eers[0] + 0.002  # a pair too close to call
        seed_accept = seed.sig_test_holm_bonf_method(eers, 7355, 63882)
        sig, _ = eer_significance(eers, 7355, 63882)
        np.testing.assert_array_equal(sig, seed_accept == 0)
        seed_flag = seed.sig_test_holm_bonf_method(eers, 7355, 63882, flag_reverse_indicator=True)
        np.testing.assert_array_equal(sig, seed_flag == 1)
    far = g.uniform(0, 0.3, (4, 4))
    assert np.allclose(z_independent(*far, 500, 80),
                       [seed.compute_z_independent(*far[:, j], 500, 80) for j in range(4)], rtol=1e-14)
    bona_a, bona_b = g.normal(1, 1, 50), g.normal(1, 1, 50)
    spoof_a, spoof_b = g.normal(-1, 1, 70), g.normal(-1, 1, 70)
    ours = far_frr_dependent(bona_a, spoof_a, 0.1, bona_b, spoof_b, -0.2)
    theirs = seed.get_far_frr_dependent(bona_a, spoof_a, 0.1, bona_b, spoof_b, -0.2, 70, 50)
    assert ours == pytest.approx(theirs, abs=0)
    far_ab, far_ba, frr_ab, frr_ba = ours
    assert z_dependent(far_ab, frr_ab, far_ba, frr_ba, 70, 50) == pytest.approx(
        seed.compute_z_dependent(far_ab, frr_ab, far_ba, frr_ba, 70, 50), rel=1e-14)
    assert z_dependent(0.1, 0.2, 0.1, 0.2, 70, 50) == 0.0
    assert seed.compute_z_dependent(0.1, 0.2, 0.1, 0.2, 70, 50) == 0
