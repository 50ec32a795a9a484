import pytest

from pylib.errors import DataError
from pylib.io import (
    read_list,
    read_table,
    read_utt2label,
    read_utt2num_frames,
    read_wav_scp,
    write_list,
    write_table,
)


def test_table_round_trip_sorted(tmp_path):
    t = {"b": "/x/b.wav", "a": "sox a.flac -t wav - |", "c": "3"}
    write_table(tmp_path / "wav.scp", t)
    assert (tmp_path / "wav.scp").read_text().splitlines()[0] == "a sox a.flac -t wav - |"
    back = read_wav_scp(tmp_path / "wav.scp")
    assert back == t and list(back) == ["a", "b", "c"]


def test_empty_table_and_list(tmp_path):
    write_table(tmp_path / "t", {})
    assert read_table(tmp_path / "t") == {}
    write_list(tmp_path / "l.lst", [])
    assert read_list(tmp_path / "l.lst", require_nonempty=False) == []
    with pytest.raises(DataError, match="empty"):
        read_list(tmp_path / "l.lst")


def test_duplicate_id_names_line(tmp_path):
    (tmp_path / "wav.scp").write_text("a x\nb y\na z\n")
    with pytest.raises(DataError, match=r"wav\.scp:3: duplicate id 'a'"):
        read_wav_scp(tmp_path / "wav.scp")


def test_unsorted_names_line(tmp_path):
    (tmp_path / "wav.scp").write_text("a x\nc y\nb z\n")
    with pytest.raises(DataError, match=r"wav\.scp:3: .*sorted"):
        read_wav_scp(tmp_path / "wav.scp")
    assert list(read_table(tmp_path / "wav.scp")) == ["a", "c", "b"]


def test_missing_value_and_leading_space(tmp_path):
    (tmp_path / "t").write_text("a x\nb\n")
    with pytest.raises(DataError, match=r"t:2: id 'b' has no value"):
        read_table(tmp_path / "t")
    (tmp_path / "t").write_text(" a x\n")
    with pytest.raises(DataError, match=r"t:1: line starts with whitespace"):
        read_table(tmp_path / "t")


def test_ids_with_whitespace_rejected_on_write(tmp_path):
    with pytest.raises(DataError, match="whitespace"):
        write_table(tmp_path / "t", {"a b": "x"})
    with pytest.raises(DataError, match="whitespace"):
        write_list(tmp_path / "l", ["ok", "not ok"])
    assert not (tmp_path / "t").exists()


def test_list_errors(tmp_path):
    (tmp_path / "a.lst").write_text("u1\nu2\nu1\n")
    with pytest.raises(DataError, match=r"a\.lst:3: duplicate"):
        read_list(tmp_path / "a.lst")
    (tmp_path / "b.lst").write_text("u1\nu 2\n")
    with pytest.raises(DataError, match=r"b\.lst:2: .*whitespace"):
        read_list(tmp_path / "b.lst")


def test_non_utf8(tmp_path):
    (tmp_path / "t").write_bytes(b"a x\nb \xff\xfe\n")
    with pytest.raises(DataError, match=r"t:2: not valid UTF-8"):
        read_table(tmp_path / "t")


def test_utt2num_frames_and_labels(tmp_path):
    (tmp_path / "n").write_text("a 10\nb 3\n")
    assert read_utt2num_frames(tmp_path / "n") == {"a": 10, "b": 3}
    (tmp_path / "n").write_text("a ten\n")
    with pytest.raises(DataError, match="'ten'"):
        read_utt2num_frames(tmp_path / "n")
    (tmp_path / "l").write_text("a bonafide\nb spoof A07\n")
    assert read_utt2label(tmp_path / "l") == {"a": ("bonafide", "-"), "b": ("spoof", "A07")}
    (tmp_path / "l").write_text("a genuine\n")
    with pytest.raises(DataError, match="bonafide"):
        read_utt2label(tmp_path / "l")


def test_write_utt2label_round_trip_and_refusals(tmp_path):
    from pylib.io import read_utt2label, write_utt2label

    p = tmp_path / "utt2label"
    write_utt2label(p, {"b": ("spoof", "A01"), "a": ("bonafide", None)})
    assert p.read_text() == "a bonafide -\nb spoof A01\n"
    assert read_utt2label(p) == {"a": ("bonafide", "-"), "b": ("spoof", "A01")}
    with pytest.raises(ValueError, match="not \\(bonafide\\|spoof"):
        write_utt2label(p, {"a": ("fake", "-")})
