"""pylib.features: log-mel, F0, waveform prep (and LFCC), as pure functions + thin modules.

The stage-1 extractor types are listed in `pylib.features.extractors.FEATURES`. The names below
are imported on first use (PEP 562), so that `import pylib.features.extractors` (what stage 2 needs
to know a feature's dim and hop) does not import torch and scipy.
"""

import importlib

_WHERE = {
    "FeaturesConfig": "extractors",
    "LogMel": "mel",
    "build_extractors": "extractors",
    "check_features_match": "extract",
    "compute_f0": "f0",
    "extract_job": "extract",
    "f0_errors": "f0",
    "log_mel": "mel",
    "mel_filterbank": "mel",
    "merge_jobs": "extract",
    "parse_features": "extractors",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'pylib.features' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pylib.features.{_WHERE[name]}"), name)
