"""Waveform files: wav (16/24/32-bit PCM, 32/64-bit float) and flac, mono, as float32 in [-1, 1]."""

from pathlib import Path

import numpy as np
import soundfile as sf

from pylib.errors import DataError
from pylib.io.atomic import atomic_path

SUPPORTED_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
_EXT_FORMAT = {".wav": "WAV", ".flac": "FLAC"}
_FORMATS_FOR_EXT = {".wav": {"WAV", "WAVEX", "RF64"}, ".flac": {"FLAC"}}


def _info(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: audio file not found; check the path in wav.scp (stage 0)")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises RuntimeError/LibsndfileError with terse text
        raise DataError(
            f"{path}: not a readable wav/flac file ({str(e).strip()}); the header is damaged or it is "
            f"another format. Convert it, e.g. `sox in.xxx -b 16 out.wav`, or drop it from wav.scp."
        ) from None
    if info.format == "WAV":
        _check_wav_data_size(path)
    allowed = _FORMATS_FOR_EXT.get(path.suffix.lower())
    if allowed and info.format not in allowed:
        raise DataError(
            f"{path}: the file holds {info.format} data but is named {path.suffix}; rename it to "
            f".{info.format.lower()} (and update wav.scp)"
        )
    if info.subtype not in SUPPORTED_SUBTYPES:
        raise DataError(
            f"{path}: sample format {info.subtype} is not supported (use 16/24/32-bit PCM or float); "
            f"convert with `sox {path.name} -b 16 out.wav`"
        )
    if info.channels != 1:
        raise DataError(
            f"{path}: has {info.channels} channels; nnsp expects mono. Mix down with "
            f"`sox {path.name} out.wav remix -` or pick one channel"
        )
    return info


def _check_wav_data_size(path):
    """DataError if the RIFF `data` chunk declares more bytes than the file holds.

    libsndfile silently reads whatever is there, so a wav cut short by an interrupted copy would
    otherwise load as a shorter utterance. Sizes 0 and 0xFFFFFFFF mean "unknown" (streamed writers).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, n = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"data":
                if n not in (0, 0xFFFFFFFF) and pos + 8 + n > size:
                    raise DataError(
                        f"{path}: truncated: the header declares {n} bytes of audio but the file holds "
                        f"{max(size - pos - 8, 0)}; the copy is incomplete or damaged. Copy or convert "
                        f"it again (e.g. `sox in.wav -b 16 out.wav`), or drop it from wav.scp"
                    )
                return
            pos += 8 + n + (n & 1)  # chunks are padded to an even size


def audio_info(path):
    """(sample_rate, num_samples) from the header alone, no decoding. Raises DataError if unusable."""
    info = _info(path)
    return info.samplerate, info.frames


def read_wav(path):
    """Read a mono wav/flac file -> (sample_rate, float32 array (T,) in [-1, 1])."""
    info = _info(path)
    if info.frames == 0:
        raise DataError(f"{path}: holds no samples (empty audio); drop it from wav.scp")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as e:
        raise DataError(
            f"{path}: could not decode audio ({str(e).strip()}); the file is truncated or damaged"
        ) from None
    data = np.asarray(data, dtype=np.float32).reshape(-1)
    if data.size == 0:
        raise DataError(f"{path}: holds no samples (empty audio); drop it from wav.scp")
    if not np.isfinite(data).all():
        raise DataError(f"{path}: contains NaN or Inf samples; regenerate or drop the file")
    return sr, data


def write_wav(path, sample_rate, data, subtype="PCM_16"):
    """Write mono float audio in [-1, 1] to wav/flac (format from the suffix), atomically.

    PCM subtypes clip to [-1, 1) rather than wrapping around.
    """
    path = Path(path)
    data = np.asarray(data, dtype=np.float32).reshape(-1)
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    fmt = _EXT_FORMAT.get(path.suffix.lower(), "WAV")
    with atomic_path(path, suffix=path.suffix or ".wav") as tmp:
        sf.write(str(tmp), data, int(sample_rate), subtype=subtype, format=fmt)
    return path


def read_wav_entry(entry, sample_rate=None):
    """Read one wav.scp value: a path, or a Kaldi-style pipe `cmd ... |` whose stdout is a wav/flac.

    With `sample_rate` given, a file at another rate is a DataError (callers that resample pass None).
    """
    entry = str(entry).strip()
    if entry.endswith("|"):
        import io
        import subprocess

        cmd = entry[:-1].strip()
        proc = subprocess.run(cmd, shell=True, capture_output=True)
        if proc.returncode != 0 or not proc.stdout:
            err = proc.stderr.decode("utf-8", "replace").strip()[-300:]
            raise DataError(f"wav.scp command `{cmd}` failed (exit {proc.returncode}): {err}")
        try:
            data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        except Exception as e:
            raise DataError(f"wav.scp command `{cmd}`: output is not wav/flac audio ({e})") from None
        if data.shape[1] != 1:
            raise DataError(f"wav.scp command `{cmd}`: gives {data.shape[1]} channels; nnsp expects mono")
        if data.shape[0] == 0:
            raise DataError(f"wav.scp command `{cmd}`: gives no samples")
        data = data[:, 0]
        where = f"command `{cmd}`"
    else:
        sr, data = read_wav(entry)
        where = entry
    if sample_rate is not None and sr != sample_rate:
        raise DataError(
            f"{where}: sample rate {sr} Hz, but the recipe expects {sample_rate} Hz; resample the "
            f"corpus (e.g. `sox in.wav -r {sample_rate} out.wav`) or allow resampling in the features config"
        )
    return sr, data
