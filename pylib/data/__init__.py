"""pylib.data: feature specs, the dataset, the length-bucketing sampler, collate, statistics.

spec = spec_from_config(cfg, "dump")   # dims, hops and the rate derived from the features section
loader = build_loader(spec, "dump", spec.train, train=True, seed=1)
for epoch in range(n):
    loader.batch_sampler.set_epoch(epoch)
    for batch in loader: ...        # the batch dict of docs/INTERFACES.md
"""

import importlib

# Names are loaded on first use, so light stages (validate_data_dir, asvspoof labels) do not pay
# for importing torch.
_WHERE = {
    "collate": "batch",
    "SpeechDataset": "dataset",
    "LengthCache": "lengths",
    "align": "lengths",
    "SpeechLoader": "loader",
    "build_loader": "loader",
    "BucketBatchSampler": "sampler",
    "CorpusSpec": "spec",
    "DataSpec": "spec",
    "FeatureSpec": "spec",
    "as_corpora": "spec",
    "frame_step": "spec",
    "load_data_spec": "spec",
    "spec_from_config": "spec",
    "RunningStats": "stats",
    "load_feature_stats": "stats",
}


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'pylib.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pylib.data.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BucketBatchSampler",
    "CorpusSpec",
    "DataSpec",
    "FeatureSpec",
    "LengthCache",
    "RunningStats",
    "SpeechDataset",
    "SpeechLoader",
    "align",
    "as_corpora",
    "build_loader",
    "collate",
    "frame_step",
    "load_data_spec",
    "load_feature_stats",
    "spec_from_config",
]
