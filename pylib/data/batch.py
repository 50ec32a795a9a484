"""Collate: pad the items of a batch and return lengths and masks (the batch of docs/INTERFACES.md).

Legend: B batch, N frames, D dim (a waveform is (B, T, 1)).

| key              | type                 | shape                                          |
|------------------|----------------------|------------------------------------------------|
| utt_id           | list[str]            | B                                              |
| <feature>        | float32, zero-padded | (B, N, D)                                      |
| <feature>_len    | int64                | (B,) valid frames (samples for a waveform)     |
| <feature>_mask   | bool                 | (B, N) True on valid frames                    |
| start            | int64                | (B,) first sample of the item in its utterance |
| label            | int64 (with labels)  | (B,) 1 = bonafide, 0 = spoof                   |
| attack           | list[str] (labels)   | B                                              |
"""

import numpy as np
import torch


def _long(values):
    return torch.from_numpy(np.array(values, dtype=np.int64))


def collate(items):
    """list of dataset items -> batch dict (see the module docstring).

    Built in numpy, wrapped as tensors at the end: tiny torch ops pay for dispatch and the
    intra-op thread pool on every call, which costs more than the copies on a busy machine.
    """
    if not items:
        raise ValueError("collate: empty batch")
    first = items[0]
    batch = {"utt_id": [it["utt_id"] for it in items]}
    for key, value in first.items():
        if not torch.is_tensor(value):
            continue
        arrays = [it[key].numpy() for it in items]
        lens = [it[f"{key}_len"] for it in items]
        longest = max(lens)
        mask = np.zeros((len(items), longest), dtype=bool)
        if len(items) == 1:
            out = arrays[0][None]  # nothing to pad: a view, no copy
        else:
            out = np.empty((len(items), longest) + arrays[0].shape[1:], dtype=arrays[0].dtype)
            for b, x in enumerate(arrays):
                out[b, : x.shape[0]] = x
                out[b, x.shape[0] :] = 0
        for b, n in enumerate(lens):
            mask[b, :n] = True
        batch[key] = torch.from_numpy(out)
        batch[f"{key}_len"] = _long(lens)
        batch[f"{key}_mask"] = torch.from_numpy(mask)
    if "start" in first:
        batch["start"] = _long([it["start"] for it in items])
    if "label" in first:
        batch["label"] = _long([it["label"] for it in items])
        batch["attack"] = [it["attack"] for it in items]
    return batch
