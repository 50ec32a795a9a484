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


BAD_FILES = {  # case: (reader, file name, content, what the error says)
    "duplicate_id": (read_wav_scp, "wav.scp", b"a x\nb y\na z\n", r"wav\.scp:3: duplicate id 'a'"),
    "unsorted": (read_wav_scp, "wav.scp", b"a x\nc y\nb z\n", r"wav\.scp:3: .*sorted"),
    "missing_value": (read_table, "t", b"a x\nb\n", r"t:2: id 'b' has no value"),
    "leading_space": (read_table, "t", b" a x\n", r"t:1: line starts with whitespace"),
    "list_duplicate": (read_list, "a.lst", b"u1\nu2\nu1\n", r"a\.lst:3: duplicate"),
    "list_whitespace": (read_list, "b.lst", b"u1\nu 2\n", r"b\.lst:2: .*whitespace"),
    "non_utf8": (read_table, "t", b"a x\nb \xff\xfe\n",
                 r"t: not UTF-8 text: byte 0xff on line 2 \(offset 6\); re-save"),
    "frames_not_a_number": (read_utt2num_frames, "n", b"a ten\n", "'ten'"),
    "unknown_label": (read_utt2label, "l", b"a genuine\n", "bonafide"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_a_data_error_naming_the_line(tmp_path, case):
    read, name, content, match = BAD_FILES[case]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=match):
        read(tmp_path / name)


def test_unsorted_is_fine_where_order_is_not_required(tmp_path):
    (tmp_path / "wav.scp").write_text("a x\nc y\nb z\n")
    assert list(read_table(tmp_path / "wav.scp")) == ["a", "c", "b"]


def test_ids_with_whitespace_rejected_on_write(tmp_path):
    with pytest.raises(DataError, match="whitespace"):
        write_table(tmp_path / "t", {"a b": "x"})
    with pytest.raises(DataError, match="whitespace"):
        write_list(tmp_path / "l", ["ok", "not ok"])
    assert not (tmp_path / "t").exists()


def test_utt2num_frames_and_labels(tmp_path):
    (tmp_path / "n").write_text("a 10\nb 3\n")
    assert read_utt2num_frames(tmp_path / "n") == {"a": 10, "b": 3}
    (tmp_path / "l").write_text("a bonafide\nb spoof A07\n")
    assert read_utt2label(tmp_path / "l") == {"a": ("bonafide", "-"), "b": ("spoof", "A07")}


def test_write_utt2label_round_trip_and_refusals(tmp_path):
    from pylib.io import read_utt2label, write_utt2label

    p = tmp_path / "utt2label"
    write_utt2label(p, {"b": ("spoof", "A01"), "a": ("bonafide", None)})
    assert p.read_text() == "a bonafide -\nb spoof A01\n"
    assert read_utt2label(p) == {"a": ("bonafide", "-"), "b": ("spoof", "A01")}
    with pytest.raises(ValueError, match="not \\(bonafide\\|spoof"):
        write_utt2label(p, {"a": ("fake", "-")})
