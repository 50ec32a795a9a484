"""Direct reads of plain wav files: the header parsed once, samples read with np.fromfile.

Opening a file through libsndfile costs about 2 ms, more than reading a few seconds of audio; a
mono 16-bit PCM or 32-bit float RIFF wav (what stage 1 writes) is read here at the price of a
plain np.fromfile. Anything else (flac, 24-bit, extensible headers, RF64) returns None from
`wav_layout` and the caller uses soundfile.
"""

import struct

import numpy as np

_DTYPES = {(1, 16): "<i2", (3, 32): "<f4"}


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


def read_wav_rows(path, layout, start, stop):
    """Samples [start, stop) as float32 (n,) scaled as soundfile does (PCM16 / 32768)."""
    _, _, offset, dtype = layout
    width = np.dtype(dtype).itemsize
    data = np.fromfile(path, dtype=dtype, count=stop - start, offset=offset + start * width)
    if dtype == "<i2":
        out = data.astype(np.float32)
        out *= np.float32(1.0 / 32768.0)
        return out
    return data.astype(np.float32, copy=False)
