"""ASVspoof protocols and keys -> utt2label: format detection, 2019/2021 layouts, bad files, CLI."""

import pytest

from pylib.bin import asvspoof_labels
from pylib.data.asvspoof import detect_label_format, protocol_to_utt2label, read_labels
from pylib.errors import DataError
from pylib.io.tables import read_utt2label

P2019 = """LA_0079 LA_T_1138215 - - bonafide
LA_0039 LA_E_2834763 - A11 spoof
LA_0039 LA_E_0000001 - A07 spoof
"""
K2021_LA = """LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0009 LA_E_1000001 alaw ita_tx bonafide bonafide notrim eval
LA_0010 LA_E_1000002 opus ita_tx A10 spoof notrim progress
"""
K2021_DF = """LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -
LA_0023 DF_E_2000012 mp3m4a vcc2020 bonafide bonafide notrim eval bonafide - - - -
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "text, fmt",
    [
        (P2019, "asvspoof2019_la"),
        (K2021_LA, "asvspoof2021_la"),
        (K2021_DF, "asvspoof2021_df"),
        ("u bonafide\n", "utt2label"),
    ],
)
def test_detect(tmp_path, text, fmt):
    assert detect_label_format(_write(tmp_path, "f.txt", text)) == fmt


def test_2019_protocol(tmp_path):
    labels = read_labels(_write(tmp_path, "p.txt", P2019))
    assert labels == {
        "LA_T_1138215": ("bonafide", "-"),
        "LA_E_2834763": ("spoof", "A11"),
        "LA_E_0000001": ("spoof", "A07"),
    }


def test_2021_keys_and_subset(tmp_path):
    la = _write(tmp_path, "la.txt", K2021_LA)
    assert read_labels(la)["LA_E_1000001"] == ("bonafide", "-")
    assert list(read_labels(la, subset="eval")) == ["LA_E_9332881", "LA_E_1000001"]
    df = read_labels(_write(tmp_path, "df.txt", K2021_DF))
    assert df == {"DF_E_2000011": ("spoof", "A14"), "DF_E_2000012": ("bonafide", "-")}
    with pytest.raises(DataError, match=r"no trial of subset 'hidden'.*\['eval', 'progress'\]"):
        read_labels(la, subset="hidden")


@pytest.mark.parametrize(
    "text, match",
    [
        ("LA_E_1\nLA_E_2\n", r"f.txt:1: unknown label format \(it lists utterance ids only"),
        ("a b c d e\n", r"f.txt:1: unknown label format"),
        (P2019 + "LA_0039 LA_E_9 - A11\n", r"f.txt:4: expected 5 fields"),
        (P2019 + "LA_0039 LA_E_9 - A11 fake\n", r"f.txt:4: key 'fake' is not bonafide or spoof"),
        (P2019 + "LA_0039 LA_E_2834763 - A11 spoof\n", r"f.txt:4: duplicate utterance 'LA_E_2834763'"),
        ("", r"f.txt: the label file is empty"),
    ],
)
def test_bad_label_files(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        read_labels(_write(tmp_path, "f.txt", text))


def test_subset_only_for_2021(tmp_path):
    with pytest.raises(DataError, match="only ASVspoof 2021 keys have subsets"):
        read_labels(_write(tmp_path, "p.txt", P2019), subset="eval")


def test_protocol_to_utt2label_round_trip(tmp_path):
    out = tmp_path / "data" / "eval" / "utt2label"
    info = protocol_to_utt2label(_write(tmp_path, "p.txt", P2019), out)
    assert info == {"bonafide": 1, "spoof": 2, "attacks": ["A07", "A11"]}
    lines = out.read_text().splitlines()
    assert lines == sorted(lines) and lines[0] == "LA_E_0000001 spoof A07"
    assert read_utt2label(out)["LA_T_1138215"] == ("bonafide", "-")
    assert read_labels(out) == read_labels(tmp_path / "p.txt")


def test_cli(tmp_path, capsys):
    out = tmp_path / "utt2label"
    rc = asvspoof_labels.main(["--protocol", str(_write(tmp_path, "k.txt", K2021_LA)), "--out", str(out),
                               "--key-subset", "eval"])
    assert rc == 0
    assert "1 bona fide, 1 spoof, attacks A07" in capsys.readouterr().out
    assert out.read_text() == "LA_E_1000001 bonafide -\nLA_E_9332881 spoof A07\n"
