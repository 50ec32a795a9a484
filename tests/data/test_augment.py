"""pylib.data.augment: RawBoost parity with the seed, codecs, noise/reverb folders, masks, the data
spec's `augment` option and the per-(utterance, epoch) seeding of the training loader."""

import numpy as np
import pytest
import soundfile as sf
import torch

from pylib.data.augment import RawBoostConfig, augment_rng, parse_augment
from pylib.data.augment import codec as codec_mod
from pylib.data.augment import rawboost as rb
from pylib.data.augment.folders import scale_to_snr
from pylib.data.augment.mask import freq_mask, time_mask
from pylib.data.augment.pipeline import Augmentation
from pylib.data.dataset import SpeechDataset
from pylib.data.loader import build_loader
from pylib.data.spec import load_data_spec
from pylib.errors import ConfigError, DataError, UserError
from pylib.io import write_f4, write_list
from tests.parity.peers import load_seed_module

SR = 16000
NO_FFMPEG = "ffmpeg is not installed (apt-get install ffmpeg, or conda install ffmpeg): codec cases skipped"


def _speechlike(n=4000, seed=1):
    """Smoothed noise (no exact zeros, no periodicity), peak well under 1."""
    x = np.random.default_rng(seed).standard_normal(n + 7)
    return np.convolve(x, np.ones(8) / 8, mode="valid") * 0.2


class GlobalRandom:
    """The seed draws from numpy's global state; nnsp from an rng object: this one is the global state."""

    random = staticmethod(np.random.random_sample)
    permutation = staticmethod(np.random.permutation)
    normal = staticmethod(np.random.normal)


@pytest.fixture(scope="module")
def seed_aug():
    """The seed's wav_augmentation with randRange adapted to numpy 2 (int()/float() of a 1-element
    array is an error there): the same draw, returned as a scalar."""
    mod = load_seed_module("core_scripts.data_io.wav_augmentation")

    def rand_range(x1, x2, integer):
        y = np.random.uniform(low=x1, high=x2, size=(1,))
        return int(y[0]) if integer else y[0]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mod, "randRange", rand_range)
        yield mod


def _seed_ssi(m, x, c, fs):
    return m.SSI_additive_noise(x, c.snr_min, c.snr_max, c.n_bands, c.min_f, c.max_f, c.min_bw, c.max_bw,
                                c.min_coeff, c.max_coeff, c.min_g, c.max_g, fs)


def _seed_lnl(m, x, c, fs):
    return m.LnL_convolutive_noise(x, fs, c.n_f, c.n_bands, c.min_f, c.max_f, c.min_bw, c.max_bw,
                                   c.min_coeff, c.max_coeff, c.min_g, c.max_g, c.min_bias_lin_nonlin,
                                   c.max_bias_lin_nonlin)


def _seed_combination(m, x, c, fs, algo):
    """RawBoost's process_Rawboost_feature (data_utils_rawboost.py), composed of the seed's functions."""
    lnl = lambda v: _seed_lnl(m, v, c, fs)  # noqa: E731
    isd = lambda v: m.ISD_additive_noise(v, c.isd_percent, c.isd_gain)  # noqa: E731
    ssi = lambda v: _seed_ssi(m, v, c, fs)  # noqa: E731
    if algo == 8:
        return m.normWav(lnl(x) + isd(x), 0)
    chain = {1: [lnl], 2: [isd], 3: [ssi], 4: [lnl, isd, ssi], 5: [lnl, isd], 6: [lnl, ssi],
             7: [isd, ssi]}[algo]
    for step in chain:
        x = step(x)
    return x


def _both(seed_fn, ours_fn, draw_seed=7):
    np.random.seed(draw_seed)
    want = seed_fn()
    np.random.seed(draw_seed)
    got = ours_fn(GlobalRandom())
    return np.asarray(want, dtype=np.float64), got


@pytest.mark.parametrize("name", ["lnl", "isd", "ssi"])
def test_each_rawboost_algorithm_matches_the_seed(seed_aug, name):
    x, cfg = _speechlike(), RawBoostConfig()
    seed_fn = {
        "lnl": lambda: seed_aug.LnL_convolutive_noise(x, SR),  # the seed's own defaults
        "isd": lambda: seed_aug.ISD_additive_noise(x),
        "ssi": lambda: seed_aug.SSI_additive_noise(x, 10, 40, 5, 20, 8000, 100, 1000, 10, 100, 0, 0, SR),
    }[name]
    ours = {
        "lnl": lambda g: rb.lnl(x, g, cfg, SR),
        "isd": lambda g: rb.isd(x, g, cfg),
        "ssi": lambda g: rb.ssi(x, g, cfg, SR),
    }[name]
    want, got = _both(seed_fn, ours)
    assert got.shape == x.shape
    assert not np.allclose(got, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("algo", range(1, 9))
def test_every_combination_matches_the_seed(seed_aug, algo):
    x, cfg = _speechlike(3000, seed=algo), RawBoostConfig(algo=algo)
    want, got = _both(lambda: _seed_combination(seed_aug, x, cfg, SR, algo),
                      lambda g: rb.rawboost(x, g, cfg, SR))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # the name does the same as the number
    _, by_name = _both(lambda: None, lambda g: rb.rawboost(x, g, RawBoostConfig(algo=rb.algo_name(algo)), SR))
    np.testing.assert_array_equal(by_name, got)


def test_seed_wrapper12_is_algo_5_and_settings_carry_over(seed_aug):
    x = _speechlike(3000)
    want, got = _both(lambda: seed_aug.RawBoostWrapper12(x[:, None])[:, 0],
                      lambda g: rb.rawboost(x, g, RawBoostConfig(), SR, "lnl+isd"))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # non-default settings and another rate reach the same places as the seed's arguments
    cfg = RawBoostConfig(algo=6, n_bands=3, min_f=50, max_f=5000, min_bw=200, max_bw=600, min_coeff=20,
                         max_coeff=40, min_g=-2, max_g=3, n_f=3, snr_min=5, snr_max=8)
    want, got = _both(lambda: _seed_combination(seed_aug, x, cfg, 22050, 6),
                      lambda g: rb.rawboost(x, g, cfg, 22050))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_rawboost_config_numbers_names_and_errors():
    assert RawBoostConfig(algo=5).algo == "lnl+isd" and RawBoostConfig(algo="LNL|ISD").algo == "lnl|isd"
    with pytest.raises(ConfigError, match=r"rawboost.algo = 9.*5 \(lnl\+isd\)"):
        RawBoostConfig(algo=9)
    with pytest.raises(ConfigError, match="max_f = 8000 Hz is above the Nyquist frequency of the 8000 Hz"):
        Augmentation([{"type": "rawboost"}], 8000)


def test_the_seeding_depends_on_seed_utterance_epoch_start_view_only():
    def draws(*a, **k):
        return augment_rng(*a, **k).random(4)

    base = draws(3, "utt1", 2, 160)
    np.testing.assert_array_equal(base, draws(3, "utt1", 2, 160, view=0))
    for other in (draws(4, "utt1", 2, 160), draws(3, "utt2", 2, 160), draws(3, "utt1", 3, 160),
                  draws(3, "utt1", 2, 320), draws(3, "utt1", 2, 160, view=1)):
        assert not np.array_equal(base, other)
    # numbers pinned: a change of the seeding breaks resume of runs made before it
    np.testing.assert_allclose(draws(0, "a", 0)[:2], [0.02105336, 0.64696686], atol=1e-8)
    aug = Augmentation([{"type": "mask", "freq_bands": 0, "max_time_width": 0.05}], SR, seed=5)
    x = _speechlike(2000)
    np.testing.assert_array_equal(aug(x, "u", 1), aug(x, "u", 1))
    views = aug.views(x[:, None].astype(np.float32), "u", 1, 3)
    assert len(views) == 3 and all(v.shape == (2000, 1) and v.dtype == np.float32 for v in views)
    assert not np.array_equal(views[0], views[1])


def test_masks():
    x = _speechlike(4000) + 0.5  # no zero sample of its own
    rng = np.random.default_rng(0)
    y = time_mask(x, rng, spans=2, max_width=800)
    zeros = np.flatnonzero(y == 0)
    assert 0 < zeros.size <= 1600 and np.array_equal(y[y != 0], x[y != 0])
    z = freq_mask(x, np.random.default_rng(0), bands=1, max_width=0.5, min_width=0.3)
    width = np.random.default_rng(0).random() * 0.5  # the band drawn: 0.318 of 0..Nyquist
    spec_x, spec_z = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(z))
    removed = spec_z < 1e-9 * spec_x.max()
    assert abs(removed.sum() - width * spec_x.size) <= 3
    assert np.ptp(np.flatnonzero(removed)) == removed.sum() - 1  # one contiguous band
    np.testing.assert_allclose(spec_z[~removed], spec_x[~removed], rtol=1e-9, atol=1e-9)
    # a band narrower than min_width is left alone (the seed's rule)
    np.testing.assert_array_equal(freq_mask(x, np.random.default_rng(1), 1, 0.01, 0.05), x)


def _wav(path, data, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(data, dtype=np.float32), sr, subtype="FLOAT")
    return path


def test_noise_at_the_drawn_snr_and_folder_errors(tmp_path):
    noise = _speechlike(6000, seed=9)
    _wav(tmp_path / "noise" / "long.wav", noise)
    _wav(tmp_path / "noise" / "sub" / "short.wav", noise[:700])  # looped to the item's length
    entry = {"type": "noise", "folder": str(tmp_path / "noise"), "snr_min": 12, "snr_max": 12}
    aug = Augmentation([entry], SR)
    assert len(aug.folders[0]) == 2
    x = _speechlike(3000)
    for utt in ("a", "b", "c", "d"):
        y = aug(x, utt, 0)
        n = y.astype(np.float64) - x
        snr = 10 * np.log10(np.dot(x, x) / np.dot(n, n))
        assert abs(snr - 12) < 0.01
    assert np.array_equal(scale_to_snr(np.zeros(4), np.ones(4), 3), np.zeros(4))
    with pytest.raises(ConfigError, match=r"data.augment\[0\].folder: .*missing is not a folder"):
        Augmentation([{"type": "noise", "folder": str(tmp_path / "missing")}], SR)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no .wav or .flac file"):
        Augmentation([{"type": "reverb", "folder": str(tmp_path / "empty")}], SR)
    bad = _wav(tmp_path / "rirs" / "r8k.wav", noise[:100], sr=8000)
    with pytest.raises(DataError, match=f"{bad}: 8000 Hz, but the data are at 16000 Hz"):
        Augmentation([{"type": "reverb", "folder": str(tmp_path / "rirs")}], SR)


def test_reverb_keeps_alignment_and_peak(tmp_path):
    rir = np.zeros(400)
    rir[30], rir[200] = 1.0, 0.3  # silence before the direct path is dropped
    _wav(tmp_path / "rir" / "r.wav", rir)
    aug = Augmentation([{"type": "reverb", "folder": str(tmp_path / "rir")}], SR)
    x = _speechlike(2000)
    y = aug(x, "u", 0).astype(np.float64)
    want = x.copy()
    want[170:] += 0.3 * x[:-170]
    want *= np.abs(x).max() / np.abs(want).max()
    np.testing.assert_allclose(y, want, atol=1e-6)


def test_spec_option_parsing_and_errors():
    base = {"inputs": [{"name": "wav", "ext": ".f4"}], "truncate": 800}
    spec = load_data_spec({**base, "augment": [{"type": "rawboost", "algo": 5, "p": 0.5},
                                               {"type": "codec", "codec": "mp3", "bitrates": [32, 64]}],
                           "views": {"augmented": 2}})
    assert spec.augment[0].algo == "lnl+isd" and spec.augment[1].codec == ["mp3"]
    assert spec.views.augmented == 2
    assert load_data_spec(base).augment == []
    with pytest.raises(ConfigError, match=r"data.augment\[0\]: unknown key\(s\) 'snr'"):
        load_data_spec({**base, "augment": [{"type": "noise", "folder": "x", "snr": 3}]})
    with pytest.raises(ConfigError, match=r"data.augment\[0\].type = 'rawbost'.*did you mean 'rawboost'"):
        parse_augment([{"type": "rawbost"}])
    with pytest.raises(ConfigError, match=r"waveform inputs only.*'mel' \(dim 80, hop 256\)"):
        load_data_spec({**base, "inputs": [{"name": "mel", "dim": 80, "hop": 256}], "truncate": 256,
                        "augment": [{"type": "mask"}]})
    with pytest.raises(ConfigError, match="augmented = 2 needs data.augment"):
        load_data_spec({**base, "views": {"augmented": 2}})
    with pytest.raises(ConfigError, match=r"codec.codec = 'flac'"):
        parse_augment([{"type": "codec", "codec": "flac"}])


def test_missing_ffmpeg_says_how_to_install(monkeypatch):
    monkeypatch.setattr(codec_mod, "find_ffmpeg", lambda: None)
    with pytest.raises(UserError, match="apt-get install ffmpeg.*conda install ffmpeg"):
        Augmentation([{"type": "codec", "codec": "mp3"}], SR)


@pytest.mark.parametrize("codec", ["mp3", "aac", "opus"])
def test_codec_round_trip_keeps_length_and_alignment(codec):
    if codec_mod.find_ffmpeg() is None:
        pytest.skip(NO_FFMPEG)
    x = _speechlike(8000)
    y = codec_mod.encode_decode(x, SR, codec, 64)
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.array_equal(y, x.astype(np.float32))
    core = slice(1000, 7000)
    assert np.corrcoef(x[core], y[core])[0, 1] > 0.9  # aligned: the encoder delay was removed
    if codec == "opus":  # libopus takes 8/12/16/24/48 kHz: 22.05 kHz goes through 48 kHz and back
        aug = Augmentation([{"type": "codec", "codec": codec, "bitrates": [32]}], 22050)
        assert aug(x[:3000], "u", 0).shape == (3000,)


def _wave_dump(tmp_path, n_utts=3, T=4000):
    root = tmp_path / "train"
    ids = [f"u{i}" for i in range(n_utts)]
    for i, utt in enumerate(ids):
        write_f4(root / "wav" / f"{utt}.f4", _speechlike(T, seed=i + 20).astype(np.float32)[:, None])
    write_list(root / "train.lst", ids)
    return ids


def _spec(**kw):
    d = {"sample_rate": SR, "inputs": [{"name": "wav", "ext": ".f4", "dim": 1, "hop": 1}], "truncate": 1600,
         "batch_size": 3, "train": [{"root": "train"}], "dev": [{"root": "train"}],
         "augment": [{"type": "rawboost", "algo": 5}, {"type": "mask", "p": 0.5}]}
    d.update(kw)
    return load_data_spec(d)


def _epoch(loader, epoch):
    loader.batch_sampler.set_epoch(epoch)
    out = {}
    for batch in loader:
        for k, utt in enumerate(batch["utt_id"]):
            out[utt] = (int(batch["start"][k]), batch["wav"][k, :, 0].numpy().copy())
    return out


def test_loader_augments_training_crops_per_epoch_and_repeats_on_rerun(tmp_path):
    _wave_dump(tmp_path)
    spec = _spec()
    first = build_loader(spec, tmp_path, spec.train, train=True, seed=11)
    e0, e1 = _epoch(first, 0), _epoch(first, 1)
    rerun = build_loader(spec, tmp_path, spec.train, train=True, seed=11)
    assert set(e0) == {"u0", "u1", "u2"}
    e1_again, e0_again = _epoch(rerun, 1), _epoch(rerun, 0)  # another order of epochs: resume
    plain = SpeechDataset(_spec(augment=[]), tmp_path, spec.train, train=True, seed=11)
    for utt in e0:
        for got, again in ((e0, e0_again), (e1, e1_again)):
            assert got[utt][0] == again[utt][0]
            np.testing.assert_array_equal(got[utt][1], again[utt][1])
        assert not np.array_equal(e0[utt][1], e1[utt][1])
        i = plain.utt_ids.index(utt)
        raw = plain[(i, 0)]["wav"][:, 0].numpy()
        assert e0[utt][0] == plain[(i, 0)]["start"] and not np.allclose(e0[utt][1], raw, atol=1e-3)
    # dev data are never augmented
    dev = SpeechDataset(spec, tmp_path, spec.dev, train=False, seed=11)
    assert dev.augmentation is None
    want = _speechlike(4000, seed=20).astype(np.float32)
    np.testing.assert_array_equal(dev[dev.utt_ids.index("u0")]["wav"][:, 0].numpy(), want)


def test_multi_view_batches_draw_augmented_views(tmp_path):
    _wave_dump(tmp_path, n_utts=2)
    spec = _spec(augment=[{"type": "mask", "freq_bands": 0, "max_time_width": 0.05}], views={"augmented": 2},
                 truncate=None)

    def first_batch():
        loader = build_loader(spec, tmp_path, spec.train, train=True, seed=3)
        loader.batch_sampler.set_epoch(4)
        return next(iter(loader))

    batch = first_batch()
    assert batch["wav"].shape == (6, 4000, 1)  # 2 items x (the item + 2 augmented views)
    assert [int(v) for v in batch["view"]] == [0, 1, 2, 0, 1, 2]
    wav = batch["wav"][:, :, 0]
    assert not torch.equal(wav[0], wav[1]) and not torch.equal(wav[1], wav[2])  # each view its own draw
    assert torch.equal(first_batch()["wav"], batch["wav"])  # same seed and epoch: the same views
