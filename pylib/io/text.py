"""Text files that people write or edit (yaml configs, Kaldi tables, lists, score and protocol
files): UTF-8, a leading byte-order mark ignored (Windows editors write one). Bytes that are not
UTF-8 are an error naming the file, the line and the byte, with how to fix it."""

from pathlib import Path

from pylib.errors import DataError
from pylib.io.names import strip_bom

RESAVE = "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 old > new)"


def decode_utf8(raw, where, error=DataError, fix=RESAVE):
    """`raw` bytes as text without a leading byte-order mark.

    Bytes that are not UTF-8 raise `error` (a UserError class) saying '<where>: not UTF-8 text:
    byte 0x.. on line N (offset K); <fix>'.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(
            f"{where}: not UTF-8 text: byte 0x{raw[e.start]:02x} on line {line} (offset {e.start}); {fix}"
        ) from None
    return strip_bom(text)


def read_utf8(path, error=DataError, fix=RESAVE):
    """The text of the file at `path` (see `decode_utf8`); reading errors (a missing file) propagate."""
    path = Path(path)
    return decode_utf8(path.read_bytes(), path, error, fix)
