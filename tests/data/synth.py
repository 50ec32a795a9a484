"""Tiny synthetic dumps whose values encode their position, so crops can be checked exactly.

mel[k, :] = k + 0.25 * d (hop 80), f0[k] = k (hop 160; voiced everywhere unless zeroed),
wav[t] = t as `<f4` (hop 1); frame counts follow the stage-1 convention N = T // hop + 1.
"""

import numpy as np

from pylib.data.spec import load_data_spec
from pylib.io import write_f4, write_list

MEL_DIM = 4


def spec_dict(**kw):
    d = {
        "sample_rate": 16000,
        "inputs": [
            {"name": "mel", "ext": ".f4", "dim": MEL_DIM, "hop": 80, "norm": True},
            {"name": "f0", "ext": ".f4", "dim": 1, "hop": 160, "norm": True, "f0": True},
        ],
        "outputs": [{"name": "wav", "ext": ".f4", "dim": 1, "hop": 1}],
        "truncate": 1600,
        "min_len": 800,
        "length_tolerance": 2,
        "batch_size": 2,
        "train": [{"root": "train"}],
    }
    d.update(kw)
    return d


def make_spec(**kw):
    return load_data_spec(spec_dict(**kw))


def mel_of(T):
    n = T // 80 + 1
    return np.arange(n, dtype=np.float32)[:, None] + 0.25 * np.arange(MEL_DIM, dtype=np.float32)


def f0_of(T):
    return np.arange(T // 160 + 1, dtype=np.float32)[:, None]


def write_utt(root, utt, T, mel=None, f0=None, wav=None):
    write_f4(root / "mel" / f"{utt}.f4", mel_of(T) if mel is None else mel)
    write_f4(root / "f0" / f"{utt}.f4", f0_of(T) if f0 is None else f0)
    write_f4(root / "wav" / f"{utt}.f4", np.arange(T, dtype=np.float32) if wav is None else wav)


def make_set(data_dir, name, lengths, write_lst=True):
    """Write utterances {utt: T samples} under data_dir/name; returns the root folder."""
    root = data_dir / name
    for utt, T in lengths.items():
        write_utt(root, utt, T)
    if write_lst:
        write_list(root / f"{name.split('/')[-1]}.lst", list(lengths))
    return root
