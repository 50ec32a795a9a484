"""Countermeasure speed on CPU (2 threads): LFCC-LCNN-LSTM scoring batched vs one by one, and one
training step at batch 64 x 3 s (the published recipe's batch size) vs its no-grad forward pass."""

import time

import numpy as np
import torch

from pylib.config import from_dict
from pylib.models.catalogue import get_model_class

SR = 16000


def _model(**kw):
    cls = get_model_class("lcnn")
    torch.manual_seed(0)
    return cls(from_dict(cls.Config, {"back_end": "lstm", "head": "sigmoid", **kw}))


def _batch(waves, labels=None):
    t = max(len(w) for w in waves)
    wav = torch.zeros(len(waves), t, 1)
    for i, w in enumerate(waves):
        wav[i, : len(w), 0] = torch.from_numpy(w)
    b = {"wav": wav, "wav_len": torch.tensor([len(w) for w in waves])}
    if labels is not None:
        b["label"] = torch.tensor(labels)
    return b


def _timed(fn, repeat=1):
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def _best_of(fns, rounds=5):
    """Best wall time of each fn over `rounds`, the fns interleaved so that a load change on a shared
    machine hits them alike (the minimum is the least disturbed run). One warm-up call each first:
    oneDNN builds a kernel per new input shape on the first call."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main():
    torch.set_num_threads(2)
    g = np.random.default_rng(0)
    waves = [(0.1 * g.standard_normal(int(SR * g.uniform(3.0, 4.0)))).astype(np.float32) for _ in range(16)]
    model = _model().eval()
    # the same work both ways: eval mode, infer() (inference mode), input tensors built in the loop
    one, batched = _best_of([lambda: [model.infer(_batch([w])) for w in waves],
                             lambda: model.infer(_batch(waves))])
    print("scoring 16 utts of 3-4 s, LFCC-LCNN-LSTM (269k params), CPU 2 threads, best of 5:")
    print(f"  one by one (baseline): {len(waves) / one:7.1f} utt/s")
    print(f"  batched (16, padded) : {len(waves) / batched:7.1f} utt/s   ratio {one / batched:.2f}x")

    model = _model(dropout=0.7).train()
    opt = torch.optim.Adam(model.param_groups()["model"], lr=3e-4)
    train_waves = [(0.1 * g.standard_normal(3 * SR)).astype(np.float32) for _ in range(64)]
    tb = _batch(train_waves, [i % 2 for i in range(64)])

    def step():
        loss, _ = model(tb, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def forward():
        with torch.no_grad():
            model(tb, 0)

    fwd = _timed(forward)
    train = _timed(step)
    print("train step, batch 64 x 3 s, LFCC-LCNN-LSTM-sum + sigmoid, Adam, CPU 2 threads:")
    print(f"  no-grad forward (baseline): {fwd:6.2f} s/batch")
    print(f"  forward+backward+step     : {train:6.2f} s/batch   ratio {train / fwd:.2f}x "
          f"({64 / train:.1f} utt/s)")


if __name__ == "__main__":
    main()
