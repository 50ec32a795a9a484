"""HiFi-GAN V1 speed on CPU with 2 threads: train step (3 s at 22.05 kHz, batch 1, D + G) and inference RTF.

Baseline, measured in the same run on the same networks: the textbook GAN step, where the
discriminator sees real and generated audio in two passes, the generator's adversarial loss also
back-propagates into the discriminator's weights and the real audio's feature maps are computed
with autograd on; and inference recomputing weight norm at every layer call. Ours: one
discriminator pass over real and generated audio batched together, the discriminator frozen during
the generator step (no weight gradients), the real feature maps under no_grad, and inference
caching the weight-normed weights. The machine's other load adds noise: compare ratios, not times.
`make bench BENCH_ARGS=hifigan` runs only this file.
"""

import time

import torch

from pylib.losses.gan import feature_matching_loss, lsgan_d_loss, lsgan_g_loss, mel_l1_loss
from pylib.models.vocoder.discriminators import count_params
from pylib.models.vocoder.hifigan import Hifigan, HifiganConfig

SR, HOP, SECONDS, THREADS = 22050, 256, 3.0, 2


def _batch(n_frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = n_frames * HOP
    return {"mel": torch.randn(1, n_frames, 80, generator=g), "mel_len": torch.tensor([n_frames]),
            "wav": 0.3 * torch.randn(1, T, 1, generator=g), "wav_len": torch.tensor([T])}


def _textbook_loss(model, batch, fake, group):
    """Each group's loss computed the naive way (same value, more work)."""
    y_hat, y, lengths = model._pair(batch, fake)
    if group == "discriminator":
        real, _ = model.discriminator(y[:, None])
        fake, _ = model.discriminator(y_hat.detach()[:, None])
        return lsgan_d_loss(real, fake)[0]
    loss = model.cfg.lambda_mel * mel_l1_loss(y_hat, y, lengths, mel_fn=model.loss_mel)
    fake, fake_maps = model.discriminator(y_hat[:, None])
    _, real_maps = model.discriminator(y[:, None])
    return loss + lsgan_g_loss(fake) + model.cfg.lambda_fm * feature_matching_loss(real_maps, fake_maps)


def _train_step(model, opts, batch, textbook):
    fake = model.generate(batch)
    for group, opt in opts.items():
        if textbook:
            loss = _textbook_loss(model, batch, fake, group)
        elif group == "discriminator":
            loss, _ = model.discriminator_loss(batch, 0, fake)
        else:
            loss, _ = model.generator_loss(batch, 0, fake, adversarial=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _time(fn, warm, timed, repeats):
    """Best of `repeats` runs of fn(timed) after one fn(warm) (a short input: allocator and kernel set-up)."""
    if warm is not None:
        fn(warm)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(timed)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_hifigan_v1(train_repeats=1, infer_repeats=2):
    """Print V1 train-step time, inference RTF and parameter counts (ours vs the baseline, and the ratio)."""
    torch.set_num_threads(THREADS)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = Hifigan(HifiganConfig(preset="v1", sample_rate=SR, hop=HOP))
    n_frames = round(SECONDS * SR / HOP)
    batch, short = _batch(n_frames), _batch(16)
    audio_s = n_frames * HOP / SR
    print(f"HiFi-GAN V1, {audio_s:.2f} s at {SR} Hz, batch 1, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"  parameters: generator {count_params(model.generator) / 1e6:.2f} M (paper 13.92 M), "
          f"discriminators {count_params(model.discriminator) / 1e6:.2f} M "
          f"(MPD {count_params(model.discriminator.mpd) / 1e6:.2f} M, "
          f"MSD {count_params(model.discriminator.msd) / 1e6:.2f} M)")

    model.train()
    groups = model.param_groups()
    opts = {k: torch.optim.AdamW(v, 2e-4, betas=(0.8, 0.99)) for k, v in groups.items()}
    base = _time(lambda b: _train_step(model, opts, b, textbook=True), short, batch, train_repeats)
    ours = _time(lambda b: _train_step(model, opts, b, textbook=False), short, batch, train_repeats)
    print(f"  train step (D + G): {ours:7.2f} s   baseline (textbook D, G steps) {base:7.2f} s   "
          f"speed-up x{base / ours:.2f}")

    model.eval()

    def plain_infer(b):
        with torch.no_grad():
            model.generate(b)

    plain_infer(short)
    model.infer(short)
    base = ours = float("inf")
    for _ in range(infer_repeats):  # interleaved, so a burst of load from elsewhere hits both alike
        base = min(base, _time(plain_infer, None, batch, 1))
        ours = min(ours, _time(model.infer, None, batch, 1))
    print(f"  inference RTF:      {ours / audio_s:7.3f}     baseline (weight norm per call) "
          f"{base / audio_s:7.3f}     speed-up x{base / ours:.2f}")


def main():
    bench_hifigan_v1()


if __name__ == "__main__":
    main()
