"""Protocols read by name: every format's fixture, detection, the 2021 subsets, malformed lines, CLI."""

import pytest

from pylib.bin import asvspoof_labels
from pylib.data.protocols import FORMATS, Trial, detect_format, read_labels, read_protocol
from pylib.errors import DataError

LA2019 = """LA_0079 LA_T_1138215 - - bonafide
LA_0039 LA_E_2834763 - A11 spoof
"""
PA2019 = """PA_0079 PA_T_0000001 aaa - bonafide
PA_0079 PA_T_0000009 bbc BA spoof
PA_0080 PA_T_0000010 cca AC spoof
"""
LA2021 = """LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0009 LA_E_1000001 alaw ita_tx bonafide bonafide notrim eval
LA_0010 LA_E_1000002 opus ita_tx A10 spoof notrim progress
LA_0010 LA_E_1000003 none loc_tx A10 spoof trim hidden
"""
DF2021 = (
    "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -\n"
    "TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive "
    "Task1 team20 FF E\n"
    "LA_0023 DF_E_2000012 mp3m4a vcc2020 bonafide bonafide notrim eval bonafide - - - -\n"
)
PA2021 = """PA_0010 PA_E_1000001 R3 M3 d4 r1 m1 s4 c4 spoof notrim eval
PA_0010 PA_E_1000002 R3 M3 d4 - - - - bonafide notrim eval
PA_0011 PA_E_1000003 R1 M2 d1 r2 m3 s2 c2 spoof trim hidden
"""
ASV5 = """T_4850 T_0000000000 F - - - AC3 A05 spoof -
T_1138 T_0000000001 M - - - - bonafide bonafide -
E_0001 E_0000000002 F C05 4 1 AC1 A17 spoof -
"""
ITW = """file,speaker,label
0.wav,Alec Guinness,spoof
1.wav,Alec Guinness,bona-fide
2.wav,"Obama, Barack",bona-fide
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _wavefake(tmp_path):
    root = tmp_path / "wavefake"
    for rel in ("LJSpeech-1.1/wavs/LJ001-0001.wav", "LJSpeech-1.1/wavs/LJ001-0002.wav",
                "jsut_ver1.1/basic5000/wav/BASIC5000_0001.wav",
                "generated_audio/ljspeech_melgan/LJ001-0001_gen.wav",
                "generated_audio/ljspeech_hifiGAN/LJ001-0001_gen.wav",
                "generated_audio/jsut_multi_band_melgan/BASIC5000_0001_gen.wav",
                "generated_audio/ljspeech_melgan/notes.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    return root / "generated_audio", root


@pytest.mark.parametrize(
    "text, fmt",
    [(LA2019, "asvspoof2019_la"), (PA2019, "asvspoof2019_pa"), (LA2021, "asvspoof2021_la"),
     (DF2021, "asvspoof2021_df"), (ASV5, "asvspoof5"), (ITW, "in_the_wild"), ("u spoof A01\n", "utt2label"),
     ("PA_0082 PA_E_1 x y A01 spoof\n", "asvspoof2021"), (PA2021, "asvspoof2021_pa")],
)
def test_detect(tmp_path, text, fmt):
    assert detect_format(_write(tmp_path, "f.txt", text)) == fmt
    assert read_protocol(tmp_path / "f.txt", format=fmt).format == fmt


def test_asvspoof2019_la_and_pa(tmp_path):
    la = read_protocol(_write(tmp_path, "la.txt", LA2019))
    assert la.trials["LA_E_2834763"] == Trial("LA_E_2834763", "spoof", "A11", {"speaker": "LA_0039"})
    assert la.columns == ("speaker",) and la.table_columns == ()
    pa = read_protocol(_write(tmp_path, "pa.txt", PA2019), format="asvspoof2019")  # old name: LA or PA
    assert pa.format == "asvspoof2019_pa"
    assert pa.trials["PA_T_0000009"].conditions == {
        "speaker": "PA_0079", "environment": "bbc", "replay": "BA"}
    assert pa.trials["PA_T_0000001"].conditions["replay"] == "-"
    assert pa.labels() == {"PA_T_0000001": ("bonafide", "-"), "PA_T_0000009": ("spoof", "BA"),
                           "PA_T_0000010": ("spoof", "AC")}
    assert pa.table_columns == ("environment", "replay")
    with pytest.raises(DataError, match=r"pa.txt:1: expected 8 fields \(asvspoof2021_la\), got 5"):
        read_protocol(tmp_path / "pa.txt", format="asvspoof2021_la")


def test_asvspoof2021_la_subsets(tmp_path):
    path = _write(tmp_path, "k.txt", LA2021)
    p = read_protocol(path)
    assert p.trials["LA_E_9332881"].conditions == {
        "speaker": "LA_0009", "codec": "alaw", "transmission": "ita_tx", "trim": "notrim", "subset": "eval"}
    assert p.trials["LA_E_1000001"].attack == "-"
    assert p.table_columns == ("codec", "transmission", "attack")
    assert list(read_labels(path, subset="eval")) == ["LA_E_9332881", "LA_E_1000001"]
    assert list(read_labels(path, subset="hidden")) == ["LA_E_1000003"]
    with pytest.raises(DataError, match=r"no trial of subset 'x'.*\['eval', 'hidden', 'progress'\]"):
        read_labels(path, subset="x")
    with pytest.raises(DataError, match="only ASVspoof 2021 keys have subsets"):
        read_labels(_write(tmp_path, "la.txt", LA2019), subset="eval")


def test_asvspoof2021_df(tmp_path):
    p = read_protocol(_write(tmp_path, "df.txt", DF2021))
    t = p.trials["DF_E_2000013"]
    assert (t.label, t.attack) == ("spoof", "Task1-team20")
    assert t.conditions["vocoder"] == "neural_vocoder_nonautoregressive"
    c = t.conditions
    assert (c["source"], c["codec"], c["task"], c["team"]) == ("vcc2020", "low_m4a", "Task1", "team20")
    assert (c["gender_pair"], c["language"], c["subset"]) == ("FF", "E", "eval")
    assert p.trials["DF_E_2000012"].attack == "-"
    assert p.table_columns == ("codec", "source", "attack", "vocoder")
    assert list(read_labels(tmp_path / "df.txt", subset="progress")) == ["DF_E_2000011"]


def test_asvspoof2021_pa(tmp_path):
    p = read_protocol(_write(tmp_path, "pa.txt", PA2021))
    assert p.labels() == {"PA_E_1000001": ("spoof", "r1_m1_s4_c4"), "PA_E_1000002": ("bonafide", "-"),
                          "PA_E_1000003": ("spoof", "r2_m3_s2_c2")}
    assert p.trials["PA_E_1000003"].conditions == {
        "speaker": "PA_0011", "asv_room": "R1", "asv_mic": "M2", "dis_to_asv": "d1", "att_room": "r2",
        "att_mic": "m3", "att_d": "s2", "att_to_spk": "c2", "trim": "trim", "subset": "hidden"}
    assert "asv_room" in p.table_columns and "att_to_spk" in p.table_columns
    assert list(read_labels(tmp_path / "pa.txt", subset="hidden")) == ["PA_E_1000003"]


def test_asvspoof5(tmp_path):
    p = read_protocol(_write(tmp_path, "ASVspoof5.dev.track_1.tsv", ASV5))
    assert p.labels() == {"T_0000000000": ("spoof", "A05"), "T_0000000001": ("bonafide", "-"),
                          "E_0000000002": ("spoof", "A17")}
    assert p.trials["E_0000000002"].conditions == {
        "speaker": "E_0001", "gender": "F", "codec": "C05", "codec_q": "4", "codec_seed": "1",
        "attack_tag": "AC1"}
    assert p.table_columns == ("codec", "attack")


def test_in_the_wild(tmp_path):
    p = read_protocol(_write(tmp_path, "meta.csv", ITW))
    assert p.format == "in_the_wild"
    assert p.labels() == {"0": ("spoof", "-"), "1": ("bonafide", "-"), "2": ("bonafide", "-")}
    assert p.trials["2"].conditions == {"speaker": "Obama, Barack"}
    bad = _write(tmp_path, "bad.csv", "name,who,label\n0.wav,A,spoof\n")
    with pytest.raises(DataError, match=r"bad.csv:1: expected the header `file,speaker,label`"):
        read_protocol(bad, format="in_the_wild")


def test_wavefake(tmp_path):
    generated, root = _wavefake(tmp_path)
    p = read_protocol(root)
    assert p.format == "wavefake"
    assert p.labels() == {
        "LJ001-0001": ("bonafide", "-"),
        "LJ001-0002": ("bonafide", "-"),
        "jsut_multi_band_melgan__BASIC5000_0001_gen": ("spoof", "jsut_multi_band_melgan"),
        "ljspeech_hifiGAN__LJ001-0001_gen": ("spoof", "ljspeech_hifiGAN"),
        "ljspeech_melgan__LJ001-0001_gen": ("spoof", "ljspeech_melgan"),
        "BASIC5000_0001": ("bonafide", "-"),
    }
    trials = p.trials
    melgan = trials["ljspeech_melgan__LJ001-0001_gen"]
    assert melgan.conditions == {"source": "ljspeech", "vocoder": "ljspeech_melgan"}
    assert trials["BASIC5000_0001"].conditions == {"source": "jsut", "vocoder": "-"}
    # the vocoder folders alone (no real speech) read too: every trial spoof
    only = read_protocol(generated, format="wavefake").labels()
    assert {lab for lab, _ in only.values()} == {"spoof"} and len(only) == 3
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no .wav/.flac files in its subfolders"):
        read_protocol(tmp_path / "empty")
    with pytest.raises(DataError, match="only the wavefake format reads a folder"):
        read_protocol(generated, format="asvspoof2019_la")


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("f.txt", LA2019 + "LA_0039 LA_E_9 - A11\n",
         r"f.txt:3: expected 5 fields \(asvspoof2019_la\), got 4"),
        ("f.txt", PA2019 + "PA_0079 PA_T_9 xyz AA spoof\n",
         r"f.txt:4: environment 'xyz' is not three letters"),
        ("f.txt", LA2021 + "LA_0009 LA_E_9 alaw ita_tx A07 spoof notrim\n", r"f.txt:5: expected 8 fields"),
        ("f.txt", DF2021.replace("spoof notrim progress", "spooof notrim progress"),
         r"f.txt:1: unknown label format"),
        ("f.txt", DF2021 + "LA_0023 DF_E_9 nocodec asvspoof A14 fake notrim eval v - - - -\n",
         r"f.txt:4: key 'fake' is not bonafide or spoof \(asvspoof2021_df, field 6\)"),
        ("f.tsv", ASV5 + "T_4850 T_9 F - - - AC3 A05 spoof\n", r"f.tsv:4: expected 10 fields \(asvspoof5\)"),
        ("f.tsv", ASV5 + ASV5.splitlines()[0] + "\n", r"f.tsv:4: duplicate utterance 'T_0000000000'"),
        ("meta.csv", ITW + "3.wav,Someone\n", r"meta.csv:5: expected 3 comma-separated fields"),
        ("meta.csv", ITW + "3.wav,Someone,fake\n", r"meta.csv:5: label 'fake' is not bona-fide or spoof"),
        ("meta.csv", "name,who,label\n0.wav,A,spoof\n", r"meta.csv:1: unknown label format.*in_the_wild"),
        ("meta.csv", ITW + "../x.wav,A,spoof\n", r"meta.csv:5: file '../x.wav' contains"),
        ("f.txt", "LA_0039 LA_E_1 abq A11 spoof\n",
         r"f.txt:1: a 5-field protocol line whose third field 'abq'"),
        ("f.txt", "\n\n", r"f.txt: the label file is empty"),
    ],
)
def test_malformed(tmp_path, name, text, match):
    with pytest.raises(DataError, match=match):
        read_protocol(_write(tmp_path, name, text))


def test_unknown_format_name(tmp_path):
    with pytest.raises(DataError, match="unknown protocol format 'asvspoof2015'.*in_the_wild"):
        read_protocol(_write(tmp_path, "la.txt", LA2019), format="asvspoof2015")
    assert set(FORMATS) >= {"asvspoof2019_la", "asvspoof2019_pa", "asvspoof2021_la", "asvspoof2021_df",
                            "asvspoof5", "in_the_wild", "wavefake"}


def test_cli_every_format(tmp_path, capsys):
    out = tmp_path / "u2l"
    meta = _write(tmp_path, "meta.csv", ITW)
    rc = asvspoof_labels.main(["--protocol", str(meta), "--format", "in_the_wild", "--out", str(out)])
    assert rc == 0 and "2 bona fide, 1 spoof, attacks -" in capsys.readouterr().out
    assert out.read_text() == "0 spoof -\n1 bonafide -\n2 bonafide -\n"
    _, root = _wavefake(tmp_path)
    generated = root / "generated_audio"
    rc = asvspoof_labels.main(["--protocol", str(generated), "--out", str(out)])
    assert rc == 0 and "0 bona fide, 3 spoof" in capsys.readouterr().out
    rc = asvspoof_labels.main(["--protocol", str(_write(tmp_path, "a5.tsv", ASV5)), "--format", "asvspoof5",
                               "--out", str(out)])
    assert rc == 0 and "attacks A05 A17" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        asvspoof_labels.main(["--protocol", str(out), "--format", "nope", "--out", str(tmp_path / "o")])
