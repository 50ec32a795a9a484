"""pylib.features: log-mel, F0, waveform prep (and LFCC), as pure functions + thin modules.

The stage-1 extractor types are listed in `pylib.features.extractors.FEATURES`.
"""

from pylib.features.extract import check_features_match, extract_job, merge_jobs
from pylib.features.extractors import FeaturesConfig, build_extractors, parse_features
from pylib.features.f0 import compute_f0, f0_errors
from pylib.features.mel import LogMel, log_mel, mel_filterbank

__all__ = [
    "FeaturesConfig",
    "LogMel",
    "build_extractors",
    "check_features_match",
    "compute_f0",
    "extract_job",
    "f0_errors",
    "log_mel",
    "mel_filterbank",
    "merge_jobs",
    "parse_features",
]
