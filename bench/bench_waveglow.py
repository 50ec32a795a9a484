"""WaveGlow / WaveGlow-2 generation speed on CPU, 2 threads: real-time factor for 1 s of 16 kHz audio.

Baseline, same run, same input, same weights and the same z: the seed's own generation
(project-NN-Pytorch-scripts project/05-nn-vocoders/<variant>/model.py inference: its
WaveGlow.reverse, the zero-mel pass and the spectral subtraction), timed interleaved with nnsp's so
that load from elsewhere hits both alike; the two waveforms are compared too (on the first call).
Timed: a later call, where both reuse the zero-mel spectrum of the first (the seed's bg_noise). Default: the
published structure (3 blocks x 4 flows x 8 layers) at a reduced coupling width of 64 channels, so
that `make bench` stays short; `--full` runs the published width of 256 (several seconds per
second of audio, each). Without the seed checkout the baseline is a same-run 2048^2 float32 matmul
(GFLOP/s). `make bench BENCH_ARGS=waveglow` runs only this file.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from timing import best_time, interleaved, matmul_gflops  # noqa: E402

from pylib.engine.export import build_from_config  # noqa: E402
from pylib.models.catalogue import get_model_class  # noqa: E402
from pylib.models.seed_import import convert_state_dict  # noqa: E402
from tests.parity import peers  # noqa: E402

SR, HOP, MEL, SECONDS, THREADS = 16000, 80, 80, 1.0, 2
VARIANTS = ("waveglow", "waveglow-2")


def _seed_model(variant, channels):
    """The seed's Model (its model.py) with the coupling width `channels` (256: as published)."""
    conf = dict(input_reso=[HOP], input_dims=[MEL], wav_samp_rate=SR)
    mod = peers.load_seed_model_module(f"05-nn-vocoders/{variant}/model.py", **conf)
    wg = mod.nii_waveglow
    real = wg.WaveGlow

    def sized(cond_dim, up, n_blocks, n_flows, n_layers, _channels, *rest):
        wg.WaveGlow = real  # its __init__ calls super(WaveGlow, self) by the module's name
        return real(cond_dim, up, n_blocks, n_flows, n_layers, channels, *rest)

    wg.WaveGlow = sized
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mod.Model(MEL, 1, peers.seed_args(), peers.stand_in_config(**conf))
    finally:
        wg.WaveGlow = real
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # trained-like weights: the coupling outputs are zero at initialisation
        for name, p in model.named_parameters():
            if p.requires_grad and name.endswith(("l_compress.weight", "m_wn_post.weight")):
                p.normal_(0.0, 0.01, generator=g)
    return model.eval()


def bench_variant(variant, channels, repeats):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        seed = _seed_model(variant, channels)
    _, config, state = convert_state_dict(seed.state_dict(), variant)
    model = build_from_config(config, state, get_model_class).eval()
    n_frames = round(SECONDS * SR / HOP)
    g = torch.Generator().manual_seed(1)
    mel = torch.randn(1, n_frames, MEL, generator=g) - 4.0
    z = model.draw_z(1, n_frames, generator=g)
    params = sum(p.numel() for p in model.parameters()) / 1e6

    def ours():
        with torch.no_grad():
            return model.generate(mel, z=z)

    def reference():
        seed.m_waveglow.get_z_noises = lambda *a, **k: [None if t is None else t.clone() for t in z]
        with torch.no_grad():
            return seed.inference(mel)[..., 0]

    y, y_ref = ours(), reference()  # warm-up, and the check that both compute the same
    diff = float((y - y_ref).abs().max() / y_ref.abs().max().clamp(min=1e-12))
    t_ref, t_ours = interleaved(reference, ours, repeats)
    print(f"  {variant:10s} width {channels:3d} ({params:5.1f} M parameters): RTF {t_ours / SECONDS:7.3f}   "
          f"the seed's {t_ref / SECONDS:7.3f}   speed-up x{t_ref / t_ours:.2f}   "
          f"(max |difference| {diff:.1e} of the peak)", flush=True)


def bench_without_seed(channels, repeats):
    from pylib.config import from_dict
    from pylib.models.vocoder.waveglow import WaveGlow, WaveGlowConfig

    for net in ("nonar", "legacy"):
        torch.manual_seed(0)
        model = WaveGlow(from_dict(WaveGlowConfig, {"hop": HOP, "n_mels": MEL, "sample_rate": SR,
                                                    "wn_channels": channels, "coupling_net": net})).eval()
        n_frames = round(SECONDS * SR / HOP)
        mel = torch.randn(1, n_frames, MEL)
        with torch.no_grad():
            model.generate(mel)
            t = best_time(lambda m=model, x=mel: m.generate(x), repeats)
        print(f"  coupling {net:6s} width {channels:3d}: RTF {t / SECONDS:7.3f}", flush=True)


def main(argv=None):
    """`python bench/bench_waveglow.py [--full] [--repeats N] [--only VARIANT] [--threads N]`."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the published coupling width 256 (default: 64)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each, best kept (default 2)")
    p.add_argument("--only", choices=VARIANTS, help="one variant only")
    p.add_argument("--threads", type=int, default=THREADS,
                   help=f"torch threads (default {THREADS}; 1 on a machine whose cores are busy elsewhere)")
    args = p.parse_args([] if argv is None else argv)
    channels = 256 if args.full else 64
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"WaveGlow generation of {SECONDS:.0f} s at {SR} Hz from an {MEL}-band mel (z at sigma 0.6, "
              f"with the seed's denoising), torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"load average {load:.2f}; best of {args.repeats}")
        print(f"  same-run 2048^2 float32 matmul: {matmul_gflops():.0f} GFLOP/s")
        if not peers.have_seed():
            print(f"  (seed toolkit not found at {peers.SEED_DIR}: nnsp only)")
            bench_without_seed(channels, args.repeats)
            return
        for variant in [args.only] if args.only else VARIANTS:
            bench_variant(variant, channels, args.repeats)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main(sys.argv[1:])
