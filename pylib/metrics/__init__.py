"""pylib.metrics: countermeasure metrics (EER, DET, min t-DCF) and vocoder metrics (mel L1, MCD, F0).

File readers and the score_cm report live in `pylib.metrics.cm_io` / `pylib.metrics.cm_report`
(imported on demand: they pull in pylib.data).
"""

from pylib.metrics.cm import (
    CostModel,
    asv_error_rates,
    compute_eer,
    det_curve,
    min_tdcf,
    per_attack_eer,
    tdcf_curve,
)
from pylib.metrics.vocoder import f0_metrics, log_mel_l1, mel_cepstral_distortion, mel_cepstrum

__all__ = [
    "CostModel",
    "asv_error_rates",
    "compute_eer",
    "det_curve",
    "f0_metrics",
    "log_mel_l1",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "min_tdcf",
    "per_attack_eer",
    "tdcf_curve",
]
