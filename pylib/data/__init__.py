"""pylib.data: feature specs, the dataset, the length-bucketing sampler, collate, statistics.

spec = load_data_spec(cfg["data"])
loader = build_loader(spec, "dump", spec.train, train=True, seed=1)
for epoch in range(n):
    loader.batch_sampler.set_epoch(epoch)
    for batch in loader: ...        # the batch dict of docs/INTERFACES.md
"""

from pylib.data.collate import collate
from pylib.data.dataset import SpeechDataset
from pylib.data.lengths import LengthCache, align
from pylib.data.loader import SpeechLoader, build_loader
from pylib.data.sampler import BucketBatchSampler
from pylib.data.spec import CorpusSpec, DataSpec, FeatureSpec, as_corpora, frame_step, load_data_spec
from pylib.data.stats import RunningStats, load_feature_stats

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
]
