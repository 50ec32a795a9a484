"""WaveNet generation speed: cached dilated convolutions vs the naive form, same run, 2 CPU threads.

The cached form (WaveNet.generate) updates every layer once per sample from its queue of past
inputs; the naive form (WaveNet.generate_naive, the baseline) reruns the whole stack over the
receptive field ending at each sample. Both at toy width (16 residual/gate/condition channels, 32
skip, 10 layers with dilations 1 ... 16 twice: a receptive field of 63 samples, so the naive form
reaches its steady cost quickly; its cost grows with the receptive field, the cached form's does
not), 10-bit µ-law, one utterance, 400 samples cached and 160 naive; both draw the same samples.
At the seed's published width (30 layers, receptive field 3070) the cached form is timed over 160
samples and the naive form by one steady-state step (the stack over 3070 samples: what each of
its steps costs past the first 3070). Each figure is the best of a few runs after a warm-up. On a
machine busy with other jobs, 2 threads can cost the naive form far more than 1 (OpenMP
barriers): read the figures from a quiet machine.
"""

import time

import torch

from pylib.models.vocoder.wavenet import WaveNet, WaveNetConfig

STEPS, NAIVE_STEPS, HOP = 400, 160, 80


def _timed(fn, repeats, warm_up=None):
    (warm_up or fn)()  # allocator, oneDNN primitive caches
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return min(walls)


def _model(**kw):
    torch.manual_seed(0)
    return WaveNet(WaveNetConfig(n_mels=80, hop=HOP, sample_rate=16000, **kw)).eval()


def main():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        mel = torch.randn(1, STEPS // HOP, 80, generator=torch.Generator().manual_seed(1))
        toy = _model(res_channels=16, gate_channels=16, cond_channels=16, skip_channels=32, layers=10,
                     dilation_cycle=5, cond_lstm_units=16, out_hidden=64)

        def run(fn, steps):
            return lambda: fn(mel, generator=torch.Generator().manual_seed(0), steps=steps,
                              return_classes=True)

        out = {}

        def naive_run():
            out["naive"] = run(toy.generate_naive, NAIVE_STEPS)()

        cached = _timed(run(toy.generate, STEPS), 3) / STEPS
        naive = _timed(naive_run, 1, warm_up=run(toy.generate_naive, 8)) / NAIVE_STEPS
        same = torch.equal(run(toy.generate, NAIVE_STEPS)(), out["naive"])
        print(f"toy width, receptive field {toy.receptive_field}: cached {1 / cached:8.0f} samples/s | "
              f"naive (baseline, same run) {1 / naive:8.0f} samples/s | speed-up {naive / cached:.1f}x | "
              f"same samples: {same}")
        full = _model()
        cached = _timed(run(full.generate, NAIVE_STEPS), 2, warm_up=run(full.generate, 8)) / NAIVE_STEPS
        R = full.receptive_field
        with torch.no_grad():  # one naive step at its steady cost: the stack over the receptive field
            c = full.condition(torch.randn(1, R // HOP + 1, 80))[:, :R]
            fb = torch.randint(0, full.classes, (1, R))
            naive = _timed(lambda: full.draw(full.stack(full.embed(fb), c)[:, -1]), 1,
                           warm_up=lambda: full.stack(full.embed(fb[:, :80]), c[:, :80]))
        print(f"published width (30 layers, 64/64/256, receptive field {R}): cached {1 / cached:8.0f} "
              f"samples/s (RTF {cached * 16000:.0f} at 16 kHz: slower than real time) | naive steady step "
              f"(baseline, same run) {1 / naive:8.1f} samples/s | speed-up {naive / cached:.0f}x")
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
