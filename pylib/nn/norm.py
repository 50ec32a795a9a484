"""Feature normalisation held inside the model as buffers, so a checkpoint is self-contained."""

import torch
from torch import nn


class FeatureNorm(nn.Module):
    """(x - mean) / std over the last dim. x: (..., D) -> (..., D). Defaults to identity."""

    def __init__(self, dim):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_stats(self, mean, std):
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean.numel() != self.mean.numel() or std.numel() != self.std.numel():
            raise ValueError(f"stats have {mean.numel()} dims, the feature has {self.mean.numel()}")
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, x):
        return (x - self.mean) / self.std

    def inverse(self, x):
        return x * self.std + self.mean
