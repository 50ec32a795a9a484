"""bench/bench_seed.py: the side-by-side table (reference figure, nnsp figure, ratio) in --quick mode,
one-line skips when the reference code is absent, and the FLOP counting it prints."""

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.parity import peers

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "bench_seed.py"
# area, what, unit, reference name, reference figure, nnsp figure, ratio
ROW = re.compile(r"^(NSF|HiFi-GAN|CM)  (.+) \[(s|RTF|utt/s)\]\s+(seed|jik876)\s+([\d.]+)\s+([\d.]+)"
                 r"\s+x\s*([\d.]+)$")


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_seed_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(*args, env=None, timeout=600):
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)


def test_quick_table_has_reference_nnsp_and_ratio_for_each_peer():
    if not (peers.have_seed() or peers.have_hifigan()):
        pytest.skip(f"neither the seed ({peers.SEED_DIR}) nor jik876/hifi-gan ({peers.HIFIGAN_DIR}) is "
                    "there: set NNSP_SEED_DIR / NNSP_HIFIGAN_DIR to compare nnsp with them")
    r = _run("--quick")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "QUICK" in r.stdout and "nnsp speed / reference speed" in r.stdout
    rows = [m for m in map(ROW.match, r.stdout.splitlines()) if m]
    by_ref = {ref: [m for m in rows if m[4] == ref] for ref in ("seed", "jik876")}
    if peers.have_seed():
        areas = {m[1] for m in by_ref["seed"]}
        assert areas == {"NSF", "CM"}, r.stdout
        whats = " ".join(m[2] for m in by_ref["seed"])
        for part in ("hn-sinc-nsf-9 train step", "hn-sinc-nsf-9 inference", "sig: scoring",
                     "p2s: train step"):
            assert part in whats, r.stdout
        assert "FLOPs, nnsp hn_sinc_nsf train step" in r.stdout and "estimated as 5 N log2 N" in r.stdout
    if peers.have_hifigan():
        assert {m[2].split(" (")[0] for m in by_ref["jik876"]} == {"V1 GAN step", "V1 generator"}, r.stdout
    for m in rows:  # the ratio is nnsp speed / reference speed, whichever way the unit points
        ref, ours, ratio = float(m[5]), float(m[6]), float(m[7])
        assert ref > 0 and ours > 0
        want = ours / ref if m[3] == "utt/s" else ref / ours
        # the figures are printed to 3 decimals: allow their rounding (+-0.0005 each) and the ratio's
        rounding = want * (0.0005 / ref + 0.0005 / ours)
        assert ratio == pytest.approx(want, rel=0.02, abs=0.005 + rounding), m[0]
    # a seed model nnsp has no conf for yet is named with the conf it looks for
    for line in r.stdout.splitlines():
        if line.startswith("skipped "):
            assert re.match(r"skipped [\w-]+: no nnsp conf egs/\S+\.yaml yet$", line), line


def test_absent_peers_skip_each_comparison_with_one_line(tmp_path, monkeypatch, capsys):
    b = _bench_module()
    monkeypatch.setattr(peers, "SEED_DIR", tmp_path / "no-seed")
    monkeypatch.setattr(peers, "HIFIGAN_DIR", tmp_path / "no-hifigan")
    threads = torch.get_num_threads()
    assert b.main(["--quick"]) == []
    assert torch.get_num_threads() == threads  # restored for the rest of the session
    out = capsys.readouterr().out.splitlines()
    assert not [line for line in out if ROW.match(line)]
    skipped = [line for line in out if line.startswith("skipped ")]
    # the four NSF pairs, hn-sinc-nsf-hifigan, HiFi-GAN, the CM block
    assert len(skipped) == 4 + 1 + 1 + 1, out
    assert all(("not found at" in s and str(tmp_path) in s) for s in skipped), out
    assert any("NNSP_SEED_DIR" in s for s in skipped) and any("NNSP_HIFIGAN_DIR" in s for s in skipped)


def test_unknown_area_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        _bench_module().main(["--only", "nsf,vocoders"])
    assert e.value.code == 2 and "unknown area(s) vocoders" in capsys.readouterr().err


def test_ratio_is_nnsp_speed_over_reference_speed():
    b = _bench_module()
    assert b.Row("a", "step", "s", "seed", 2.0, 1.0).ratio == 2.0  # nnsp twice as fast
    assert b.Row("a", "gen", "RTF", "seed", 0.1, 0.2).ratio == 0.5  # nnsp twice as slow
    assert b.Row("a", "score", "utt/s", "seed", 10.0, 30.0).ratio == 3.0
    table = b.format_table([b.Row("CM", "sig: scoring", "utt/s", "seed", 10.0, 30.0)])
    assert ROW.match(table.splitlines()[-1])[7] == "3.00"


def test_flop_count_separates_matmuls_from_the_fft_estimate():
    b = _bench_module()
    a, w = torch.randn(3, 5), torch.randn(5, 7)
    x = torch.randn(2, 1000)
    n_fft, hop = 64, 16

    def step():
        torch.mm(a, w)
        torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True)

    mm, fft = b.count_step_flops(step)
    assert mm == 2 * 3 * 5 * 7
    frames = 1 + 1000 // hop  # centred frames
    assert fft == pytest.approx(2 * frames * 5 * n_fft * math.log2(n_fft), rel=1e-6)
