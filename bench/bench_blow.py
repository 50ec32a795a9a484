"""Blow voice conversion speed on CPU, 2 threads: real-time factor for converting 1 s of 16 kHz speech.

Baseline, same run, same input and the same weights: the seed's own conversion
(project-NN-Pytorch-scripts project/05-nn-vocoders/blow/model.py `Model.convert`: frames of 4096
every 1024 through `sandbox/block_blow.py` Blow forward with the source speaker and reverse with the
target's, then its overlap-add), timed interleaved with nnsp's so that load from elsewhere hits both
alike; the two waveforms are compared too. Default: the published structure (8 blocks x 12 flow
steps, kernel 3, 128-dim speaker embedding) at a coupling width of 128 so that `make bench` stays
short; `--full` runs the published width 512. Without the seed checkout the baseline is a same-run
2048^2 float32 matmul (GFLOP/s). `make bench BENCH_ARGS=blow` runs only this file.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import best_time, interleaved, matmul_gflops  # noqa: E402

from pylib.engine.export import build_from_config  # noqa: E402
from pylib.models.catalogue import get_model_class  # noqa: E402
from pylib.models.seed_import import convert_state_dict  # noqa: E402
from pylib.models.vocoder.seed_blow import use_speakers  # noqa: E402
from tests.parity import peers  # noqa: E402

SR, SECONDS, THREADS = 16000, 1.0, 2
SPEAKERS = ["p225", "p226", "p227", "p228"]


def _seed_model(channels):
    """The seed's Model (its model.py) with the coupling width `channels` (512: as published)."""
    mod = peers.load_seed_model_module("05-nn-vocoders/blow/model.py", wav_samp_rate=SR)
    bb = mod.nii_blow
    real = bb.Blow

    def sized(cond_dim, blocks, flows, _channels, kernel):
        bb.Blow = real  # its __init__ calls super(Blow, self) by the module's name
        return real(cond_dim, blocks, flows, channels, kernel)

    bb.Blow = sized
    np.random.seed(0)  # the seed draws its 1x1 transforms' initial rotations from numpy's global RNG
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            speakers = peers.SeedSpeakerMap(SPEAKERS)
            conf = peers.stand_in_config(wav_samp_rate=SR, options={"speaker_map": speakers})
            model = mod.Model(1, 1, peers.seed_args(), conf)
    finally:
        bb.Blow = real
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # trained-like: ActNorm initialised, coupling outputs not zero
        for name, p in model.named_parameters():
            if name.endswith("m_init_flag"):
                p.fill_(1.0)
            elif p.requires_grad:
                p.add_(0.01 * torch.randn(p.shape, generator=g))
    return model.eval()


def _speech(seconds):
    t = np.arange(int(seconds * SR)) / SR
    g = np.random.default_rng(1)
    x = 0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    x = x + 0.01 * g.standard_normal(t.size)
    return torch.from_numpy(x.astype(np.float32))


def bench(channels, repeats):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        seed = _seed_model(channels)
    with use_speakers(SPEAKERS):
        _, config, state = convert_state_dict(seed.state_dict(), "blow")
    model = build_from_config(config, state, get_model_class).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    wav = _speech(SECONDS)

    def ours():  # pad=False: the seed's framing (the tail that fills no whole frame is dropped)
        with torch.no_grad():
            return model.convert(wav[None], 0, 2, pad=False)[0]

    def reference():
        with torch.no_grad():
            return seed.convert(wav[None, :, None], 0, 2)[0, :, 0]

    y, y_ref = ours(), reference()  # warm-up, and the check that both compute the same
    diff = float((y - y_ref).abs().max() / y_ref.abs().max().clamp(min=1e-12))
    t_ref, t_ours = interleaved(reference, ours, repeats)
    print(f"  blow width {channels:3d} ({params:5.1f} M parameters): RTF {t_ours / SECONDS:7.3f}   "
          f"the seed's {t_ref / SECONDS:7.3f}   speed-up x{t_ref / t_ours:.2f}   "
          f"(max |difference| {diff:.1e} of the peak)", flush=True)


def bench_without_seed(channels, repeats):
    from pylib.config import from_dict
    from pylib.models.vocoder.blow import Blow, BlowConfig

    torch.manual_seed(0)
    model = Blow(from_dict(BlowConfig, {"speakers": SPEAKERS, "channels": channels})).eval()
    wav = _speech(SECONDS)
    with torch.no_grad():
        model.convert(wav[None], 0, 2)
        t = best_time(lambda: model.convert(wav[None], 0, 2), repeats)
    print(f"  blow width {channels:3d}: RTF {t / SECONDS:7.3f}", flush=True)


def main(argv=None):
    """`python bench/bench_blow.py [--full] [--repeats N] [--threads N]`."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the published coupling width 512 (default: 128)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each, best kept (default 2)")
    p.add_argument("--threads", type=int, default=THREADS, help=f"torch threads (default {THREADS})")
    args = p.parse_args([] if argv is None else argv)
    channels = 512 if args.full else 128
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"Blow conversion of {SECONDS:.0f} s at {SR} Hz (frames of 4096 every 1024, source p225 -> "
              f"target p227), torch {torch.__version__}, {args.threads} threads, load average {load:.2f}; "
              f"best of {args.repeats}")
        print(f"  same-run 2048^2 float32 matmul: {matmul_gflops():.0f} GFLOP/s")
        if not peers.have_seed():
            print(f"  (seed toolkit not found at {peers.SEED_DIR}: nnsp only; the matmul above is the "
                  "baseline)")
            bench_without_seed(channels, args.repeats)
        else:
            bench(channels, args.repeats)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main(sys.argv[1:])
