"""pylib.metrics.vocoder_report and python -m pylib.bin.score_vocoder on synthetic waveforms."""

import json
import math

import numpy as np
import pytest

from pylib.bin import score_vocoder
from pylib.errors import DataError, UserError
from pylib.io import write_wav
from pylib.metrics.vocoder_report import ScoreConfig, average, common_length, score_pair
from tests.conftest import noise

SR = 16000


def voiced(f0, seconds=0.6, sr=SR, seed=0):
    """A harmonic-rich tone at f0 Hz (sum of 10 harmonics, 1/k amplitudes) plus a little noise."""
    t = np.arange(int(sr * seconds)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.03)  # 30 ms fades: no F0 jump at the edges
    return (0.3 * ramp * x / np.max(np.abs(x)) + noise(seconds, sr, amp=0.003, seed=seed)).astype(np.float32)


def test_identical_waves_score_zero():
    x = voiced(150.0)
    m, _ = score_pair(x, x.copy(), SR, ScoreConfig())
    assert m["mel_l1"] == 0 and m["mcd_db"] == pytest.approx(0, abs=1e-9)
    assert m["f0_rmse_cents"] == 0 and m["vuv_error"] == 0 and m["voiced_frames_both"] > 50


def test_f0_shift_of_one_semitone_is_100_cents():
    m, (a_ref, a_gen) = score_pair(voiced(150.0), voiced(150.0 * 2 ** (1 / 12)), SR, ScoreConfig())
    assert m["f0_rmse_cents"] == pytest.approx(100, abs=10)
    assert m["mcd_db"] > 0 and m["mel_l1"] > 0
    assert a_ref["mel"].shape == a_gen["mel"].shape == (int(0.6 * SR) // 80 + 1, 80)


def test_unvoiced_pair_gives_nan_rmse_left_out_of_the_mean():
    n = noise(0.5, SR, amp=0.1, seed=1)
    m, _ = score_pair(n, noise(0.5, SR, amp=0.1, seed=2), SR, ScoreConfig())
    assert math.isnan(m["f0_rmse_cents"]) and 0 <= m["vuv_error"] <= 1
    mean, counted = average({"a": m, "b": {**m, "f0_rmse_cents": 50.0}})
    assert mean["f0_rmse_cents"] == 50.0 and counted["f0_rmse_cents"] == 1 and counted["mcd_db"] == 2


def test_lengths_cut_within_tolerance_else_error():
    a, b = np.zeros(1000), np.zeros(1080)
    assert [len(x) for x in common_length(a, b, 80, 2, "u")] == [1000, 1000]
    with pytest.raises(DataError, match="u: 1300 generated samples vs 1000"):
        common_length(a, np.zeros(1300), 80, 2, "u")


def _folders(tmp_path, n=3):
    ref, gen = tmp_path / "ref", tmp_path / "gen"
    for i in range(n):
        write_wav(ref / f"u{i}.wav", SR, voiced(120.0 + 20 * i, seed=i))
        # generated as a vocoder makes it: a few samples longer, slightly detuned
        longer = np.concatenate([voiced(121.0 + 20 * i, seed=i), np.zeros(40, np.float32)])
        write_wav(gen / f"u{i}.wav", SR, longer)
    return ref, gen


def test_main_writes_results_plots_and_page(tmp_path, capsys):
    ref, gen = _folders(tmp_path)
    args = ["--gen-dir", str(gen), "--ref-dir", str(ref), "--max-plots", "2", "--no-progress"]
    assert score_vocoder.main(args) == 0
    res = json.loads((gen / "results.json").read_text())
    assert res["num_utts"] == 3 and set(res["per_utt"]) == {"u0", "u1", "u2"}
    assert all(math.isfinite(v) for v in res["mean"].values())
    assert 5 < res["mean"]["f0_rmse_cents"] < 30  # 1 Hz off at 120-160 Hz: 11-14 cents
    assert sorted(p.name for p in (gen / "plots").iterdir()) == ["u0.png", "u1.png"]
    page = (gen / "index.html").read_text()
    assert '<audio controls preload="none" src="../ref/u0.wav">' in page and "plots/u1.png" in page
    assert "mean: log-mel L1" in capsys.readouterr().out


def test_main_with_scp_and_list(tmp_path):
    ref, gen = _folders(tmp_path)
    (tmp_path / "wav.scp").write_text("".join(f"u{i} {ref / f'u{i}.wav'}\n" for i in range(3)))
    (tmp_path / "x.lst").write_text("u1\n")
    out = tmp_path / "r.json"
    score_vocoder.main(["--gen-dir", str(gen), "--ref-scp", str(tmp_path / "wav.scp"), "--list",
                        str(tmp_path / "x.lst"), "--out", str(out), "--max-plots", "0", "--no-progress"])
    assert list(json.loads(out.read_text())["per_utt"]) == ["u1"]
    assert not (gen / "plots").exists()


def test_main_errors_name_the_problem(tmp_path):
    ref, gen = _folders(tmp_path, n=2)
    (tmp_path / "x.lst").write_text("u0\nu9\n")
    with pytest.raises(UserError, match="no generated waveform for 'u9'"):
        score_vocoder.main(["--gen-dir", str(gen), "--ref-dir", str(ref), "--list", str(tmp_path / "x.lst")])
    (ref / "u1.wav").unlink()
    with pytest.raises(UserError, match="no natural waveform .* for 'u1'"):
        score_vocoder.main(["--gen-dir", str(gen), "--ref-dir", str(ref)])
    with pytest.raises(UserError, match="run stage 4"):
        score_vocoder.main(["--gen-dir", str(tmp_path / "none"), "--ref-dir", str(ref)])
    write_wav(gen / "u0.wav", 8000, voiced(120.0, sr=8000))
    (gen / "u1.wav").unlink()
    with pytest.raises(DataError, match="generated at 8000 Hz"):
        score_vocoder.main(["--gen-dir", str(gen), "--ref-dir", str(ref), "--no-progress"])
