"""pylib.bin.combine_data: the union of data folders, with clear errors for what cannot be combined."""

import pytest

from pylib.bin import combine_data
from pylib.errors import DataError
from pylib.io import read_table


def _folder(path, utts, label="bonafide -", spk="s1", extra=None):
    path.mkdir(parents=True)
    (path / "wav.scp").write_text("".join(f"{u} wavs/{u}.wav\n" for u in utts))
    (path / "utt2spk").write_text("".join(f"{u} {spk}\n" for u in utts))
    (path / "utt2label").write_text("".join(f"{u} {label}\n" for u in utts))
    (path / "spk2f0range").write_text(f"{spk} 80 300\n")
    for name, text in (extra or {}).items():
        (path / name).write_text(text)
    return path


def test_combines_every_common_table_sorted(tmp_path, capsys):
    a = _folder(tmp_path / "a", ["u2", "u1"])
    b = _folder(tmp_path / "b", ["u1__hifigan"], label="spoof hifigan")
    assert combine_data.main([str(a), str(b), "--out", str(tmp_path / "c")]) == 0
    out = tmp_path / "c"
    scp = "u1 wavs/u1.wav\nu1__hifigan wavs/u1__hifigan.wav\nu2 wavs/u2.wav\n"
    assert (out / "wav.scp").read_text() == scp
    labels = {"u1": "bonafide -", "u1__hifigan": "spoof hifigan", "u2": "bonafide -"}
    assert read_table(out / "utt2label") == labels
    assert read_table(out / "spk2f0range") == {"s1": "80 300"}  # same speaker, same value: kept once
    assert "3 utterances from 2 folders" in capsys.readouterr().out


def test_duplicate_utterance_names_both_sources(tmp_path):
    a = _folder(tmp_path / "a", ["u1"])
    b = _folder(tmp_path / "b", ["u1"])
    with pytest.raises(DataError, match=r"'u1' is also in .*a/wav.scp"):
        combine_data.combine([a, b], tmp_path / "c")


def test_partial_table_is_an_error_unless_dropped(tmp_path):
    a = _folder(tmp_path / "a", ["u1"], extra={"utt2vocoder": "u1 nsf\n"})
    b = _folder(tmp_path / "b", ["u2"])
    with pytest.raises(DataError, match=r"b: has no utt2vocoder.*--drop-partial"):
        combine_data.combine([a, b], tmp_path / "c")
    counts = combine_data.combine([a, b], tmp_path / "c", drop_partial=True)
    assert "utt2vocoder" not in counts and not (tmp_path / "c" / "utt2vocoder").exists()


def test_speaker_table_conflict_and_missing_wav_scp(tmp_path):
    a = _folder(tmp_path / "a", ["u1"])
    b = _folder(tmp_path / "b", ["u2"], extra={"spk2f0range": "s1 60 200\n"})
    with pytest.raises(DataError, match="another value"):
        combine_data.combine([a, b], tmp_path / "c")
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="no wav.scp"):
        combine_data.combine([a, tmp_path / "d"], tmp_path / "c")


def test_never_writes_over_a_source(tmp_path):
    a = _folder(tmp_path / "a", ["u1"])
    b = _folder(tmp_path / "b", ["u2"])
    before = (a / "wav.scp").read_text()
    with pytest.raises(DataError, match="would overwrite the input"):
        combine_data.combine([a, b], a)
    assert (a / "wav.scp").read_text() == before
