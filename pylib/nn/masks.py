"""Masks of padded batches: which positions of each item are real, from its length."""

import torch


def length_mask(lengths, n):
    """lengths (B,) -> (B, n) bool, True at positions t < lengths[b] (samples or frames)."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


def frame_mask(lengths, hop, n_frames):
    """Valid centred STFT frames: lengths (B,) in samples -> (B, n_frames) bool.

    Frame k (centred on sample k * hop) is valid when k * hop <= length, i.e. k < length // hop + 1:
    the frames a centred STFT of the unpadded utterance would have.
    """
    lengths = torch.as_tensor(lengths)
    return torch.arange(n_frames, device=lengths.device)[None, :] * hop <= lengths[:, None]
