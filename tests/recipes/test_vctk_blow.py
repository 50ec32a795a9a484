"""egs/vctk/blow on a fake VCTK corpus: stages 0-5 with conf/debug.yaml.

The fake corpus holds 3 speakers x 3 toy utterances of 0.5 s at 48 kHz: p225 in the 0.92 layout
(`wav48_silence_trimmed/p225/p225_00N_mic1.flac`), p226 and p227 in the 0.80 one
(`wav48/p22X/p22X_00N.wav`), one utterance per speaker and set. Nothing downloads: stage 0 gets --db.
Stage 4 converts every test utterance to p226 (--target).
"""

import os

import numpy as np
import pytest

from pylib.features.toy_corpus import make_speakers, synth_utterance
from pylib.io import read_table, read_wav, write_wav
from tests.recipes.conftest import QUICK, assert_stages, run_once

SPEAKERS = ("p225", "p226", "p227")
SR_DB, SR = 48000, 16000
SECONDS = 0.5


def fake_vctk(root):
    voices = make_speakers(len(SPEAKERS), seed=5)
    for i, spk in enumerate(SPEAKERS):
        flac = spk == "p225"
        d = root / ("wav48_silence_trimmed" if flac else "wav48") / spk
        d.mkdir(parents=True)
        for j in range(1, 4):
            wave, _ = synth_utterance(voices[i], SECONDS, seed=10 * i + j, sample_rate=SR_DB)
            name = f"{spk}_{j:03d}_mic1.flac" if flac else f"{spk}_{j:03d}.wav"
            write_wav(d / name, SR_DB, wave)
    return root


@pytest.fixture(scope="module")
def vctk_run(tmp_path_factory):
    db = fake_vctk(tmp_path_factory.mktemp("vctk_db"))
    args = (*QUICK, "--db", str(db), "--dev-per-speaker", "1", "--test-per-speaker", "1", "--target", "p226")
    return run_once(tmp_path_factory, "vctk/blow", *args), db


@pytest.mark.slow
def test_vctk_blow_stages_0_to_5(vctk_run):
    run, db = vctk_run
    recipe, exp = run.recipe, run.exp
    assert_stages(run.out)
    assert not (recipe / "downloads").exists()  # --db: nothing downloaded

    # stage 0: per-speaker split (last utterance test, the one before dev), both layouts, spk.lst
    for name, n in (("train", 1), ("dev", 2), ("test", 3)):
        scp = read_table(recipe / "data" / name / "wav.scp", require_sorted=True)
        assert sorted(scp) == [f"{s}_{n:03d}" for s in SPEAKERS]
        flac = db / f"wav48_silence_trimmed/p225/p225_{n:03d}_mic1.flac"
        assert os.path.samefile(scp[f"p225_{n:03d}"], flac)
        assert os.path.samefile(scp[f"p226_{n:03d}"], db / f"wav48/p226/p226_{n:03d}.wav")
        assert read_table(recipe / "data" / name / "utt2spk") == {f"{s}_{n:03d}": s for s in SPEAKERS}
    assert (recipe / "data" / "train" / "spk.lst").read_text(encoding="utf-8").split() == list(SPEAKERS)

    # stage 1: every file resampled from 48 kHz to 16 kHz
    for s in SPEAKERS:
        sr, wave = read_wav(recipe / "dump" / "test" / "wav" / f"{s}_003.wav")
        assert sr == SR and abs(len(wave) - SECONDS * SR) <= 1

    # stage 3: the speaker table came from spk.lst
    config = (exp / "config.yaml").read_text(encoding="utf-8")
    assert "p225" in config and "p227" in config
    assert (exp / "checkpoint_best.pt").is_file() or (exp / "checkpoint_last.pt").is_file()

    # stage 4: every test utterance converted to p226, as long as its (16 kHz) source, finite, peak 1
    out = exp / "convert_test"
    assert read_table(out / "pairs.txt") == {f"{s}_003": "p226" for s in SPEAKERS}
    for s in SPEAKERS:
        sr, y = read_wav(out / f"{s}_003.wav")
        _, src = read_wav(recipe / "dump" / "test" / "wav" / f"{s}_003.wav")
        assert sr == SR and len(y) == len(src) and np.isfinite(y).all() and 0.9 < np.abs(y).max() <= 1.0

    # stage 5: the listening page plays each source and conversion (links relative to the page)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "3 converted utterances" in page
    for s in SPEAKERS:
        assert f'src="{s}_003.wav"' in page and f"../../../dump/test/wav/{s}_003.wav" in page
    assert "../../../dump/train/wav/p226_001.wav" in page  # the target speaker's own recording
