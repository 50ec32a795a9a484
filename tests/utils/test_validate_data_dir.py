"""validate_data_dir: a good folder passes; each kind of problem is reported with a fix."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pylib.bin import validate_data_dir as cli
from pylib.data.validate import validate_data_dir
from pylib.io import write_wav
from tests.conftest import sine


@pytest.fixture
def good(tmp_path):
    d = tmp_path / "data" / "train"
    d.mkdir(parents=True)
    wav, spk, lab = [], [], []
    rows = [("A", "bonafide"), ("A", "spoof A01"), ("B", "bonafide"), ("B", "spoof")]
    for i, (s, label) in enumerate(rows):
        utt = f"{s}_{i:03d}"
        path = tmp_path / "wav" / f"{utt}.wav"
        write_wav(path, 16000, sine(200 + 50 * i, seconds=0.1))
        wav.append(f"{utt} {path}\n")
        spk.append(f"{utt} {s}\n")
        lab.append(f"{utt} {label}\n")
    (d / "wav.scp").write_text("".join(wav))
    (d / "utt2spk").write_text("".join(spk))
    (d / "utt2label").write_text("".join(lab))
    return d


def _kinds(d, **kw):
    return [p.kind for p in validate_data_dir(d, **kw).problems]


def test_good_dir_passes(good, capsys):
    assert cli.main([str(good), "--sample-rate", "16000", "--require-labels"]) == 0
    out = capsys.readouterr().out
    assert "OK (4 utterances, 2 speakers, 16000 Hz" in out


def test_unsorted_duplicate_and_bad_lines(good):
    lines = (good / "wav.scp").read_text().splitlines()
    bad = [lines[1], lines[0], lines[0], " x", "lonely"] + lines[2:]
    (good / "wav.scp").write_text("\n".join(bad) + "\n")
    r = validate_data_dir(good, check_audio=False)
    text = "\n".join(f"{p.where}: {p.what} / {p.fix}" for p in r.problems)
    assert "wav.scp:2: id 'A_000' comes after 'A_001'" in text and "LC_ALL=C sort" in text
    assert "wav.scp:3: duplicate id 'A_000' (first on line 2)" in text
    assert "wav.scp:4: line starts with whitespace" in text
    assert "wav.scp:5: id 'lonely' has no value" in text


def test_missing_unreadable_stereo_empty_wavs(good, tmp_path):
    paths = dict(line.split() for line in (good / "wav.scp").read_text().splitlines())
    Path(paths["A_000"]).unlink()
    Path(paths["A_001"]).write_bytes(b"not a wav at all")
    sf.write(paths["B_002"], np.zeros((100, 2), np.float32), 16000)
    sf.write(paths["B_003"], np.zeros(0, np.float32), 16000)
    r = validate_data_dir(good)
    text = "\n".join(p.what for p in r.problems)
    assert len(r.problems) == 4 and set(_kinds(good)) == {"audio"}
    assert "A_000.wav: audio file not found" in text
    assert "A_001.wav: not a readable wav/flac" in text
    assert "2 channels" in text
    assert "holds no samples" in text


def test_sample_rates(good):
    paths = dict(line.split() for line in (good / "wav.scp").read_text().splitlines())
    write_wav(paths["B_003"], 22050, sine(seconds=0.1, sr=22050))
    r = validate_data_dir(good)
    assert [p.kind for p in r.problems] == ["rate"]
    assert "2 sample rates (16000 Hz: 3, 22050 Hz: 1)" in r.problems[0].what
    r = validate_data_dir(good, sample_rate=22050)
    assert [p.kind for p in r.problems] == ["rate"] * 3


def test_utt2spk_and_labels_consistency(good):
    (good / "utt2spk").write_text("A_000 A\nA_001 A x\nB_002 B\nZ_999 Z\n")
    (good / "utt2label").write_text("A_000 bonafide\nA_001 fake\nB_002 spoof A01 extra\n")
    r = validate_data_dir(good, check_audio=False)
    text = "\n".join(f"{p.where}: {p.what}" for p in r.problems)
    assert "utt2spk:2: value 'A x' of 'A_001' has whitespace" in text
    assert "1 utterance(s) of wav.scp are missing, e.g. 'B_003'" in text
    assert "1 utterance(s) are not in wav.scp, e.g. 'Z_999'" in text
    assert "label 'fake' is not" in text and "label 'spoof A01 extra'" in text


def test_spk2utt_mismatch_and_required_labels(good):
    (good / "spk2utt").write_text("A A_000\nB B_002 B_003\n")
    (good / "utt2label").unlink()
    r = validate_data_dir(good, check_audio=False, require_labels=True)
    assert sorted(p.kind for p in r.problems) == ["coverage", "missing"]


def test_cli_prints_fix_and_exits_2(good, capsys, tmp_path):
    (good / "wav.scp").write_text("a/b /nowhere.wav\n")
    assert cli.main([str(good), "--max-per-kind", "1"]) == 2
    out = capsys.readouterr().out
    assert "cannot be a file name" in out and "fix:" in out
    assert "problem(s)" in out
    assert cli.main([str(tmp_path / "nothere")]) == 2
    assert "folder not found" in capsys.readouterr().out


def test_piped_entries_are_counted_not_run(good, capsys):
    (good / "wav.scp").write_text("A_000 false |\nA_001 false |\nB_002 false |\nB_003 false |\n")
    assert cli.main([str(good)]) == 0
    assert "4 piped entries not checked" in capsys.readouterr().out
