"""nnsp beside the reference implementations, measured in the same run: the seed
(project-NN-Pytorch-scripts) and jik876/hifi-gan.

Every speed figure here is paired with the same work done by the reference code in this process,
the two interleaved (reference, nnsp, reference, nnsp, ...) so that a burst of load from elsewhere
hits both alike, and the best of a few runs of each is kept. Torch runs on 2 threads. Rows:

- NSF (seed `project/01-nsf/<name>` vs the nnsp conf of the same name in egs/cmu_arctic/nsf/conf):
  one train step on 3 s at 16 kHz, batch 1 (forward, MR-STFT loss, backward, Adam step), and the
  inference real-time factor on 3 s (no grad);
- hn-sinc-nsf-hifigan (seed vs egs/cmu_arctic/nsf/conf/hn_sinc_nsf_hifigan.yaml): one GAN step on
  0.5 s, batch 1, in the seed's nn_manager_GAN order, and the generator's real-time factor on 3 s;
- HiFi-GAN V1 (jik876 vs egs/ljspeech/hifigan/conf/hifigan_v1.yaml): one GAN step on 8192 samples,
  batch 1 (discriminator update, then generator update with mel L1 x 45, adversarial and feature
  matching losses), and the generator's real-time factor on 3 s;
- LFCC-LCNN-LSTM-sum with sigmoid and P2SGrad heads (seed `03-asvspoof-mega` vs
  egs/asvspoof2019_la/lcnn/conf): eval-mode scoring of 16 utterances of 3-4 s in utterances/s,
  and one train step at batch 8 x 3 s;
- FLOPs of the nnsp hn-sinc-NSF train step, as GFLOP/s next to a same-run float32 matmul.

The ratio column is nnsp speed / reference speed: >= 1 means nnsp is not slower. Model configs
come from the shipped confs; a conf that does not exist yet, or a reference that is not checked
out (NNSP_SEED_DIR, NNSP_HIFIGAN_DIR), skips its rows with a one-line message.

`python bench/bench_seed.py --quick` (or NNSP_BENCH_QUICK=1 with bench/run.py) runs every row on
tiny inputs once, without warm-up: a smoke test of the harness, not a measurement.
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
import types
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from pylib.config import load_yaml  # noqa: E402
from pylib.engine.build import build_model  # noqa: E402
from pylib.engine.data import spec_for  # noqa: E402
from pylib.models.catalogue import get_model_class  # noqa: E402
from tests.parity import peers  # noqa: E402

THREADS = 2
NSF_CONF_DIR = ROOT / "egs" / "cmu_arctic" / "nsf" / "conf"
HIFIGAN_CONF = ROOT / "egs" / "ljspeech" / "hifigan" / "conf" / "hifigan_v1.yaml"
CM_CONF_DIR = ROOT / "egs" / "asvspoof2019_la" / "lcnn" / "conf"
# seed project folder -> the nnsp conf that claims to be it (looked up by file name)
NSF_PAIRS = [("hn-sinc-nsf-9", "hn_sinc_nsf.yaml"), ("hn-sinc-nsf-10", "hn_sinc_nsf_10.yaml"),
             ("hn-nsf", "hn_nsf.yaml"), ("cyc-noise-nsf-4", "cyc_noise_nsf.yaml")]
NSF_GAN_CONF = "hn_sinc_nsf_hifigan.yaml"  # the seed's 01-nsf/hn-sinc-nsf-hifigan
CM_PAIRS = [("lfcc-lcnn-lstmsum-sig", "lfcc_lcnn_lstm_sig.yaml"),
            ("lfcc-lcnn-lstmsum-p2s", "lfcc_lcnn_lstm_p2s.yaml")]


@dataclass(frozen=True)
class Sizes:
    """Input sizes and repetitions of one run."""

    nsf_seconds: float  # NSF train segment and generated length
    nsf_gan_seconds: float  # hn-sinc-nsf-hifigan train segment
    gan_samples: int  # HiFi-GAN train segment
    gan_rtf_seconds: float  # HiFi-GAN generated length
    cm_utts: int  # utterances scored
    cm_seconds: tuple  # their length range
    cm_train_batch: int
    cm_train_seconds: float
    repeats: int  # timed runs per figure (the best is kept)
    warmup: bool  # one untimed run of each first (allocator, oneDNN kernels)
    matmul_n: int  # size of the square matmul that gives the machine's GFLOP/s


FULL = Sizes(3.0, 0.5, 8192, 3.0, 16, (3.0, 4.0), 8, 3.0, 3, True, 2048)
QUICK = Sizes(0.05, 0.1, 1024, 0.05, 2, (0.2, 0.3), 2, 0.2, 1, False, 256)


@dataclass
class Row:
    area: str
    what: str
    unit: str  # "s", "RTF" (lower is better) or "utt/s" (higher is better)
    ref_name: str  # "seed" or "jik876"
    ref: float
    nnsp: float

    @property
    def ratio(self):
        """nnsp speed / reference speed."""
        return self.nnsp / self.ref if self.unit == "utt/s" else self.ref / self.nnsp


def skip_note(what, peer, conf=None):
    """'skipped <what>: <why>' when the comparison cannot run here (the peer `peer`, "seed" or
    "hifigan", is absent, or nnsp's `conf` is not written yet), else None."""
    have, where, env, name = {
        "seed": (peers.have_seed, peers.SEED_DIR, "NNSP_SEED_DIR", "seed toolkit"),
        "hifigan": (peers.have_hifigan, peers.HIFIGAN_DIR, "NNSP_HIFIGAN_DIR", "jik876/hifi-gan"),
    }[peer]
    if not have():
        return f"skipped {what}: {name} not found at {where} (set {env})"
    if conf is not None and not conf.is_file():
        return f"skipped {what}: no nnsp conf {conf.relative_to(ROOT)} yet"
    return None


def add_row(rows, row):
    """Keep a measured row, and show it at once on stderr (a full run takes minutes; the table comes last)."""
    rows.append(row)
    print(f"  measured: {row.area} {row.what}: {row.ref_name} {row.ref:.3f}, nnsp {row.nnsp:.3f} "
          f"[{row.unit}]", file=sys.stderr, flush=True)


def interleaved(fns, sizes):
    """Best wall seconds of each fn, the fns called in turn `sizes.repeats` times (after a warm-up)."""
    if sizes.warmup:
        for fn in fns:
            fn()
    best = [math.inf] * len(fns)
    for _ in range(sizes.repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


# ----------------------------------------------------------------------------------------- nnsp side

def nnsp_model(conf):
    """(model, DataSpec) of a shipped conf, built the way training builds it (seeded)."""
    cfg = load_yaml(conf)
    spec, _ = spec_for(cfg)
    torch.manual_seed(0)
    model, _ = build_model(cfg, spec, get_model_class)
    return model, spec


def nnsp_batch(spec, lengths, gen, labels=None):
    """A loader-style batch for `spec`: utterances of `lengths` samples, zero-padded.

    Frame-rate features get `samples // hop` frames: F0 features a voiced contour in Hz with an
    unvoiced start, other features standard normal values; sample-rate features low-level noise."""
    batch = {}
    top = max(lengths)
    for f in [*spec.inputs, *spec.outputs]:
        n = [n // f.hop for n in lengths]
        x = torch.zeros(len(lengths), top // f.hop, f.dim)
        for i, m in enumerate(n):
            if f.f0:
                t = torch.linspace(0.0, 6.0, m)
                x[i, :m] = (120.0 + 20.0 * torch.sin(t))[:, None]
                x[i, : m // 10] = 0.0
            elif f.hop == 1:
                x[i, :m] = 0.1 * torch.randn(m, f.dim, generator=gen)
            else:
                x[i, :m] = torch.randn(m, f.dim, generator=gen)
        batch[f.name] = x
        batch[f"{f.name}_len"] = torch.tensor(n)
    if labels is not None:
        batch["label"] = torch.tensor(labels)
    return batch


def nnsp_step_fn(model, batch, make_opt=lambda params: torch.optim.Adam(params, lr=1e-4)):
    """One training step of every parameter group in order, as the trainer runs them."""
    from pylib.engine.trainer import group_losses

    groups = model.param_groups()
    opts = {g: make_opt(p) for g, p in groups.items()}

    def step():
        for names, loss, _, _ in group_losses(model, batch, 0):
            for g in names:
                opts[g].zero_grad(set_to_none=True)
            loss.backward()
            for g in names:
                opts[g].step()

    return step


# --------------------------------------------------------------------------------------------- NSF

def _split_nsf(spec, batch):
    """The seed's NSF input (B, N, mel + F0) and target (B, T, 1) from an nnsp batch."""
    f0 = [f.name for f in spec.inputs if f.f0]
    spectral = [f.name for f in spec.inputs if not f.f0]
    if len(f0) != 1 or len(spectral) != 1 or len(spec.outputs) != 1:
        raise ValueError(f"expected one spectral input, one F0 input and one output, got "
                         f"{[f.name for f in spec.inputs]} -> {[f.name for f in spec.outputs]}")
    x = torch.cat([batch[spectral[0]], batch[f0[0]]], dim=-1)
    return x, batch[spec.outputs[0].name]


def for_seed_pairs(pairs, conf_dir, notes, bench_pair):
    """bench_pair(seed folder, nnsp conf) for each (seed folder, conf name) that can run here; a
    note for each that cannot (see `skip_note`)."""
    for seed_name, conf_name in pairs:
        conf = conf_dir / conf_name
        note = skip_note(seed_name, "seed", conf)
        if note:
            notes.append(note)
        else:
            bench_pair(seed_name, conf)


def bench_nsf(sizes, rows, notes):
    for_seed_pairs(NSF_PAIRS, NSF_CONF_DIR, notes,
                   lambda seed_name, conf: bench_nsf_pair(seed_name, conf, sizes, rows, notes))


def bench_nsf_pair(seed_name, conf, sizes, rows, notes):
    """Train step and inference RTF of the seed's project/01-nsf/<seed_name> and nnsp's `conf`."""
    model, spec = nnsp_model(conf)
    n = int(sizes.nsf_seconds * spec.sample_rate)
    n -= n % spec.inputs[0].hop
    batch = nnsp_batch(spec, [n], torch.Generator().manual_seed(0))
    x, y = _split_nsf(spec, batch)
    smod = peers.load_seed_model_module(f"01-nsf/{seed_name}/model.py")
    torch.manual_seed(0)
    seed = smod.Model(x.shape[-1], 1, peers.seed_args(), peers.stand_in_config())
    seed_loss = smod.Loss(peers.seed_args())
    seed_opt = torch.optim.Adam(seed.parameters(), lr=1e-4)  # as the seed's op_manager builds it

    def seed_step():
        seed_opt.zero_grad()
        loss = seed_loss.compute(seed(x), y.clone())
        loss.backward()
        seed_opt.step()

    nnsp_step = nnsp_step_fn(model, batch)
    seed.train()
    model.train()
    with _quiet_stft_warning():
        t_seed, t_nnsp = interleaved([seed_step, nnsp_step], sizes)
    add_row(rows, Row("NSF", f"{seed_name} train step ({n / spec.sample_rate:g} s, B=1)", "s", "seed",
                      t_seed, t_nnsp))

    seed.eval()
    model.eval()
    _nsf_rtf(rows, f"{seed_name} inference", getattr(seed, "inference", seed.forward), x, model, batch,
             n / spec.sample_rate, sizes)
    if seed_name == "hn-sinc-nsf-9":
        model.train()
        bench_flops(model, batch, t_nnsp, sizes, notes)


def bench_nsf_gan(sizes, rows, notes):
    """The seed's hn-sinc-nsf-hifigan (hn-sinc-NSF generator, HiFi-GAN discriminators) vs nnsp's conf."""
    conf = NSF_CONF_DIR / NSF_GAN_CONF
    note = skip_note("hn-sinc-nsf-hifigan", "seed", conf)
    if note:
        notes.append(note)
        return
    model, spec = nnsp_model(conf)
    hop = spec.inputs[0].hop
    n = int(sizes.nsf_gan_seconds * spec.sample_rate) // hop * hop
    batch = nnsp_batch(spec, [n], torch.Generator().manual_seed(0))
    x, y = _split_nsf(spec, batch)
    smod = peers.load_seed_model_module("01-nsf/hn-sinc-nsf-hifigan/model.py")
    args, prj_conf = peers.seed_args(), peers.stand_in_config()
    torch.manual_seed(0)
    gen = smod.ModelGenerator(x.shape[-1], 1, args, prj_conf)
    with warnings.catch_warnings():  # the seed uses the old torch.nn.utils.weight_norm too
        warnings.simplefilter("ignore", FutureWarning)
        disc = smod.ModelDiscriminator(x.shape[-1], 1, args, prj_conf)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4)  # the seed's OptimizerWrapper, one per model
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4)

    def seed_step():  # core_scripts/nn_manager/nn_manager_GAN.py: D on the detached output, then G
        y_hat = gen(x)
        disc.zero_grad()
        opt_d.zero_grad()
        disc.loss_for_D(y, y_hat.detach(), x).backward()
        opt_d.step()
        gen.zero_grad()
        opt_g.zero_grad()
        loss = disc.loss_for_G(y, y_hat, x) + gen.loss_aux(y, y_hat, x)
        loss.backward()
        opt_g.step()

    for m in (gen, disc, model):
        m.train()
    with _quiet_stft_warning():
        t_seed, t_nnsp = interleaved([seed_step, nnsp_step_fn(model, batch)], sizes)
    add_row(rows, Row("NSF", f"hn-sinc-nsf-hifigan GAN step (D then G, {n / spec.sample_rate:g} s, B=1)", "s",
                      "seed", t_seed, t_nnsp))

    n = int(sizes.nsf_seconds * spec.sample_rate) // hop * hop
    batch = nnsp_batch(spec, [n], torch.Generator().manual_seed(1))
    x, _ = _split_nsf(spec, batch)
    gen.eval()
    model.eval()
    _nsf_rtf(rows, "hn-sinc-nsf-hifigan generator", gen, x, model, batch, n / spec.sample_rate, sizes)


def _nsf_rtf(rows, label, seed_generate, x, model, batch, sec, sizes):
    """One RTF row: the seed's generator on its input `x` beside nnsp's `infer` on the same batch."""

    def seed_gen():
        with torch.no_grad():
            seed_generate(x)[0].numpy()

    g_seed, g_nnsp = interleaved([seed_gen, lambda: model.infer(batch)], sizes)
    add_row(rows, Row("NSF", f"{label} ({sec:g} s)", "RTF", "seed", g_seed / sec, g_nnsp / sec))


@contextlib.contextmanager
def _quiet_stft_warning():
    """The seed's loss asks torch.stft for real output, which torch now warns about at every call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="stft with return_complex=False is deprecated")
        yield


# ------------------------------------------------------------------------------------------- FLOPs

def _fft_flops(transformed_elems):
    """Flop formula (for FlopCounterMode) of an FFT op: the 5 N log2 N estimate per 1-D transform."""

    def formula(*args, out_shape=None, **kwargs):
        shape, dims = args[0], args[1]
        n = transformed_elems(shape, dims, args, out_shape)
        count = math.prod(shape) // max(1, math.prod(shape[d] for d in dims))
        return int(5 * n * math.log2(max(n, 2)) * count)

    return formula


def _n_r2c(shape, dims, args, out_shape):
    return math.prod(shape[d] for d in dims)


def _n_c2r(shape, dims, args, out_shape):  # the real output's length along the last transformed dim
    return math.prod(shape[d] for d in dims[:-1]) * args[3]


FFT_OPS = {torch.ops.aten._fft_r2c: _fft_flops(_n_r2c), torch.ops.aten._fft_c2r: _fft_flops(_n_c2r),
           torch.ops.aten._fft_c2c: _fft_flops(_n_r2c)}


def count_step_flops(step):
    """(matmul/conv-class FLOPs, FFT FLOP estimate) of one call of `step`."""
    counter = FlopCounterMode(display=False, custom_mapping=FFT_OPS)
    with counter:
        step()
    per_op = counter.get_flop_counts().get("Global", {})
    fft = sum(v for k, v in per_op.items() if k in FFT_OPS)
    return sum(per_op.values()) - fft, fft


def matmul_gflops(n, sizes):
    """Same-run float32 GFLOP/s of an n x n matmul (best of a few) on this process's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = interleaved([lambda: torch.mm(a, b)], replace(sizes, repeats=max(5, sizes.repeats)))
    return 2 * n**3 / best[0] / 1e9


def bench_flops(model, batch, step_s, sizes, notes):
    """The nnsp hn-sinc-NSF train step's achieved GFLOP/s beside a matmul's, as notes."""
    mm, fft = count_step_flops(nnsp_step_fn(model, batch))
    peak = matmul_gflops(sizes.matmul_n, sizes)
    got = mm / step_s / 1e9
    notes.append(f"FLOPs, nnsp hn_sinc_nsf train step: {mm / 1e9:.2f} GFLOP in matmul/conv-class ops "
                 f"(FlopCounterMode counts only those: elementwise, LSTM cells on oneDNN and FFTs are left "
                 f"out) -> {got:.2f} GFLOP/s in {step_s:.2f} s; same-run float32 matmul "
                 f"{sizes.matmul_n}x{sizes.matmul_n}: {peak:.1f} GFLOP/s; fraction {got / peak:.3f}")
    notes.append(f"FLOPs, its STFT-loss FFTs (forward and backward), estimated as 5 N log2 N per "
                 f"transform: {fft / 1e9:.3f} GFLOP ({fft / step_s / 1e9:.2f} GFLOP/s of the step)")


# ---------------------------------------------------------------------------------------- HiFi-GAN

class _TorchRealStft(types.ModuleType):
    """torch, except that stft returns the real (..., 2) layout jik876's mel_spectrogram was written for."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def stft(*args, **kwargs):
        kwargs.pop("return_complex", None)
        return torch.view_as_real(torch.stft(*args, return_complex=True, **kwargs))


def jik876_mel_spectrogram():
    """jik876's meldataset.mel_spectrogram, run on today's librosa (keyword-only mel()) and torch
    (complex stft)."""
    import librosa

    key = "jik876_meldataset"
    if key not in sys.modules:
        mod = peers.exec_hifigan_meldataset(key)
        mod.librosa_mel_fn = lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(
            sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        mod.torch = _TorchRealStft("torch")
        sys.modules[key] = mod
    return sys.modules[key].mel_spectrogram


def bench_hifigan(sizes, rows, notes):
    note = skip_note("HiFi-GAN V1", "hifigan", HIFIGAN_CONF)
    if note:
        notes.append(note)
        return
    jm = peers.load_hifigan_models()
    models = jm["models"]
    with open(peers.HIFIGAN_DIR / "config_v1.json") as f:
        h = jm["env"].AttrDict(json.load(f))
    mel_fn = jik876_mel_spectrogram()
    model, spec = nnsp_model(HIFIGAN_CONF)
    hop = spec.inputs[0].hop
    if hop != h.hop_size or spec.sample_rate != h.sampling_rate:
        raise ValueError(f"{HIFIGAN_CONF.name}: hop {hop} at {spec.sample_rate} Hz, jik876 V1: "
                         f"{h.hop_size} at {h.sampling_rate} Hz")
    torch.manual_seed(0)
    with warnings.catch_warnings():  # jik876 uses the old, deprecated torch.nn.utils.weight_norm
        warnings.simplefilter("ignore", FutureWarning)
        gen = models.Generator(h)
        mpd, msd = models.MultiPeriodDiscriminator(), models.MultiScaleDiscriminator()
    betas = (h.adam_b1, h.adam_b2)
    optim_g = torch.optim.AdamW(gen.parameters(), h.learning_rate, betas=betas)
    optim_d = torch.optim.AdamW([*msd.parameters(), *mpd.parameters()], h.learning_rate, betas=betas)

    n = sizes.gan_samples - sizes.gan_samples % hop
    batch = nnsp_batch(spec, [n], torch.Generator().manual_seed(0))
    mel_name, wav_name = spec.inputs[0].name, spec.outputs[0].name
    x, y = batch[mel_name].transpose(1, 2), batch[wav_name].transpose(1, 2)  # (1, 80, N), (1, 1, T)
    mel_args = (h.n_fft, h.num_mels, h.sampling_rate, h.hop_size, h.win_size, h.fmin)
    y_mel = mel_fn(y.squeeze(1), *mel_args, h.fmax_for_loss)  # jik876's loader computes it, outside the step

    def jik876_step():  # the order of jik876's train.py: D update on detached audio, then G update
        y_g_hat = gen(x)
        y_g_hat_mel = mel_fn(y_g_hat.squeeze(1), *mel_args, h.fmax_for_loss)
        optim_d.zero_grad()
        real, fake, _, _ = mpd(y, y_g_hat.detach())
        loss_f = models.discriminator_loss(real, fake)[0]
        real, fake, _, _ = msd(y, y_g_hat.detach())
        loss_s = models.discriminator_loss(real, fake)[0]
        (loss_s + loss_f).backward()
        optim_d.step()
        optim_g.zero_grad()
        loss_mel = F.l1_loss(y_mel, y_g_hat_mel) * 45
        _, fake_f, fmap_f_r, fmap_f_g = mpd(y, y_g_hat)
        _, fake_s, fmap_s_r, fmap_s_g = msd(y, y_g_hat)
        loss = (models.feature_loss(fmap_s_r, fmap_s_g) + models.feature_loss(fmap_f_r, fmap_f_g)
                + models.generator_loss(fake_f)[0] + models.generator_loss(fake_s)[0] + loss_mel)
        loss.backward()
        optim_g.step()

    nnsp_step = nnsp_step_fn(model, batch, lambda p: torch.optim.AdamW(p, h.learning_rate, betas=betas))
    for m in (gen, mpd, msd, model):
        m.train()
    t_ref, t_nnsp = interleaved([jik876_step, nnsp_step], sizes)
    add_row(rows, Row("HiFi-GAN", f"V1 GAN step (D then G, {n} samples, B=1)", "s", "jik876", t_ref, t_nnsp))

    # inference as jik876's inference.py: eval, weight norm removed, no grad, to a numpy array
    n = int(sizes.gan_rtf_seconds * spec.sample_rate) // hop * hop
    batch = nnsp_batch(spec, [n], torch.Generator().manual_seed(1))
    x = batch[mel_name].transpose(1, 2)
    gen.eval()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Removing weight norm..."
        gen.remove_weight_norm()
    model.eval()

    def jik876_infer():
        with torch.no_grad():
            gen(x).squeeze().numpy()

    g_ref, g_nnsp = interleaved([jik876_infer, lambda: model.infer(batch)], sizes)
    sec = n / spec.sample_rate
    add_row(rows, Row("HiFi-GAN", f"V1 generator ({sec:.2f} s)", "RTF", "jik876", g_ref / sec, g_nnsp / sec))


# -------------------------------------------------------------------------------------- CM (LCNN)

def bench_cm(sizes, rows, notes):
    note = skip_note("LFCC-LCNN", "seed")
    if note:
        notes.append(note)
        return
    gen = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        names = [f"utt{i:03d}" for i in range(max(sizes.cm_utts, sizes.cm_train_batch))]
        protocol = Path(tmp) / "protocol.txt"  # the seed's Model reads its labels from this file
        protocol.write_text("".join(f"LA_0000 {u} - - {'bonafide' if i % 2 else 'spoof'}\n"
                                    for i, u in enumerate(names)))
        for_seed_pairs(CM_PAIRS, CM_CONF_DIR, notes, lambda seed_name, conf: bench_cm_pair(
            seed_name, conf, protocol, names, gen, sizes, rows))


def bench_cm_pair(seed_name, conf, protocol, names, gen, sizes, rows):
    """Scoring and one train step of the seed's 03-asvspoof-mega/<seed_name> and nnsp's `conf`."""
    model, spec = nnsp_model(conf)
    sr, key = spec.sample_rate, spec.inputs[0].name
    smod = peers.load_seed_model_module(f"03-asvspoof-mega/{seed_name}/01/model.py",
                                        optional_argument=[str(protocol)], input_dims=[1],
                                        input_reso=[1], input_norm=[False], wav_samp_rate=sr)
    torch.manual_seed(0)
    seed = smod.Model(1, 1, peers.seed_args(), None)
    head = seed_name.rsplit("-", 1)[1]

    # scoring: the seed scores one utterance per call (its inference loader's batch of 1), in
    # eval mode under no_grad; nnsp as score_folder does (all of them in one padded batch with
    # lengths), and also one by one
    lo, hi = sizes.cm_seconds
    lens = [int(sr * (lo + (hi - lo) * float(torch.rand(1, generator=gen)))) for _ in range(sizes.cm_utts)]
    batch = nnsp_batch(spec, lens, gen)
    singles = [{key: batch[key][i : i + 1, :n], f"{key}_len": batch[f"{key}_len"][i : i + 1]}
               for i, n in enumerate(lens)]
    seed_in = [(s[key], [f"{i},{names[i]},0,{n},0"]) for i, (s, n) in enumerate(zip(singles, lens))]
    seed.eval()
    model.eval()

    def seed_score():
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # it prints each score
            for w, info in seed_in:
                seed(w, info)

    def nnsp_one_by_one():
        for s in singles:
            model.infer(s)

    t_seed, t_batched, t_one = interleaved([seed_score, lambda: model.infer(batch), nnsp_one_by_one], sizes)
    k = len(lens)
    what = f"{head}: scoring {k} utts of {lo:g}-{hi:g} s, eval"
    add_row(rows, Row("CM", f"{what}, nnsp batched", "utt/s", "seed", k / t_seed, k / t_batched))
    add_row(rows, Row("CM", f"{what}, both one by one", "utt/s", "seed", k / t_seed, k / t_one))

    # one train step on a batch of equal-length utterances (labels from the protocol on the seed's side)
    b, n = sizes.cm_train_batch, int(sizes.cm_train_seconds * sr)
    tb = nnsp_batch(spec, [n] * b, gen, [i % 2 for i in range(b)])
    x = tb[key]
    info = [f"{i},{names[i]},0,{n},0" for i in range(b)]
    seed_loss = smod.Loss(peers.seed_args())
    seed_opt = torch.optim.Adam(seed.parameters(), lr=1e-4)

    def seed_step():
        seed_opt.zero_grad()
        loss = seed_loss.compute(seed(x, info), [])
        loss.backward()
        seed_opt.step()

    seed.train()
    model.train()
    t_seed, t_nnsp = interleaved([seed_step, nnsp_step_fn(model, tb)], sizes)
    add_row(rows, Row("CM", f"{head}: train step (B={b} x {sizes.cm_train_seconds:g} s)", "s", "seed",
                      t_seed, t_nnsp))


# ------------------------------------------------------------------------------------------- table

def format_table(rows):
    """One line per row: what, reference figure, nnsp figure, ratio (nnsp speed / reference speed)."""
    w = max([len(f"{r.area}  {r.what} [{r.unit}]") for r in rows] + [20])
    lines = [f"{'benchmark':<{w}}  {'reference':>16}  {'nnsp':>9}  {'ratio':>6}",
             f"{'':<{w}}  {'':>16}  {'':>9}  (nnsp speed / reference speed; >= 1: nnsp not slower)"]
    for r in rows:
        ref = f"{r.ref_name} {r.ref:9.3f}"
        lines.append(f"{f'{r.area}  {r.what} [{r.unit}]':<{w}}  {ref:>16}  {r.nnsp:9.3f}  x{r.ratio:5.2f}")
    return "\n".join(lines)


AREAS = {"nsf": bench_nsf, "nsf_gan": bench_nsf_gan, "hifigan": bench_hifigan, "cm": bench_cm}


def run(sizes, areas=tuple(AREAS)):
    """Measure the chosen areas; -> (rows, notes, failures). A failing area does not stop the others."""
    rows, notes, failures = [], [], []
    for name in areas:
        try:
            AREAS[name](sizes, rows, notes)
        except Exception as e:  # an API change on one side must not hide the other areas' figures
            failures.append(f"{name}: {type(e).__name__}: {e}")
    return rows, notes, failures


def main(argv=None):
    """`python bench/bench_seed.py [--quick] [--only nsf,nsf_gan,hifigan,cm]`; NNSP_BENCH_QUICK=1 for --quick
    under bench/run.py."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny inputs, one run each: checks the harness only")
    p.add_argument("--only", default=",".join(AREAS), help=f"comma-separated areas among {', '.join(AREAS)}")
    args = p.parse_args([] if argv is None else argv)
    quick = args.quick or os.environ.get("NNSP_BENCH_QUICK", "") not in ("", "0")
    areas = [a for a in args.only.split(",") if a]
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        p.error(f"--only: unknown area(s) {', '.join(unknown)}; choose among {', '.join(AREAS)}")
    sizes = QUICK if quick else FULL
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if quick else THREADS)  # quick: no OpenMP threads spinning on a busy machine
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        how = "QUICK: tiny inputs, one run each, 1 thread; not a measurement" if quick else \
            f"best of {sizes.repeats}, {torch.get_num_threads()} threads"
        print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {load:.2f} (figures are "
              f"inflated when the load exceeds the CPUs); {how}; reference and nnsp interleaved", flush=True)
        rows, notes, failures = run(sizes, areas)
    finally:
        torch.set_num_threads(threads)
    if rows:
        print(format_table(rows))
    for line in notes:
        print(line)
    if failures:
        raise RuntimeError("some comparisons failed: " + "; ".join(failures))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
