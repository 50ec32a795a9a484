"""Long inputs: chunked vs whole-file generation, RTF and peak memory, on 2 threads.

hn-sinc-NSF (the seed's hn-sinc-nsf-10 layout: cnn condition, 5 harmonic blocks of 10 layers, at
reduced width 16) at 16 kHz and HiFi-GAN V2 (width 128) at 22.05 kHz each vocode 60 s of random
features, once whole (the baseline, measured in the same run) and once in the pieces of
`pylib.engine.longform.infer_long` at the default --chunk-seconds (30 s pieces plus the model's
receptive field either side). The chunked output equals the whole one (printed: max difference);
chunking may cost at most 10 % time. Peak memory above the start (Linux: VmHWM after a reset) shows
what the pieces save. The machine's other load adds noise to the wall-clock RTF: the CPU-time ratio
(process time, both threads) is the steadier figure.
`make bench BENCH_ARGS=longform` runs only this file.
"""

import gc
import time
from pathlib import Path

import numpy as np
import torch

from pylib.config import from_dict
from pylib.engine.longform import CHUNK_SECONDS, chunk_frames, infer_long
from pylib.models.vocoder.hifigan import Hifigan, HifiganConfig
from pylib.models.vocoder.nsf import HnSincNsf, HnSincNsfConfig

SECONDS, THREADS, REPEATS = 60.0, 2, 2
CLEAR_REFS = Path("/proc/self/clear_refs")


def _models():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        nsf_conf = dict(cond_module="cnn", filter_channels=16, cond_channels=16, n_mels=80, hop=80,
                        sample_rate=16000)
        nsf = HnSincNsf(from_dict(HnSincNsfConfig, nsf_conf, where="model"))
        hifi = Hifigan(from_dict(HifiganConfig, dict(preset="v2", sample_rate=22050, hop=256, n_mels=80),
                                 where="model"))
    return {"hn-sinc-NSF (width 16, 16 kHz)": (nsf.eval(), 16000, 80),
            "HiFi-GAN V2 (22.05 kHz)": (hifi.eval(), 22050, 256)}


def _batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    f0 = (100 + 80 * torch.rand(1, n, 1, generator=g)) * (torch.rand(1, n, 1, generator=g) > 0.3)
    lens = torch.tensor([n])
    return {"utt_id": ["bench"], "mel": torch.randn(1, n, 80, generator=g), "f0": f0, "mel_len": lens,
            "f0_len": lens}


def _status(key):
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _once(fn, *args):
    """((wall seconds, CPU seconds), peak MB above the start or None, output) of one fn(*args)."""
    gc.collect()
    base = None
    if CLEAR_REFS.exists():
        CLEAR_REFS.write_text("5")  # reset the peak resident size to the current one
        base = _status("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    seconds = (time.perf_counter() - t0, time.process_time() - c0)
    return seconds, (_status("VmHWM") - base) / 1e6 if base is not None else None, out


def _whole(model, batch):
    return model.infer(batch)[0]


def _compare(model, batch, frames):
    """Whole and chunked, interleaved `REPEATS` times (the machine's load hits both alike):
    {kind: ((best wall, best CPU seconds), peak MB, output)}."""
    got = {}
    for _ in range(REPEATS):
        runs = (("whole", _whole, (model, batch)), ("chunked", infer_long, (model, batch, frames)))
        for kind, fn, args in runs:
            t, m, out = _once(fn, *args)
            old = got.pop(kind, ((float("inf"),) * 2, None, None))
            best = (min(t[0], old[0][0]), min(t[1], old[0][1]))
            got[kind] = (best, m if old[1] is None else max(m, old[1]), out)
    return got


def main():
    torch.set_num_threads(THREADS)
    print(f"{SECONDS:.0f} s of input, pieces of {CHUNK_SECONDS:.0f} s, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; RTF = seconds per second of audio")
    print(f"{'model':32s} {'context':>8s} {'whole RTF':>10s} {'chunked':>10s} {'ratio':>6s} "
          f"{'CPU ratio':>9s} {'whole MB':>9s} {'chunk MB':>9s} {'max diff':>9s}")
    for name, (model, rate, hop) in _models().items():
        n = round(SECONDS * rate / hop)
        batch, frames = _batch(n), chunk_frames(model, rate, CHUNK_SECONDS)
        infer_long(model, _batch(64), 32)  # warm-up: allocator, kernels
        got = _compare(model, batch, frames)
        (t_whole, m_whole, whole), (t_chunk, m_chunk, chunked) = got["whole"], got["chunked"]
        audio = n * hop / rate
        diff = float(np.abs(whole - chunked).max())
        mem = [f"{m:9.0f}" if m is not None else f"{'-':>9s}" for m in (m_whole, m_chunk)]
        print(f"{name:32s} {model.chunking().context:>8d} {t_whole[0] / audio:10.4f} "
              f"{t_chunk[0] / audio:10.4f} {t_chunk[0] / t_whole[0]:6.2f} {t_chunk[1] / t_whole[1]:9.2f} "
              f"{mem[0]} {mem[1]} {diff:9.1e}")


if __name__ == "__main__":
    main()
