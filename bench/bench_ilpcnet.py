"""iLPCNet generation speed on CPU, 2 threads: real-time factor over 0.25 s of 16 kHz audio.

Baseline, same run, same input, same weights and the same random state: the seed's own generation
(project-NN-Pytorch-scripts project/05-nn-vocoders/ilpcnet/model.py inference: block_lpcnet.py
LPCNetV1.inference, one GRUCell pair and an LP synthesis step per sample), timed interleaved with
nnsp's so that load from elsewhere hits both alike; the two waveforms are compared too. nnsp's
generation projects the frame feature into the first GRU once per frame instead of once per
sample. Published widths (GRUs 256 and 16, LP order 15). The seed's loop runs at ~100-200x real
time on two CPU threads, so the default is a quarter second (`--seconds 1` for a longer one).
Without the seed checkout the baseline is a same-run 2048^2 float32 matmul (GFLOP/s).
`make bench BENCH_ARGS=ilpcnet` runs only this file.
"""

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from timing import matmul_gflops  # noqa: E402

from pylib.engine.export import build_from_config  # noqa: E402
from pylib.models.catalogue import get_model_class  # noqa: E402
from pylib.models.seed_import import convert_state_dict  # noqa: E402
from tests.parity import peers  # noqa: E402

SR, HOP, MEL, THREADS = 16000, 80, 80, 2
PROJECT = "05-nn-vocoders/ilpcnet"
OPTIONS = {"framelength": 160, "frameshift": 160, "lpc_order": 15}  # the seed's config.py options


def _seed_model():
    peers.seed_project_on_path(PROJECT)
    conf = dict(input_reso=[HOP, HOP], input_dims=[MEL, 1], wav_samp_rate=SR, options=OPTIONS)
    mod = peers.load_seed_model_module(f"{PROJECT}/model.py", **conf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mod.Model(MEL + 1, 1, peers.seed_args(temp_flag="stage2"), peers.stand_in_config(**conf))
    for gru in (model.m_lpcnet.m_net_out.m_gru1, model.m_lpcnet.m_net_out.m_gru2):
        gru._get_gru_cell()  # built now, not at the first step (it draws from the global RNG)
    return model.eval()


def _inputs(seconds):
    n = round(seconds * SR / HOP)
    g = torch.Generator().manual_seed(1)
    mel = torch.randn(1, n, MEL, generator=g) - 4.0
    f0 = (120.0 + 40.0 * torch.sin(torch.arange(n) / 10.0))[None, :, None]
    return mel, f0


def _timed(fn):
    t0 = time.perf_counter()
    y = fn()
    return y, time.perf_counter() - t0


def bench(seconds, repeats):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        seed = _seed_model()
    _, config, state = convert_state_dict(seed.state_dict(), "ilpcnet")
    model = build_from_config(config, state, get_model_class).eval()
    mel, f0 = _inputs(seconds)
    cond = torch.cat([mel, f0], dim=-1)
    params = sum(p.numel() for p in model.parameters()) / 1e6

    def ours():
        torch.manual_seed(7)
        with torch.no_grad():
            return model.generate(mel, f0)

    def reference():
        torch.manual_seed(7)
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            return seed.inference(cond)[..., 0]

    t_ours = t_ref = float("inf")
    diff = None
    for _ in range(repeats):  # interleaved
        y_ref, t = _timed(reference)
        t_ref = min(t_ref, t)
        y, t = _timed(ours)
        t_ours = min(t_ours, t)
        if diff is None:
            n = min(SR // 10, y.shape[1])  # the first 0.1 s: beyond, float32 round-off in the
            # autoregressive loop of random weights may grow
            diff = float((y[:, :n] - y_ref[:, :n]).abs().max() / y_ref[:, :n].abs().max().clamp(min=1e-12))
    print(f"  iLPCNet ({params:4.2f} M parameters): RTF {t_ours / seconds:7.3f}   the seed's "
          f"{t_ref / seconds:7.3f}   speed-up x{t_ref / t_ours:.2f}   (max |difference| over the first "
          f"0.1 s {diff:.1e} of the peak)", flush=True)


def bench_without_seed(seconds, repeats):
    from pylib.config import from_dict
    from pylib.models.vocoder.ilpcnet import ILPCNet, ILPCNetConfig

    torch.manual_seed(0)
    model = ILPCNet(from_dict(ILPCNetConfig, {"hop": HOP, "n_mels": MEL, "sample_rate": SR})).eval()
    mel, f0 = _inputs(seconds)
    best = float("inf")
    for _ in range(repeats):
        with torch.no_grad():
            best = min(best, _timed(lambda: model.generate(mel, f0))[1])
    print(f"  iLPCNet: RTF {best / seconds:7.3f}", flush=True)


def main(argv=None):
    """`python bench/bench_ilpcnet.py [--seconds S] [--repeats N] [--threads N]`."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=0.25, help="audio generated per run (default 0.25)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs of each, best kept (default 1)")
    p.add_argument("--threads", type=int, default=THREADS,
                   help=f"torch threads (default {THREADS}; 1 on a machine whose cores are busy elsewhere)")
    args = p.parse_args([] if argv is None else argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"iLPCNet generation of {args.seconds:g} s at {SR} Hz from an {MEL}-band mel and F0, torch "
              f"{torch.__version__}, {torch.get_num_threads()} threads, load average {load:.2f}; best of "
              f"{args.repeats}")
        print(f"  same-run 2048^2 float32 matmul: {matmul_gflops():.0f} GFLOP/s")
        if not peers.have_seed():
            print(f"  (seed toolkit not found at {peers.SEED_DIR}: nnsp only)")
            bench_without_seed(args.seconds, args.repeats)
            return
        bench(args.seconds, args.repeats)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main(sys.argv[1:])
