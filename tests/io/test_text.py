"""pylib.io.text: the one UTF-8 reader of hand-edited text files (configs, tables, lists, scores)."""

import pytest

from pylib.config import load_yaml
from pylib.errors import ConfigError, DataError
from pylib.io import decode_utf8, read_table, read_utf8
from pylib.io.scores import read_scores
from pylib.io.split import read_keyed_lines


def test_a_leading_bom_is_dropped_and_the_rest_kept(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"\xef\xbb\xbfcaf\xc3\xa9 1\n\xef\xbb\xbfx\n")
    assert read_utf8(p) == "café 1\n\ufeffx\n"  # only the leading mark is a BOM
    assert decode_utf8(b"plain", "w") == "plain"


def test_bad_bytes_name_file_line_byte_and_fix(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"a 1\nb 2\nc \xe9\n")
    with pytest.raises(DataError) as e:
        read_utf8(p)
    assert str(e.value) == (f"{p}: not UTF-8 text: byte 0xe9 on line 3 (offset 10); "
                            "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 old > new)")
    with pytest.raises(ConfigError, match=r"w: not UTF-8 text: byte 0xff on line 1 \(offset 0\); do X"):
        decode_utf8(b"\xff", "w", ConfigError, "do X")


@pytest.mark.parametrize(
    "read, error",
    [(load_yaml, ConfigError), (read_table, DataError), (read_keyed_lines, DataError),
     (read_scores, DataError)],
)
def test_every_text_reader_shares_the_bom_and_the_error(tmp_path, read, error):
    p = tmp_path / "f.txt"
    p.write_bytes(b"\xef\xbb\xbfutt1: 1.5\n")  # a yaml mapping, and a table of id 'utt1:'
    got = read(p)
    assert got and "\ufeff" not in repr(got)  # the BOM is not part of the first id / key
    p.write_bytes(b"utt1: 1.5\nutt2: \xe9\n")
    with pytest.raises(error, match=r"f\.txt: not UTF-8 text: byte 0xe9 on line 2"):
        read(p)


def test_label_files_say_what_they_expected(tmp_path):
    from pylib.data.asvspoof import read_labels

    p = tmp_path / "protocol.txt"
    p.write_bytes(b"\xef\xbb\xbfLA_0079 LA_T_1 - - bonafide\nLA_0079 LA_T_2 - A01 sp\xe9oof\n")
    with pytest.raises(DataError, match=r"protocol\.txt: not UTF-8 text: byte 0xe9 on line 2 .*utt2label"):
        read_labels(p)
