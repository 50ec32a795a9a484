"""NSF vocoders at toy width: sources, sinc filters, shapes, gradients, length rules, trainability."""

import numpy as np
import pytest
import torch

from pylib.config import from_dict
from pylib.data.spec import FeatureSpec
from pylib.errors import ConfigError
from pylib.models.catalogue import get_model_class, model_names
from pylib.models.vocoder.filters import (
    causal_fir,
    moving_average,
    sinc_filter_coefs,
    time_variant_fir,
    upsample_smooth,
)
from pylib.models.vocoder.source import (
    cyclic_noise_source,
    pulse_locations,
    segment_phase,
    sine_source,
    upsample_repeat,
)
from tests.conftest import noise, rng, sine

NAMES = ["hn_sinc_nsf", "hn_nsf", "cyc_noise_nsf"]
SR = 16000
HOP = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def make_nsf_config(name, **kw):
    """Toy-width config: 8 mel bins, hop 16, one short block per branch, small STFTs."""
    keys = dict(n_mels=8, hop=HOP, num_harmonics=3, cond_lstm_units=8, cond_channels=8, filter_channels=8,
                filter_layers=3, harmonic_blocks=2, noise_blocks=1, noise_layers=2,
                stft_resolutions=[[64, 16, 32], [32, 8, 16]])
    if name != "hn_nsf":
        keys["sinc_order"] = 7
    keys.update(kw)
    return from_dict(get_model_class(name).Config, keys, where="model")


def make_model(name, seed=0, **kw):
    torch.manual_seed(seed)
    return get_model_class(name)(make_nsf_config(name, **kw), None)


def make_batch(B=2, N=20, lens=None, f0=150.0, seed=0):
    g = rng(seed)
    lens = lens or [N] * B
    mel = torch.from_numpy(g.standard_normal((B, N, 8)).astype(np.float32))
    f0s = torch.full((B, N, 1), f0)
    f0s[:, : N // 4] = 0.0  # an unvoiced stretch at the start
    wav = torch.zeros(B, N * HOP, 1)
    for b, n in enumerate(lens):
        mel[b, n:] = 0.0
        f0s[b, n:] = 0.0
        # A little noise under the sine keeps the target's log spectrum free of -inf-like floors.
        wav[b, : n * HOP, 0] = torch.from_numpy(sine(f0, SR, n * HOP / SR, amp=0.3)
                                                + noise(n * HOP / SR, SR, amp=0.01, seed=seed + b))
    return {"utt_id": [f"u{b}" for b in range(B)], "mel": mel, "mel_len": torch.tensor(lens),
            "f0": f0s, "f0_len": torch.tensor(lens), "wav": wav, "wav_len": torch.tensor(lens) * HOP}


def _peak_hz(x, sr=SR):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * sr / len(x), sr / len(x)


# --- sources -------------------------------------------------------------------------------------

@pytest.mark.parametrize("f0", [110.0, 233.0])
def test_sine_source_frequency_matches_f0(f0):
    f0_up = torch.full((1, SR, 1), f0)
    src, _, uv = sine_source(f0_up, SR, num_harmonics=3, noise_std=0.0,
                             generator=torch.Generator().manual_seed(0))
    assert src.shape == (1, SR, 4) and bool(uv.all())
    for k in range(4):
        peak, bin_hz = _peak_hz(src[0, :, k].numpy())
        assert abs(peak - (k + 1) * f0) <= bin_hz, (k, peak)


def test_sine_source_unvoiced_is_noise_only():
    f0 = torch.cat([torch.zeros(1, 4000, 1), torch.full((1, 4000, 1), 200.0)], dim=1)
    src, noise, uv = sine_source(f0, SR, num_harmonics=2, sine_amp=0.1, noise_std=0.003,
                                 generator=torch.Generator().manual_seed(1))
    assert torch.equal(src[:, :4000], noise[:, :4000])
    assert uv[:, :4000].sum() == 0 and uv[:, 4000:].sum() == 4000
    assert abs(float(src[:, :4000].std()) - 0.1 / 3) < 0.004  # unvoiced noise std = sine_amp / 3
    assert float(noise[:, 4000:].std()) < 0.004  # voiced: small additive noise on the sines
    assert abs(float(src[:, 4000:, 0].std()) - 0.1 / np.sqrt(2)) < 0.005


def test_sine_source_is_seeded():
    f0 = torch.full((2, 800, 1), 120.0)
    a = sine_source(f0, SR, generator=torch.Generator().manual_seed(3))[0]
    b = sine_source(f0, SR, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)


def test_cyclic_noise_source_has_one_pulse_per_period():
    f0 = torch.full((1, SR, 1), 100.0)
    _, loc = pulse_locations(f0, SR)
    assert int(loc.sum()) in (99, 100, 101) and loc[0, 0] == 1  # a voiced start is a pulse
    src, uv = cyclic_noise_source(f0, SR, generator=torch.Generator().manual_seed(0))
    assert src.shape == (1, SR, 1) and bool(uv.all())
    # Periodic excitation: the autocorrelation peaks at the F0 period (160 samples).
    x = src[0, :, 0].numpy()
    ac = np.correlate(x[:4000], x[:4000], mode="full")[3999:]
    lag = 100 + int(np.argmax(ac[100:300]))
    assert abs(lag - SR / 100) <= 1
    # Unvoiced: only N(0, noise_std^2), from the injected draw.
    pn = torch.randn(1, 400, generator=torch.Generator().manual_seed(1))
    src_uv, _ = cyclic_noise_source(torch.zeros(1, 400, 1), SR, noise_std=0.003, pulse_noise=pn)
    torch.testing.assert_close(src_uv[..., 0], 0.003 * pn)


def test_cyclic_noise_burst_follows_the_mean_f0():
    """The burst lasts 4.6 sr / mean F0 samples: a higher voice gets shorter bursts."""
    for hz, n in ((100.0, 736), (200.0, 368)):
        f0 = torch.full((1, 2000, 1), hz)
        with pytest.raises(ValueError, match=rf"burst noise.*\({n},\)"):
            cyclic_noise_source(f0, SR, burst_noise=torch.zeros(5))


def test_segment_phase_restarts_at_each_voiced_segment():
    f0 = torch.tensor([0.0, 0.0, 4000.0, 4000.0, 4000.0, 0.0, 4000.0, 4000.0])[None, :, None]
    ph = segment_phase(f0, SR)
    # 0 on the last unvoiced sample before a segment, then a quarter cycle per sample.
    torch.testing.assert_close(ph[0], torch.tensor([0.0, 0.0, 0.25, 0.5, 0.75, 0.0, 0.25, 0.5],
                                                   dtype=torch.float64))


def test_upsample_repeat():
    x = torch.arange(6.0).reshape(1, 3, 2)
    y = upsample_repeat(x, 4)
    assert y.shape == (1, 12, 2) and torch.equal(y[0, 4:8], x[0, 1].expand(4, 2))


# --- sinc filters --------------------------------------------------------------------------------

def _db(x):
    return 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12)


def test_sinc_lowpass_and_highpass_cutoff():
    T = 4000
    cutoff = torch.full((1, T), 0.25)  # 2 kHz at 16 kHz
    low, high = sinc_filter_coefs(cutoff, 31)
    lo_tone = torch.from_numpy(sine(300.0, SR, T / SR))[None]
    hi_tone = torch.from_numpy(sine(6000.0, SR, T / SR))[None]
    mid = slice(100, T - 100)
    ref_lo, ref_hi = _db(lo_tone[0, mid].numpy()), _db(hi_tone[0, mid].numpy())
    assert _db(time_variant_fir(lo_tone, low)[0, mid].numpy()) - ref_lo > -1.0  # pass band
    assert _db(time_variant_fir(hi_tone, low)[0, mid].numpy()) - ref_hi < -30.0  # stop band
    assert _db(time_variant_fir(hi_tone, high)[0, mid].numpy()) - ref_hi > -1.0
    assert _db(time_variant_fir(lo_tone, high)[0, mid].numpy()) - ref_lo < -30.0


def test_time_variant_fir_matches_convolution_and_varies_in_time():
    x = torch.from_numpy(rng(2).standard_normal((1, 300)).astype(np.float32))
    h = torch.from_numpy(rng(3).standard_normal(7).astype(np.float32))
    y = time_variant_fir(x, h.expand(1, 300, 7))
    ref = np.convolve(x[0].numpy(), h.numpy())[:300]  # causal: y[t] = sum_k h[k] x[t - k]
    np.testing.assert_allclose(y[0].numpy(), ref, atol=1e-5)
    np.testing.assert_allclose(causal_fir(x, h)[0].numpy(), ref, atol=1e-5)
    # Per-sample coefficients: first half identity, second half zero.
    coefs = torch.zeros(1, 300, 7)
    coefs[:, :150, 0] = 1.0
    y2 = time_variant_fir(x, coefs)
    assert torch.equal(y2[:, :150], x[:, :150]) and bool((y2[:, 150:] == 0).all())


@pytest.mark.parametrize("pad", ["replicate", "zeros"])
@pytest.mark.parametrize("hop", [1, 4, 5, 80])
def test_upsample_smooth_is_repeat_then_two_moving_averages(hop, pad):
    c = torch.from_numpy(rng(5).standard_normal((2, 3, 7)).astype(np.float32))
    ref = torch.repeat_interleave(c, hop, dim=2)
    left = (hop - 1) // 2
    for _ in range(2):  # the seed's two MovingAverage layers, each padded on its own
        padded = torch.nn.functional.pad(ref, (left, hop - 1 - left),
                                         mode="replicate" if pad == "replicate" else "constant")
        ref = torch.nn.functional.avg_pool1d(padded, hop, stride=1)
    torch.testing.assert_close(upsample_smooth(c, hop, pad), ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="padding"):
        moving_average(c, 3, "reflect")


def test_sinc_order_must_be_odd():
    with pytest.raises(ValueError, match="odd"):
        sinc_filter_coefs(torch.full((1, 10), 0.5), 30)


# --- models --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_gradients_reach_every_parameter(name):
    model = make_model(name)
    batch = make_batch()
    y = model.generate(batch["mel"], batch["f0"])
    assert y.shape == (2, 20 * HOP)  # output length = frames * hop
    loss, stats = model(batch, 0)
    assert loss.dim() == 0 and torch.isfinite(loss) and "stft" in stats
    loss.backward()
    groups = model.param_groups()
    assert list(groups) == ["model"] and len(groups["model"]) == len(list(model.parameters()))
    for pname, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, pname
    assert set(model.norm) == {"mel", "f0"}


@pytest.mark.parametrize("name", ["hn_sinc_nsf", "cyc_noise_nsf"])
def test_infer_trims_and_is_reproducible(name):
    model = make_model(name).eval()
    batch = make_batch(lens=[20, 12])
    out = model.infer(batch)
    assert [o.shape for o in out] == [(20 * HOP,), (12 * HOP,)]
    assert all(o.dtype == np.float32 and np.isfinite(o).all() for o in out)
    again = model.infer(batch)
    np.testing.assert_array_equal(out[0], again[0])


def test_padding_does_not_change_the_loss():
    model = make_model("hn_nsf")
    batch = make_batch(lens=[20, 12])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        loss, _ = model(batch)
    batch["wav"][1, 12 * HOP:] = 5.0  # garbage in the padding of the target
    with torch.random.fork_rng():
        torch.manual_seed(0)
        loss2, _ = model(batch)
    assert torch.allclose(loss, loss2)


def test_normalisation_sees_a_copy_and_source_uses_raw_f0():
    model = make_model("hn_sinc_nsf")
    model.norm["f0"].set_stats([150.0], [30.0])
    batch = make_batch()
    f0_before = batch["f0"].clone()
    model.generate(batch["mel"], batch["f0"])
    assert torch.equal(batch["f0"], f0_before)


@pytest.mark.parametrize("name", NAMES)
def test_a_few_adam_steps_reduce_the_loss(name):
    model = make_model(name, seed=1)
    batch = make_batch(B=1, N=24)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for _ in range(12):
            loss, _ = model(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    # The source noise is redrawn every step, so compare an average of the last steps.
    assert np.mean(losses[-3:]) < 0.9 * losses[0], losses


def test_registered_and_config_checks():
    assert set(NAMES) <= set(model_names())
    with pytest.raises(ConfigError, match="unknown key"):
        make_nsf_config("hn_sinc_nsf", harmonics=3)
    with pytest.raises(ConfigError, match="cond_channels"):
        make_nsf_config("hn_nsf", cond_channels=16)
    with pytest.raises(ConfigError, match="sinc_order"):
        make_nsf_config("hn_sinc_nsf", sinc_order=8)
    with pytest.raises(ConfigError, match="sinc_order"):
        make_nsf_config("hn_nsf", sinc_order=31)  # hn_nsf has no sinc filters


class _Spec:
    sample_rate = 16000

    def __init__(self, n_mels=8, hop=HOP, names=("mel", "f0")):
        self.inputs = [FeatureSpec(name=names[0], dim=n_mels, hop=hop),
                       FeatureSpec(name=names[1], dim=1, hop=hop, f0=True)]
        self.outputs = [FeatureSpec(name="wav", ext=".wav")]


def test_data_section_mismatches_are_config_errors():
    cls = get_model_class("hn_sinc_nsf")
    cls(make_nsf_config("hn_sinc_nsf"), _Spec())  # consistent: builds
    with pytest.raises(ConfigError, match=r"data feature 'mel' dim = 80 vs model.n_mels = 8"):
        cls(make_nsf_config("hn_sinc_nsf"), _Spec(n_mels=80))
    with pytest.raises(ConfigError, match=r"data feature 'mel' hop = 80 vs model.hop = 16"):
        cls(make_nsf_config("hn_sinc_nsf"), _Spec(hop=80))
    with pytest.raises(ConfigError, match="'lf0'"):
        cls(make_nsf_config("hn_sinc_nsf", f0="lf0"), _Spec())


def test_mel_and_f0_frame_mismatch_is_an_error():
    model = make_model("hn_nsf")
    batch = make_batch()
    with pytest.raises(ValueError, match="differ in batch or frames"):
        model.generate(batch["mel"], batch["f0"][:, :-1])


def test_sinc_cutoff_follows_the_seed_ranges():
    """Cut-off = 0.2 h + 0.4 uv + 0.3 with h in (-1, 1): unvoiced in (0.1, 0.5), voiced in (0.5, 0.9)."""
    model = make_model("hn_sinc_nsf")
    T = 40 * HOP
    uv = torch.zeros(1, T, 1)
    uv[:, T // 2:] = 1.0
    for h in (-0.99, 0.0, 0.99):
        cut = model.cutoff(torch.full((1, 1, T), h), uv)[0]
        inner = 4 * HOP  # away from the smoothed voicing edge
        torch.testing.assert_close(cut[: T // 2 - inner], torch.full((T // 2 - inner,), 0.2 * h + 0.3))
        torch.testing.assert_close(cut[T // 2 + inner:], torch.full((T // 2 - inner,), 0.2 * h + 0.7))


@pytest.mark.parametrize("name", NAMES)
def test_injected_noise_fixes_the_output(name):
    model = make_model(name).eval()
    batch = make_batch()
    B, N = batch["mel"].shape[:2]
    g = torch.Generator().manual_seed(4)
    shapes = model.noise_shapes(B, N, batch["f0"])
    def one(k, shape):
        return (torch.rand if k.endswith("phase") else torch.randn)(shape, generator=g)

    noise = {k: [one(k, s) for s in v] if isinstance(v, list) else one(k, v) for k, v in shapes.items()}
    with torch.no_grad():
        a = model.generate(batch["mel"], batch["f0"], noise=noise)
        b = model.generate(batch["mel"], batch["f0"], noise=noise)
        c = model.generate(batch["mel"], batch["f0"])
    assert torch.equal(a, b) and not torch.equal(a, c)
    bad = dict(noise, noise=torch.zeros(B, 3))
    with pytest.raises(ValueError, match="injected noise has shape"):
        model.generate(batch["mel"], batch["f0"], noise=bad)


def test_cnn_condition_module_trains():
    model = make_model("hn_sinc_nsf", cond_module="cnn", cond_cnn_layers=3)
    assert not hasattr(model.cond, "lstm") and len(model.cond.convs) == 3
    loss, _ = model(make_batch())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ConfigError, match="cond_module"):
        make_nsf_config("hn_sinc_nsf", cond_module="gru")


def test_cyclic_noise_per_utterance_does_not_depend_on_the_batch():
    """cyc_f0_mean: utterance gives each utterance its own burst; batch (the seed's) shares one."""
    f0 = torch.cat([torch.full((1, 20, 1), 100.0), torch.full((1, 20, 1), 250.0)])
    for mode, same in (("utterance", True), ("batch", False)):
        model = make_model("cyc_noise_nsf", cyc_f0_mean=mode)
        lengths = model.noise_shapes(2, 20, f0)["burst"]
        alone = model.noise_shapes(1, 20, f0[:1])["burst"]
        first = lengths[0] if mode == "utterance" else lengths
        assert (first == (alone[0] if mode == "utterance" else alone)) == same
    # Utterance 0 vocoded in a batch and alone, with the same draws, comes out the same.
    model = make_model("cyc_noise_nsf", cyc_f0_mean="utterance").eval()
    g = torch.Generator().manual_seed(2)
    mel = torch.randn(2, 20, 8, generator=g)
    shapes = model.noise_shapes(2, 20, f0)
    noise = {k: torch.randn(shapes[k], generator=g) for k in ("pulse", "noise")}
    noise["burst"] = [torch.randn(s, generator=g) for s in shapes["burst"]]
    alone = {"pulse": noise["pulse"][:1], "noise": noise["noise"][:1], "burst": noise["burst"][:1]}
    with torch.no_grad():
        both = model.generate(mel, f0, noise=noise)
        one = model.generate(mel[:1], f0[:1], noise=alone)
    torch.testing.assert_close(both[:1], one)
    with pytest.raises(ConfigError, match="cyc_f0_mean"):
        make_nsf_config("cyc_noise_nsf", cyc_f0_mean="frame")
