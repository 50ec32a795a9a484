"""pylib.nn: building blocks shared by models, losses, data and features (below all of them).

- `FeatureNorm` (`pylib.nn.norm`): feature normalisation held in the model as buffers;
- `length_mask`, `frame_mask` (`pylib.nn.masks`): valid positions of padded batches.

This package imports only torch: any layer of nnsp may use it, and it uses none of them.
"""

from pylib.nn.masks import frame_mask, length_mask
from pylib.nn.norm import FeatureNorm

__all__ = ["FeatureNorm", "frame_mask", "length_mask"]
