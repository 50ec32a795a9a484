"""pylib.metrics.calibration: hand-checked cases (closed form, brute-force grid), the properties a
logistic-regression fusion must have, and the errors for bad input."""

import logging
import math

import numpy as np
import pytest

from pylib.errors import DataError
from pylib.metrics.calibration import (
    align_systems,
    apply_fusion,
    calibrate,
    cross_entropy_bits,
    train_fusion,
)


def _objective_bits(llr, y, p):
    """The prior-weighted cross-entropy written out trial by trial (bits), for llr (..., n)."""
    logit = math.log(p / (1 - p))
    a = llr + logit
    tar = np.log1p(np.exp(-a[..., y])).mean(axis=-1)
    non = np.log1p(np.exp(a[..., ~y])).mean(axis=-1)
    return (p * tar + (1 - p) * non) / math.log(2)


def _toy(n=200, seed=0):
    """Two overlapping systems on different scales; 30 % bona fide."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    x = np.stack([rng.normal(1.5 * y, 1.0), 3.0 * rng.normal(0.8 * y, 1.0) + 5.0], axis=1)
    return x, y


def test_cross_entropy_hand_checked():
    y = np.array([True, False])
    # All-zero LLRs: the prior's entropy, 1 bit at P = 0.5.
    assert cross_entropy_bits(np.zeros(2), y) == pytest.approx(1.0)
    h = -(0.2 * math.log2(0.2) + 0.8 * math.log2(0.8))
    assert cross_entropy_bits(np.zeros(2), y, p_target=0.2) == pytest.approx(h)
    # llr = +-log 3: each trial has posterior 3/4 of its own class -> log2(4/3) bits.
    llr = np.array([math.log(3), -math.log(3)])
    assert cross_entropy_bits(llr, y) == pytest.approx(math.log2(4 / 3))


@pytest.mark.parametrize("p_target", [0.5, 0.2])
def test_closed_form_two_valued_scores(p_target):
    """Scores take two values, so scale + offset can put any LLR at each: the optimum is the
    empirical likelihood ratio at each value, whatever the prior."""
    # bona fide: 6 at +1, 2 at -1; spoof: 3 at +1, 9 at -1.
    x = np.array([1.0] * 6 + [-1.0] * 2 + [1.0] * 3 + [-1.0] * 9)
    y = np.array([True] * 8 + [False] * 12)
    llr_hi = math.log((6 / 8) / (3 / 12))
    llr_lo = math.log((2 / 8) / (9 / 12))
    w, b = train_fusion(x, y, p_target=p_target)
    assert w.shape == (1,)
    assert w[0] == pytest.approx((llr_hi - llr_lo) / 2, abs=1e-6)
    assert b == pytest.approx((llr_hi + llr_lo) / 2, abs=1e-6)
    out = calibrate(x, y, np.array([1.0, -1.0]), p_target=p_target)
    np.testing.assert_allclose(out, [llr_hi, llr_lo], atol=1e-6)


def test_equal_variance_gaussians_give_the_true_llr():
    """Bona fide ~ N(mu, 1), spoof ~ N(-mu, 1): the true LLR is 2 mu x; the fit approaches it."""
    rng = np.random.default_rng(1)
    mu, n = 1.0, 8000
    y = np.arange(n) < n // 4
    x = rng.normal(np.where(y, mu, -mu), 1.0)
    w, b = train_fusion(x, y)
    assert w[0] == pytest.approx(2 * mu, abs=0.1)
    assert b == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("k", [1, 2])
def test_matches_brute_force_grid(k):
    x, y = _toy(n=60, seed=2)
    x = x[:, :k]
    w, b = train_fusion(x, y)
    trained = _objective_bits(apply_fusion(x, w, b), y, 0.5)
    # Grid around the optimum, 4 units wide in each parameter, step 0.05 (k=1) / 0.1 (k=2).
    step = 0.05 if k == 1 else 0.1
    axes = [np.arange(-2.0, 2.0 + step / 2, step) + c for c in (*w, b)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, k + 1)
    llr = grid[:, :k] @ x.T + grid[:, k:]
    values = _objective_bits(llr, y, 0.5)
    best = grid[np.argmin(values)]
    assert trained <= values.min() + 1e-12
    np.testing.assert_allclose(best, [*w, b], atol=step / 2 + 1e-9)
    # The grid minimum is not on the grid's edge (so the grid did bracket the optimum).
    assert values.min() < values.reshape([len(a) for a in axes]).take(0, axis=0).min()


def test_fusion_is_no_worse_than_any_single_system_on_dev(caplog):
    x, y = _toy(n=300, seed=3)
    with caplog.at_level(logging.WARNING, logger="pylib.metrics.calibration"):
        fused = apply_fusion(x, *train_fusion(x, y))
    assert not caplog.records  # converged, not separable: no warning
    c_fused = cross_entropy_bits(fused, y)
    for i in range(x.shape[1]):
        single = apply_fusion(x[:, i], *train_fusion(x[:, i], y))
        assert c_fused <= cross_entropy_bits(single, y) + 1e-9
        assert c_fused <= cross_entropy_bits(x[:, i] - np.median(x[:, i]), y)
    assert c_fused < 1.0


@pytest.mark.parametrize("scale, shift", [(10.0, -3.0), (0.01, 100.0), (-2.0, 1.0)])
def test_invariant_to_monotone_affine_rescaling(scale, shift):
    x, y = _toy(n=200, seed=4)
    w, b = train_fusion(x, y)
    x2 = x.copy()
    x2[:, 1] = scale * x[:, 1] + shift
    w2, b2 = train_fusion(x2, y)
    assert w2[1] == pytest.approx(w[1] / scale, rel=1e-5)
    assert w2[0] == pytest.approx(w[0], rel=1e-5)
    np.testing.assert_allclose(apply_fusion(x2, w2, b2), apply_fusion(x, w, b), atol=1e-5)


def test_p_target_trains_for_that_prior():
    x, y = _toy(n=300, seed=5)
    x = x[:, :1] ** 3  # a non-linear score: the linear fit's best compromise depends on the prior
    at_01 = apply_fusion(x, *train_fusion(x, y, p_target=0.1))
    at_05 = apply_fusion(x, *train_fusion(x, y, p_target=0.5))
    assert cross_entropy_bits(at_01, y, 0.1) < cross_entropy_bits(at_05, y, 0.1)
    assert cross_entropy_bits(at_05, y, 0.5) < cross_entropy_bits(at_01, y, 0.5)


def test_separable_dev_warns_and_l2_keeps_weights_finite(caplog):
    x = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    y = x > 0
    with caplog.at_level(logging.WARNING, logger="pylib.metrics.calibration"):
        w, b = train_fusion(x, y)
    assert "separate bona fide and spoof perfectly" in caplog.text
    assert w[0] > 5  # heading to infinity; stopped by the optimiser's tolerance
    assert cross_entropy_bits(apply_fusion(x, w, b), y) < 0.01
    w_reg, b_reg = train_fusion(x, y, l2=1e-2)
    assert 0 < w_reg[0] < w[0]
    assert b_reg == pytest.approx(0.0, abs=1e-6)  # symmetric toy


def test_errors():
    x, y = _toy(n=20, seed=6)
    with pytest.raises(DataError, match="all 20 dev utterances are spoof"):
        train_fusion(x, np.zeros(20, bool))
    with pytest.raises(DataError, match="all 20 dev utterances are bona fide"):
        train_fusion(x, np.ones(20, int))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN or Inf \(first: utterance 3, system 1\)"):
        train_fusion(bad, y)
    with pytest.raises(DataError, match="NaN or Inf"):
        apply_fusion(bad, [1.0, 1.0], 0.0)
    const = x.copy()
    const[:, 0] = 2.5
    with pytest.raises(DataError, match="system 0 gives every dev utterance the same score"):
        train_fusion(const, y)
    with pytest.raises(ValueError, match="expected 20 labels"):
        train_fusion(x, y[:-1])
    with pytest.raises(ValueError, match="p_target"):
        train_fusion(x, y, p_target=1.0)
    with pytest.raises(ValueError, match="2 systems, but the fusion has 1 weights"):
        apply_fusion(x, [1.0], 0.0)


def test_align_systems():
    a = {"u1": 1.0, "u2": 2.0, "u3": 3.0}
    b = {"u3": 30.0, "u1": 10.0, "u2": 20.0}
    utts, m, dropped = align_systems([a, b], ["a.txt", "b.txt"])
    assert utts == ["u1", "u2", "u3"] and dropped == 0
    np.testing.assert_array_equal(m, [[1, 10], [2, 20], [3, 30]])

    short = {"u1": 10.0, "u3": 30.0}
    with pytest.raises(DataError, match=r"b\.txt: utterance 'u2' \(in a\.txt\) has no score"):
        align_systems([a, short], ["a.txt", "b.txt"])
    with pytest.raises(DataError, match=r"a\.txt: utterance 'u2' is not scored in b\.txt"):
        align_systems([short, a], ["b.txt", "a.txt"])
    utts, m, dropped = align_systems([a, short], ["a.txt", "b.txt"], allow_missing=True)
    assert utts == ["u1", "u3"] and dropped == 1

    labels = {"u1": "bonafide", "u2": "spoof", "u9": "spoof"}
    with pytest.raises(DataError, match=r"a\.txt: utterance 'u9' \(in lab\) has no score"):
        align_systems([a, b], ["a.txt", "b.txt"], labels=labels, labels_name="lab")
    with pytest.raises(DataError, match=r"a\.txt: utterance 'u3' has no label in lab"):
        align_systems([a, b], ["a.txt", "b.txt"], labels={"u1": 0, "u2": 1}, labels_name="lab")
    utts, m, dropped = align_systems([a, b], ["a.txt", "b.txt"], labels=labels, allow_missing=True)
    assert utts == ["u1", "u2"] and dropped == 2  # u9 unscored, u3 unlabelled
    with pytest.raises(DataError, match="no utterance is scored in every file"):
        align_systems([{"x": 1.0}, {"y": 2.0}], ["a", "b"], allow_missing=True)


def test_fusion_beats_the_seeds_score_averaging():
    """The seed fuses by averaging scores (project/03-asvspoof-mega/03_fuse_score_evaluate.py); equal
    weights are one linear fusion, so the trained one is no worse on dev than the calibrated mean."""
    x, y = _toy(n=300, seed=7)
    mean = x.mean(axis=1)
    averaged = apply_fusion(mean, *train_fusion(mean, y))
    fused = apply_fusion(x, *train_fusion(x, y))
    assert cross_entropy_bits(fused, y) <= cross_entropy_bits(averaged, y) + 1e-9


def test_parity_with_seed_cllr():
    """cross_entropy_bits at P = 0.5 is the seed's compute_cllr (sandbox/eval_biometric_cllr.py),
    and a calibrated system's Cllr is never below its min Cllr (PAV, the best monotone calibration)."""
    from tests.parity.peers import load_seed_module

    seed = load_seed_module("sandbox.eval_biometric_cllr")
    x, y = _toy(n=200, seed=8)
    for i in range(2):
        raw = x[:, i] - 1.0
        assert cross_entropy_bits(raw, y) == pytest.approx(seed.compute_cllr(raw[y], raw[~y]), rel=1e-12)
        cal = calibrate(x[:, i], y, x[:, i])
        c_cal = cross_entropy_bits(cal, y)
        assert c_cal == pytest.approx(seed.compute_cllr(cal[y], cal[~y]), rel=1e-12)
        c_min = seed.compute_min_cllr(cal[y], cal[~y])
        assert c_min <= c_cal + 1e-9
        assert c_cal - c_min < 0.1  # an affine map is nearly the best monotone one on this toy


def test_l2_on_separable_dev_matches_brute_force_grid():
    """With l2 the separable toy has a finite optimum: the penalty is on the standardised weight."""
    x = np.array([-3.0, -2.0, -1.0, 1.0, 2.5, 3.0])
    y = x > 0
    l2 = 1e-2
    w, b = train_fusion(x, y, l2=l2)
    step = 0.01
    ws, bs = np.meshgrid(np.arange(-1, 1 + step / 2, step) + w[0], np.arange(-1, 1 + step / 2, step) + b,
                         indexing="ij")
    llr = ws.reshape(-1, 1) * x + bs.reshape(-1, 1)
    values = _objective_bits(llr, y, 0.5) * math.log(2) + l2 * (ws.reshape(-1) * x.std()) ** 2
    best = np.argmin(values)
    assert abs(ws.reshape(-1)[best] - w[0]) <= step / 2 + 1e-9
    assert abs(bs.reshape(-1)[best] - b) <= step / 2 + 1e-9
