"""Waveform files: wav (16/24/32-bit PCM, 32/64-bit float) and flac, mono, as float32 in [-1, 1].

A wav.scp value is a path or a Kaldi pipe `cmd ... |`. A pipe runs as `bash -o pipefail -c cmd`
with stdin closed, its stderr captured and a timeout (NNSP_PIPE_TIMEOUT seconds, default 600); its
output passes the checks a file does (header against the data, channels, rate, finite samples).
"""

import io
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from pylib.errors import DataError
from pylib.io.atomic import write_bytes_atomic

SUPPORTED_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
_EXT_FORMAT = {".wav": "WAV", ".flac": "FLAC"}
_FORMATS_FOR_EXT = {".wav": {"WAV", "WAVEX", "RF64"}, ".flac": {"FLAC"}}
_SUBTYPE_BYTES = {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}
# `data` chunk sizes that mean "unknown" (streamed writers): 0, 0xFFFFFFFF, and sox's 0x7FFFF000
_UNKNOWN_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000)
PIPE_TIMEOUT_ENV = "NNSP_PIPE_TIMEOUT"
DEFAULT_PIPE_TIMEOUT = 600.0


def _frames_bound(info, size):
    """Most frames a file of `size` bytes can hold in `info`'s format (None where unknown).

    FLAC: a frame holds at most 65535 samples per channel and takes at least a few bytes, so a
    file cannot hold more than 65535 samples per 8 bytes (a loose bound, meant to catch headers
    that claim billions of samples before anything is allocated).
    """
    if info.format == "FLAC":
        return (size // 8 + 1) * 65535
    nbytes = _SUBTYPE_BYTES.get(info.subtype)
    if info.format in ("WAV", "WAVEX", "RF64") and nbytes:
        return size // (nbytes * max(info.channels, 1))
    return None


def _check_frames_fit(where, info, size):
    bound = _frames_bound(info, size)
    if bound is not None and info.frames > bound:
        raise DataError(
            f"{where}: the header claims {info.frames} samples, but {size} bytes can hold at most "
            f"{bound}; the header is damaged. Convert or copy the file again (e.g. `sox in.flac "
            f"-b 16 out.wav`), or drop it from wav.scp"
        )


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
    size = path.stat().st_size
    if info.format == "WAV":
        with open(path, "rb") as f:
            _check_wav_data_size(f, size, path)
    _check_frames_fit(path, info, size)
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


def _check_wav_data_size(f, size, where):
    """DataError if the RIFF `data` chunk in the open binary file `f` (`size` bytes) declares more
    bytes than there are.

    libsndfile silently reads whatever is there, so a wav cut short by an interrupted copy (or a
    pipe that stopped early) would otherwise load as a shorter utterance. Sizes in _UNKNOWN_SIZES
    mean "unknown" (streamed writers).
    """
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        chunk = f.read(8)
        cid, n = chunk[:4], int.from_bytes(chunk[4:8], "little")
        if cid == b"data":
            if n not in _UNKNOWN_SIZES and pos + 8 + n > size:
                raise DataError(
                    f"{where}: truncated: the header declares {n} bytes of audio but there are "
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

    PCM subtypes clip to [-1, 1) rather than wrapping around. The file is encoded in memory and
    written by Python, so a full disk is an OSError (ENOSPC) naming `path`, not libsndfile's
    "System error".
    """
    path = Path(path)
    fmt = _EXT_FORMAT.get(path.suffix.lower(), "WAV")
    write_bytes_atomic(path, encode_wav(data, sample_rate, subtype, fmt))
    return path


def encode_wav(data, sample_rate, subtype="PCM_16", fmt="WAV"):
    """The bytes `write_wav` writes: mono float audio, PCM subtypes clipped to [-1, 1)."""
    data = np.asarray(data, dtype=np.float32).reshape(-1)
    if subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, data, int(sample_rate), subtype=subtype, format=fmt)
    return buf.getvalue()


def pipe_timeout():
    """Seconds a wav.scp pipe may run: $NNSP_PIPE_TIMEOUT, default 600."""
    raw = os.environ.get(PIPE_TIMEOUT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_PIPE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise DataError(f"{PIPE_TIMEOUT_ENV}={raw!r}: must be a positive number of seconds; unset it "
                        f"for the default ({DEFAULT_PIPE_TIMEOUT:g})")
    return value


def _stderr_tail(raw, n=600):
    text = raw.decode("utf-8", "replace").strip()
    return ("..." + text[-n:]) if len(text) > n else (text or "(nothing on stderr)")


def run_pipe(cmd, timeout=None):
    """stdout of the wav.scp command `cmd` (without its trailing `|`), as bytes.

    Runs `bash -o pipefail -c cmd` in its own process group with stdin closed; a non-zero exit or
    a timeout stops the whole group and raises a DataError with the command and its stderr's end.
    """
    timeout = pipe_timeout() if timeout is None else timeout
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", cmd], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise DataError(
            f"wav.scp command `{cmd}` did not finish within {timeout:g} s and was stopped (stderr: "
            f"{_stderr_tail(err)}); check the command by hand, or raise {PIPE_TIMEOUT_ENV}"
        ) from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    if proc.returncode != 0:
        code = proc.returncode if proc.returncode > 0 else f"signal {-proc.returncode}"
        raise DataError(
            f"wav.scp command `{cmd}` failed (exit {code}; stderr: {_stderr_tail(err)}); run it by "
            f"hand to see why, fix it or drop the utterance"
        )
    return out


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_wav_bytes(raw, where):
    """Decode a whole wav/flac held in `raw` bytes with a file's checks -> (sample_rate, (T,) float32)."""
    if not raw:
        raise DataError(f"{where}: gives no output (no audio); check the command, or drop the utterance")
    buf = io.BytesIO(raw)
    try:
        info = sf.info(buf)
    except Exception as e:
        raise DataError(
            f"{where}: output is not wav/flac audio ({str(e).strip()}); check the command"
        ) from None
    if info.format == "WAV":
        _check_wav_data_size(buf, len(raw), where)
    _check_frames_fit(where, info, len(raw))
    if info.channels != 1:
        raise DataError(f"{where}: gives {info.channels} channels; nnsp expects mono (add `remix -` to a "
                        f"sox command, or pick one channel)")
    if info.subtype not in SUPPORTED_SUBTYPES:
        raise DataError(f"{where}: sample format {info.subtype} is not supported (use 16/24/32-bit PCM "
                        f"or float, e.g. `sox ... -b 16 -t wav -`)")
    buf.seek(0)
    try:
        data, sr = sf.read(buf, dtype="float32", always_2d=True)
    except Exception as e:
        raise DataError(
            f"{where}: could not decode its output ({str(e).strip()}); it is truncated or damaged"
        ) from None
    if data.shape[0] == 0:
        raise DataError(f"{where}: gives no samples (empty audio); drop the utterance")
    data = np.ascontiguousarray(data[:, 0])
    if not np.isfinite(data).all():
        raise DataError(f"{where}: gives NaN or Inf samples; fix the command or drop the utterance")
    return sr, data


def read_wav_entry(entry, sample_rate=None):
    """Read one wav.scp value: a path, or a Kaldi-style pipe `cmd ... |` whose stdout is a wav/flac.

    With `sample_rate` given, a file at another rate is a DataError (callers that resample pass None).
    """
    entry = str(entry).strip()
    if entry.endswith("|"):
        cmd = entry[:-1].strip()
        where = f"wav.scp command `{cmd}`"
        sr, data = read_wav_bytes(run_pipe(cmd), where)
    else:
        sr, data = read_wav(entry)
        where = entry
    if sample_rate is not None and sr != sample_rate:
        raise DataError(
            f"{where}: sample rate {sr} Hz, but the recipe expects {sample_rate} Hz; resample the "
            f"corpus (e.g. `sox in.wav -r {sample_rate} out.wav`) or allow resampling in the features config"
        )
    return sr, data
