"""Direct reads of raw `<f4` rows and plain wav files: the header parsed once, samples read raw.

Opening a file through libsndfile costs about 2 ms, more than reading a few seconds of audio; a
mono 16-bit PCM or 32-bit float RIFF wav (what stage 1 writes) is read here at the price of one
pread (`read_raw`, also used for `<f4` features). Anything else (flac, 24-bit, extensible
headers, RF64) returns None from `wav_layout` and the caller uses soundfile.
"""

import math
import os
import struct

import numpy as np
import soundfile as sf

from pylib.errors import DataError
from pylib.io import check_finite_array

_DTYPES = {(1, 16): "<i2", (3, 32): "<f4"}
_PCM16_SCALE = np.float32(1.0 / 32768.0)
_HAS_PREADV = hasattr(os, "preadv")
_O_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # O_BINARY: no newline translation on Windows


def wav_layout(path):
    """(sample_rate, num_samples, data offset in bytes, dtype str) of a plain mono wav, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            fmt = None
            pos = 12
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    body = f.read(size + (size & 1))
                    if len(body) < 16:
                        return None
                    tag, channels, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                    fmt = (tag, channels, sr, bits)
                elif cid == b"data":
                    if fmt is None or fmt[1] != 1 or (fmt[0], fmt[3]) not in _DTYPES:
                        return None
                    dtype = _DTYPES[(fmt[0], fmt[3])]
                    f.seek(0, 2)
                    if pos + 8 + size > f.tell():  # a streamed header with an unknown size
                        return None
                    return fmt[2], size // (fmt[3] // 8), pos + 8, dtype
                else:
                    f.seek(size + (size & 1), 1)
                pos += 8 + size + (size & 1)
    except OSError:
        return None


def read_raw(path, dtype, offset, count):
    """Up to `count` items of `dtype` at byte `offset` of `path` -> (k,) array, k < count at EOF.

    os.open + pread straight into a fresh array: no Python file object, no FILE* set-up or stdio
    copy, which makes it about 1.5x as fast as np.fromfile(offset=...) on the small files of a dump.
    """
    out = np.empty(count, dtype=dtype)
    buf = out.view(np.uint8)
    got = 0
    fd = os.open(path, _O_FLAGS)
    try:
        while got < buf.size:
            k = _pread_into(fd, buf[got:], offset + got)
            if not k:
                break
            got += k
    finally:
        os.close(fd)
    return out if got == buf.size else out[: got // out.itemsize]


def _pread_into(fd, buf, offset):
    if _HAS_PREADV:
        return os.preadv(fd, [buf], offset)
    os.lseek(fd, offset, os.SEEK_SET)  # no preadv (Windows): one extra copy
    data = os.read(fd, buf.size)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return len(data)


def read_wav_rows(path, layout, start, stop):
    """Samples [start, stop) as float32 (n,) scaled as soundfile does (PCM16 / 32768)."""
    _, _, offset, dtype = layout
    width = 2 if dtype == "<i2" else 4
    data = read_raw(path, dtype, offset + start * width, stop - start)
    if dtype == "<i2":
        out = data.astype(np.float32)  # one conversion pass, then the scale in place
        out *= _PCM16_SCALE
        return out
    return data.astype(np.float32, copy=False)


def read_rows(path, feat, start, stop, layout=None, check=True):
    """Rows [start, stop) of one feature file -> float32 (stop - start, dim); DataError naming the file.

    `<f4` rows are read with one pread at their offset (cheaper than setting up a memmap, or
    np.fromfile's stdio, for every item); `layout` (from the length cache) lets a plain wav skip
    libsndfile. check=False skips the NaN/Inf scan (for files stage 2 has scanned already).
    """
    n = stop - start
    try:
        if layout is not None:  # only audio has a layout
            data = read_wav_rows(path, layout, start, stop)[:, None]
        elif feat.is_audio:
            data = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)[0]
            if data.shape[1] != 1:
                raise DataError(f"{path}: has {data.shape[1]} channels; nnsp expects mono")
        else:
            data = read_raw(path, "<f4", start * feat.dim * 4, n * feat.dim)
            data = data[: data.size // feat.dim * feat.dim].reshape(-1, feat.dim)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: could not be read ({str(e).strip()}); re-extract it (stage 1)") from None
    if data.shape[0] != n:
        raise DataError(
            f"{path}: expected frames {start}..{stop} but the file holds fewer; it changed after the "
            f"lists were made. Rerun stage 2 (make_lists)"
        )
    # min and max propagate NaN/Inf and cost far less than a boolean isfinite array;
    # the slow scan runs only to name the first bad value
    if check and data.size and not (math.isfinite(data.min()) and math.isfinite(data.max())):
        check_finite_array(data, path)
    return data
