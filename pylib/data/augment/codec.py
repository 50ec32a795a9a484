"""Codec re-encoding through ffmpeg: mp3 (libmp3lame), aac (ffmpeg's native encoder, in .m4a)
and opus (libopus, in .ogg) at a chosen bit rate, then decoded back to the input's rate.

The waveform goes to ffmpeg as float32 through a pipe; the encoded file lies in a private
temporary folder (a file, not a pipe, so that the container records the encoder delay and the
decoder removes it: the output is aligned with the input); the decoded float32 comes back
through a pipe and is cut or zero-padded to the input's length.

ffmpeg comes from the system packages (`apt-get install ffmpeg` on Debian/Ubuntu,
`conda install ffmpeg` in a conda environment); without it `require_ffmpeg` raises a UserError
that says so.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pylib.data.augment.config import CODECS
from pylib.errors import ConfigError, UserError

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # what libopus takes; others go through 48 kHz
INSTALL_HINT = "install it: `apt-get install ffmpeg` (Debian/Ubuntu) or `conda install ffmpeg` (conda)"
TIMEOUT_S = 120

_encoders = {}  # ffmpeg path -> set of encoder names it has


def find_ffmpeg():
    """The ffmpeg executable's path, or None."""
    return shutil.which("ffmpeg")


def require_ffmpeg(codecs=tuple(CODECS)):
    """ffmpeg's path, checked to have the encoders of `codecs`; a UserError says how to install it."""
    exe = find_ffmpeg()
    if exe is None:
        raise UserError(f"data.augment: codec augmentation needs ffmpeg, which is not on PATH; "
                        f"{INSTALL_HINT}")
    if exe not in _encoders:
        proc = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, timeout=TIMEOUT_S)
        _encoders[exe] = {line.split()[1] for line in proc.stdout.decode(errors="replace").splitlines()
                          if len(line.split()) > 1 and line.startswith(" A")}
    missing = [c for c in codecs if CODECS[c][0] not in _encoders[exe]]
    if missing:
        raise UserError(
            f"data.augment: {exe} has no encoder {', '.join(CODECS[c][0] for c in missing)} (for "
            f"{', '.join(missing)}); install a full ffmpeg build ({INSTALL_HINT}) or leave those codecs out"
        )
    return exe


def _run(cmd, data, what):
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"ffmpeg ({what}) did not finish within {TIMEOUT_S} s: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-600:]
        raise UserError(f"ffmpeg ({what}) failed (exit {proc.returncode}): {err}; command: {' '.join(cmd)}")
    return proc.stdout


def encode_decode(x, sample_rate, codec, kbps, exe=None):
    """x (T,) float through `codec` at `kbps` kbit/s and back -> float32 (T,) at `sample_rate`."""
    if codec not in CODECS:
        raise ConfigError(f"codec {codec!r}: use one of {', '.join(CODECS)}")
    exe = exe or require_ffmpeg((codec,))
    encoder, suffix = CODECS[codec]
    x = np.asarray(x, dtype="<f4").reshape(-1)
    quiet = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    raw = ["-f", "f32le", "-ac", "1"]
    rate = ["-ar", "48000"] if codec == "opus" and sample_rate not in OPUS_RATES else []
    with tempfile.TemporaryDirectory(prefix="nnsp-codec-") as tmp:
        coded = str(Path(tmp) / f"coded{suffix}")
        _run(quiet + raw + ["-ar", str(int(sample_rate)), "-i", "pipe:0"] + rate
             + ["-c:a", encoder, "-b:a", f"{int(kbps)}k", coded], x.tobytes(), f"{codec} encoding")
        out = _run(quiet + ["-i", coded] + raw + ["-ar", str(int(sample_rate)), "pipe:1"], None,
                   f"{codec} decoding")
    y = np.frombuffer(out, dtype="<f4")
    aligned = np.zeros(x.shape[0], dtype=np.float32)
    n = min(x.shape[0], y.shape[0])
    aligned[:n] = y[:n]
    return aligned


def apply_codec(x, rng, cfg, sample_rate):
    """One codec and bit rate drawn from cfg, applied to x."""
    codec = cfg.codec[int(rng.integers(len(cfg.codec)))]
    rates = cfg.rates(codec)
    kbps = rates[int(rng.integers(len(rates)))]
    return encode_decode(x, sample_rate, codec, kbps).astype(np.float64)
