"""EER, DET points, min t-DCF and per-attack EER against hand-computed cases."""

import os
from pathlib import Path

import numpy as np
import pytest

from pylib.errors import DataError
from pylib.metrics.cm import (
    CostModel,
    asv_error_rates,
    compute_eer,
    det_curve,
    min_tdcf,
    per_attack_eer,
    tdcf_curve,
)
from pylib.metrics.cm_io import read_asv_scores
from tests.conftest import rng


def _eer_reference(pos, neg):
    """Independent slow EER: walk the stable-sorted trials one by one (positives first among ties)."""
    trials = sorted([(s, 0) for s in pos] + [(s, 1) for s in neg], key=lambda t: t[0])
    best = None
    n_pos_rej = n_neg_rej = 0
    points = [(0.0, 1.0, trials[0][0] - 0.001)]
    for s, is_neg in trials:
        n_neg_rej += is_neg
        n_pos_rej += 1 - is_neg
        points.append((n_pos_rej / len(pos), 1 - n_neg_rej / len(neg), s))
    for miss, fa, thr in points:
        if best is None or abs(miss - fa) < best[0]:
            best = (abs(miss - fa), (miss + fa) / 2, thr)
    return best[1], best[2]


def test_eer_perfectly_separated():
    eer, thr = compute_eer([3.0, 4.0], [1.0, 2.0])
    assert eer == 0.0
    assert thr == 2.0  # the highest spoof score: point k rejects the k lowest scores


def test_eer_reversed_scores_is_one():
    eer, _ = compute_eer([1.0, 2.0], [3.0, 4.0])
    assert eer == 1.0


def test_eer_exact_crossing_with_ties():
    # sorted (positives first among ties): 0 s, .5 b, .5 s, 1 s, 2 b, 3 b
    # points (miss, fa): (0,1) (0,2/3) (1/3,2/3) (1/3,1/3) ... -> crossing at k=3, threshold 0.5
    eer, thr = compute_eer([0.5, 2.0, 3.0], [0.0, 0.5, 1.0])
    assert eer == pytest.approx(1 / 3)
    assert thr == 0.5


def test_eer_no_exact_crossing_takes_first_closest_point():
    # sorted: 1 b, 2 s, 3 b; points (0,1) (.5,1) (.5,0) (1,0): |diff| .5 first at k=1 -> (0.5+1)/2
    eer, thr = compute_eer([1.0, 3.0], [2.0])
    assert eer == pytest.approx(0.75)
    assert thr == 1.0


def test_eer_all_tied_is_pessimistic():
    # ties are stepped through positives first, as in the ASVspoof package: all bona fide are
    # rejected before any spoof, so the closest point is (1, 1).
    eer, _ = compute_eer([1.0, 1.0], [1.0, 1.0])
    assert eer == 1.0


def test_eer_matches_slow_reference_on_random_scores_with_ties():
    g = rng(3)
    for _ in range(20):
        pos = np.round(g.normal(1.0, 1.0, size=int(g.integers(1, 40))), 1)
        neg = np.round(g.normal(0.0, 1.0, size=int(g.integers(1, 40))), 1)
        eer, thr = compute_eer(pos, neg)
        ref_eer, ref_thr = _eer_reference(pos.tolist(), neg.tolist())
        assert eer == pytest.approx(ref_eer)
        assert thr == pytest.approx(ref_thr)


def test_det_points_monotone_and_end_points():
    g = rng(1)
    miss, fa, thr = det_curve(g.normal(1, 1, 50), g.normal(0, 1, 70))
    assert miss.shape == fa.shape == thr.shape == (121,)
    assert (miss[0], fa[0], miss[-1], fa[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(miss) >= 0)
    assert np.all(np.diff(fa) <= 0)
    assert np.all(np.diff(thr) >= 0)


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [np.inf]])
def test_bad_scores_are_errors(bad):
    with pytest.raises(DataError):
        compute_eer(bad, [0.0, 1.0])


# A tiny tandem case computed by hand.
TAR = [2.0, 3.0, 4.0, 5.0]
NON = [0.0, 1.0, 2.5, -1.0]
ASV_SPOOF = [1.5, 3.5, 0.5, 4.5]
BONA_CM = [0.9, 0.8, 0.3]
SPOOF_CM = [0.1, 0.4, 0.2, 0.35]


def test_asv_operating_point_by_hand():
    # ASV sorted: -1 n, 0 n, 1 n, 2 t, 2.5 n, ...: miss = fa = 1/4 after 4 rejections, threshold 2
    eer, thr = compute_eer(TAR, NON)
    assert (eer, thr) == (0.25, 2.0)
    pfa, pmiss, pmiss_spoof = asv_error_rates(TAR, NON, ASV_SPOOF, thr)
    assert (pfa, pmiss, pmiss_spoof) == (0.25, 0.0, 0.5)  # 2.5 accepted; 1.5 and 0.5 rejected


def test_min_tdcf_legacy_by_hand():
    ptar, pnon, pspoof = 0.95 * 0.99, 0.95 * 0.01, 0.05
    pfa_asv, pmiss_asv, pmiss_spoof_asv = 0.25, 0.0, 0.5
    c1 = ptar * (1 - 1 * pmiss_asv) - pnon * 10 * pfa_asv  # 0.91675
    c2 = 10 * pspoof * (1 - pmiss_spoof_asv)  # 0.25
    # CM DET (sorted .1 s, .2 s, .3 b, .35 s, .4 s, .8 b, .9 b): points (miss, fa)
    points = [(0, 1), (0, 3 / 4), (0, 2 / 4), (1 / 3, 2 / 4), (1 / 3, 1 / 4), (1 / 3, 0), (2 / 3, 0), (1, 0)]
    by_hand = min((c1 * m + c2 * f) / min(c1, c2) for m, f in points)
    assert by_hand == pytest.approx(0.5)
    r = min_tdcf(BONA_CM, SPOOF_CM, TAR, NON, ASV_SPOOF)
    assert r["min_tdcf"] == pytest.approx(by_hand, abs=1e-12)
    assert r["cm_threshold"] == 0.2
    assert (r["C1"], r["C2"]) == (pytest.approx(c1), pytest.approx(c2))
    assert r["legacy"] is True and r["asv_eer"] == 0.25


def test_min_tdcf_revised_by_hand():
    ptar, pnon, pspoof = 0.95 * 0.99, 0.95 * 0.01, 0.05
    c0 = ptar * 1 * 0.0 + pnon * 10 * 0.25
    c1 = ptar * 1 - c0
    c2 = pspoof * 10 * (1 - 0.5)
    points = [(0, 1), (0, 3 / 4), (0, 2 / 4), (1 / 3, 2 / 4), (1 / 3, 1 / 4), (1 / 3, 0), (2 / 3, 0), (1, 0)]
    by_hand = min((c0 + c1 * m + c2 * f) / (c0 + min(c1, c2)) for m, f in points)
    assert by_hand == pytest.approx(0.14875 / 0.27375)
    r = min_tdcf(BONA_CM, SPOOF_CM, TAR, NON, ASV_SPOOF, legacy=False)
    assert r["min_tdcf"] == pytest.approx(by_hand, abs=1e-12)


def test_tdcf_of_perfect_cm_is_zero_and_default_cm_is_one():
    curve, _ = tdcf_curve([5.0, 6.0], [1.0, 2.0], 0.01, 0.01, 0.1)
    assert curve.min() == pytest.approx(0.0)
    # accept-all (first point) or reject-all (last point): one of them costs exactly 1
    assert min(curve[0], curve[-1]) == pytest.approx(1.0)


def test_tdcf_negative_weights_are_an_error():
    # an ASV that accepts no spoof at all makes C2 = 0: the t-DCF is undefined
    with pytest.raises(DataError, match="not positive"):
        tdcf_curve([1.0], [0.0], 0.0, 0.0, 1.0)


def test_cost_model_defaults_are_asvspoof2019():
    c = CostModel()
    assert (c.Pspoof, c.Ptar, c.Pnon) == (0.05, pytest.approx(0.9405), pytest.approx(0.0095))
    assert (c.Cmiss_asv, c.Cfa_asv, c.Cmiss_cm, c.Cfa_cm) == (1, 10, 1, 10)


def test_per_attack_eer_table():
    scores = [1.0, 2.0, 3.0, 0.0, 0.5, 2.5, 5.0]
    is_bona = [True, True, True, False, False, False, False]
    attacks = ["-", "-", "-", "A01", "A01", "A02", "A02"]
    table = per_attack_eer(scores, is_bona, attacks)
    assert list(table) == ["A01", "A02"]
    assert table["A01"]["eer"] == 0.0 and table["A01"]["n_spoof"] == 2
    # A02 vs bona fide: 1 b, 2 b, 2.5 s, 3 b, 5 s -> closest point (2/3, 1/2)
    assert table["A02"]["eer"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_official_asvspoof2019_la_eval_asv_eer():
    """Test vector of issue 7: the organisers' LA eval ASV scores give an ASV EER of 2.4578 %."""
    root = os.environ.get("NNSP_ASVSPOOF2019_LA")
    if not root:
        pytest.skip("set NNSP_ASVSPOOF2019_LA to the ASVspoof 2019 LA folder to run this test")
    path = Path(root) / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found under NNSP_ASVSPOOF2019_LA")
    asv = read_asv_scores(path)
    eer, _ = compute_eer(asv["target"], asv["nontarget"])
    assert round(100 * eer, 4) == pytest.approx(2.4578, abs=1e-4)
