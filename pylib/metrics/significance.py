"""Significance tests between systems scored on the same trials, with Holm-Bonferroni correction.

The z statistics are those of Bengio & Mariethoz, "A statistical significance test for person
authentication", Proc. Odyssey 2004 (fig. 2), as in the seed's `sandbox/eval_sig_test.py`
(`compute_z_independent`, `compute_z_dependent`, `get_far_frr_dependent`,
`sig_test_holm_bonf_method`); the step-down correction is Holm, "A simple sequentially rejective
multiple test procedure", Scand. J. Statistics 6 (1979), as the seed's
`core_scripts/math_tools/sig_test.py` (`reject_null_holm_bonferroni`).

Every function here is vectorised (arrays in, arrays out). Results are "significant" booleans
(True = the null hypothesis "same error rate" is rejected); the seed returns the opposite
indicator (1.0 = no significant difference) by default.
"""

import numpy as np
from scipy.stats import norm


def z_independent(far_a, frr_a, far_b, frr_b, n_impostor, n_client):
    """|HTER_a - HTER_b| / std for two systems assumed independent (Bengio & Mariethoz, fig. 2).

    far/frr: false-acceptance and false-rejection rates in [0, 1] (arrays broadcast);
    n_impostor: spoof (impostor) trial count, n_client: bona fide (client) trial count.
    As `compute_z_independent` in the seed's sandbox/eval_sig_test.py. NaN where both systems
    have FAR and FRR in {0, 1} (zero variance).
    """
    far_a, frr_a, far_b, frr_b = (np.asarray(x, dtype=np.float64) for x in (far_a, frr_a, far_b, frr_b))
    hter_a, hter_b = (far_a + frr_a) / 2.0, (far_b + frr_b) / 2.0
    var = (far_a * (1 - far_a) + far_b * (1 - far_b)) / 4.0 / n_impostor
    var = var + (frr_a * (1 - frr_a) + frr_b * (1 - frr_b)) / 4.0 / n_client
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(hter_a - hter_b) / np.sqrt(var)


def z_dependent(far_ab, frr_ab, far_ba, frr_ba, n_impostor, n_client):
    """z for two systems on the same trials (Bengio & Mariethoz, fig. 2, dependent case).

    far_ab: fraction of spoof trials accepted by b but rejected by a (see `far_frr_dependent`),
    far_ba the other way round; frr likewise on bona fide trials. 0 where the two disagree
    symmetrically (far_ab == far_ba and frr_ab == frr_ba), as `compute_z_dependent` in the seed.
    """
    far_ab, frr_ab, far_ba, frr_ba = (np.asarray(x, dtype=np.float64)
                                      for x in (far_ab, frr_ab, far_ba, frr_ba))
    same = (far_ab == far_ba) & (frr_ab == frr_ba)
    den = np.sqrt((far_ab + far_ba) / (4.0 * n_impostor) + (frr_ab + frr_ba) / (4.0 * n_client))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(far_ab + frr_ab - far_ba - frr_ba) / den
    return np.where(same, 0.0, z)


def far_frr_dependent(bona_a, spoof_a, threshold_a, bona_b, spoof_b, threshold_b):
    """Disagreement rates of systems a and b on the same trials, each at its own threshold.

    bona_*: (NC,) bona fide scores, spoof_*: (NI,) spoof scores, in the same trial order for a and
    b; a trial is accepted when score >= threshold. -> (far_ab, far_ba, frr_ab, frr_ba), as
    `get_far_frr_dependent` in the seed's sandbox/eval_sig_test.py (which takes NI, NC
    separately; here they are the array lengths).
    """
    bona_a, spoof_a, bona_b, spoof_b = (np.asarray(x, dtype=np.float64).reshape(-1)
                                        for x in (bona_a, spoof_a, bona_b, spoof_b))
    if bona_a.shape != bona_b.shape or spoof_a.shape != spoof_b.shape:
        raise ValueError("systems a and b must be scored on the same trials (same array lengths)")
    ni, nc = spoof_a.size, bona_a.size
    far_ab = np.count_nonzero((spoof_a < threshold_a) & (spoof_b >= threshold_b)) / ni
    far_ba = np.count_nonzero((spoof_a >= threshold_a) & (spoof_b < threshold_b)) / ni
    frr_ab = np.count_nonzero((bona_a >= threshold_a) & (bona_b < threshold_b)) / nc
    frr_ba = np.count_nonzero((bona_a < threshold_a) & (bona_b >= threshold_b)) / nc
    return far_ab, far_ba, frr_ab, frr_ba


def z_critical(level, alternative="two-sided"):
    """Critical z for a test at `level`: isf(level/2) two-sided, isf(level) for 'greater'
    (as compute_Z_alpha2 in the seed's core_scripts/math_tools/sig_test.py)."""
    level = np.asarray(level, dtype=np.float64)
    if alternative == "two-sided":
        return norm.isf(level / 2.0)
    if alternative == "greater":
        return norm.isf(level)
    raise ValueError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")


def holm_bonferroni(z_values, significance_level=0.05, num_tests=None, alternative="two-sided"):
    """Holm-Bonferroni step-down test on z statistics. -> bool array, True = significant.

    z_values: any shape; num_tests defaults to z_values.size. The largest z is tested at level
    alpha / num_tests, the next at alpha / (num_tests - 1), ..., stopping at the first z below its
    critical value: it and all smaller z are not significant. As `reject_null_holm_bonferroni`
    in the seed's core_scripts/math_tools/sig_test.py, vectorised; one difference: a NaN z
    (zero variance) is never significant here, where the seed rejects it.
    """
    z = np.asarray(z_values, dtype=np.float64)
    flat = z.reshape(-1)
    m = flat.size if num_tests is None else int(num_tests)
    if m < flat.size:
        raise ValueError(f"num_tests ({m}) is smaller than the number of z values ({flat.size})")
    key = np.where(np.isnan(flat), -np.inf, flat)
    order = np.argsort(-key, kind="stable")
    crit = z_critical(significance_level / (m - np.arange(flat.size)), alternative)
    passed = key[order] >= crit
    out = np.zeros(flat.size, dtype=bool)
    out[order] = np.logical_and.accumulate(passed)
    return out.reshape(z.shape)


def eer_significance(eers, n_bonafide, n_spoof, significance_level=0.05):
    """Pairwise significance of EERs of systems x runs, Holm-Bonferroni corrected.

    eers: (N, M) EERs (fractions) of N systems, M runs each (M may be 1); n_bonafide, n_spoof:
    trial counts of the test set. -> (significant (N*M, N*M) bool, z (N*M, N*M)), entry
    [i*M + j, l*M + n] comparing run j of system i with run n of system l. As
    `sig_test_holm_bonf_method` in the seed's sandbox/eval_sig_test.py: each EER is used as both
    FAR and FRR in `z_independent`, and every cell of the matrix (diagonal and both triangles)
    counts as one test in the correction.
    """
    e = np.asarray(eers, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"eers must be (systems, runs), got shape {e.shape}")
    flat = e.reshape(-1)
    a, b = flat[:, None], flat[None, :]
    z = z_independent(a, a, b, b, n_spoof, n_bonafide)
    return holm_bonferroni(z, significance_level, z.size), z
