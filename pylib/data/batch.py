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
| group            | int64 (data.views)   | (B,) the training item a row belongs to        |
| view             | int64 (data.views)   | (B,) 0 = as read, 1..K = augmented view        |
| vocoder          | list[str] (views)    | B: the vocoder of a copy, "-" for the source   |

The last three come only in multi-view training batches (`pylib.data.views.collate_groups`).
"""

import numpy as np
import torch


def _long(values):
    return torch.from_numpy(np.array(values, dtype=np.int64))


def collate(items):
    """list of dataset items -> batch dict (see the module docstring).

    Built in numpy, wrapped as tensors at the end: tiny torch ops pay for dispatch and the
    intra-op thread pool on every call, which costs more than the copies on a busy machine. Each
    padded row and its mask row are filled with slice assignments (memset/memcpy): cheaper than a
    vectorised `arange < lengths` mask, which builds an int64 array as long as the longest item.
    """
    if not items:
        raise ValueError("collate: empty batch")
    first = items[0]
    size = len(items)
    batch = {"utt_id": [it["utt_id"] for it in items]}
    for key, value in first.items():
        if not torch.is_tensor(value):
            continue
        len_key = f"{key}_len"
        if size == 1:
            # nothing to pad: a view of the item, no copy; every frame is valid
            n = first[len_key]
            batch[key] = value.unsqueeze(0)
            batch[len_key] = _long([n])
            mask = np.empty((1, n), dtype=bool)
            mask.fill(True)  # np.ones goes through a slower generic copy
            batch[f"{key}_mask"] = torch.from_numpy(mask)
            continue
        lens = [it[len_key] for it in items]
        longest = max(lens)
        out = np.empty((size, longest) + tuple(value.shape[1:]), dtype=value.numpy().dtype)
        mask = np.empty((size, longest), dtype=bool)
        for b, it in enumerate(items):
            x = it[key].numpy()
            n = x.shape[0]
            out[b, :n] = x
            out[b, n:] = 0
            mask[b, :n] = True
            mask[b, n:] = False
        batch[key] = torch.from_numpy(out)
        batch[len_key] = _long(lens)
        batch[f"{key}_mask"] = torch.from_numpy(mask)
    if "start" in first:
        batch["start"] = _long([it["start"] for it in items])
    if "label" in first:
        batch["label"] = _long([it["label"] for it in items])
        batch["attack"] = [it["attack"] for it in items]
    return batch
