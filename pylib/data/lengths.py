"""Feature lengths from file sizes and audio headers (no decoding), cached in the dump folder.

The cache `<root>/.lengths.json` maps a file (relative to the cache folder) to
`[size, mtime_ns, frames, sample_rate, wav layout, finite]`; an entry is used only when the file's
size and mtime still match, so a rewritten file is always re-measured and the cache can never be
stale. `finite` is set by stage 2 (make_lists) once it has scanned the file for NaN/Inf; the
loader then skips that scan for the file (it scans every other item it loads).
"""

import json
import os
from pathlib import Path

from pylib.data.rawwav import wav_layout
from pylib.errors import DataError
from pylib.io import audio_info, num_frames_f4, write_text_atomic

CACHE_NAME = ".lengths.json"
_VERSION = 3


class LengthCache:
    """Lengths of the files below `folder`; `save()` writes the cache atomically when it changed."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / CACHE_NAME
        self.entries = {}
        self.dirty = False
        self.hits = 0
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") == _VERSION:
                    self.entries = data["files"]
            except (ValueError, KeyError, TypeError, AttributeError):
                self.entries = {}  # a damaged cache is only a cache: measure again
                self.dirty = True

    def _key(self, path, feat):
        return f"{os.path.relpath(path, self.folder)}:{feat.dim}"

    def frames(self, path, feat, sample_rate=None):
        """Frames of `path` as feature `feat` (samples for a waveform); DataError naming the file."""
        return self.info(path, feat, sample_rate)[0]

    def info(self, path, feat, sample_rate=None):
        """(frames, wav layout for pylib.data.rawwav or None, finite-checked) of `path`.

        DataError naming the file when it is missing or unusable.
        """
        path = Path(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DataError(
                f"{path}: feature file not found; rerun feature extraction (stage 1), or rerun stage 2 "
                f"(make_lists) so the list leaves this utterance out"
            ) from None
        key = self._key(path, feat)
        hit = self.entries.get(key)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            self.hits += 1
            n, sr, layout = hit[2], hit[3], hit[4]
            finite = bool(hit[5]) if len(hit) > 5 else False
        else:
            finite = False
            layout = None
            if feat.is_audio:
                layout = wav_layout(path)
                sr, n = (layout[0], layout[1]) if layout else audio_info(path)
            else:
                n, sr = num_frames_f4(path, feat.dim), None
            self.entries[key] = [st.st_size, st.st_mtime_ns, n, sr, layout, False]
            self.dirty = True
        if sample_rate is not None and sr is not None and sr != sample_rate:
            raise DataError(
                f"{path}: sample rate {sr} Hz, but data.sample_rate is {sample_rate} Hz; re-extract the "
                f"waveforms at {sample_rate} Hz (stage 1) or fix data.sample_rate"
            )
        return n, (tuple(layout) if layout else None), finite

    def mark_finite(self, path, feat):
        """Record that `path` (measured by `info` just before) holds no NaN/Inf."""
        entry = self.entries[self._key(Path(path), feat)]
        if len(entry) > 5 and not entry[5]:
            entry[5] = True
            self.dirty = True

    def save(self):
        if not self.dirty:
            return
        try:
            write_text_atomic(self.path, json.dumps({"version": _VERSION, "files": self.entries}))
        except OSError:
            pass  # a read-only dump still loads; it is only measured again next time
        self.dirty = False


def align(lengths, features, tolerance, paths=None):
    """Common length in samples of one utterance's features, on the features' common frame grid.

    lengths: frames per feature (same order as `features`). Lengths that disagree (in samples,
    frames x hop) by more than `tolerance` frames of the coarsest feature raise DataError naming
    the two files; otherwise the result is the shortest rounded down to a multiple of the lcm of the
    hops, so each feature i covers exactly result / hop_i frames of the same region.
    """
    from pylib.data.spec import frame_step

    samples = [n * f.hop for n, f in zip(lengths, features)]
    lo = min(range(len(samples)), key=samples.__getitem__)
    hi = max(range(len(samples)), key=samples.__getitem__)
    coarse = max(f.hop for f in features)
    if samples[hi] - samples[lo] > tolerance * coarse:
        where = (lambda i: str(paths[i])) if paths else (lambda i: features[i].name)
        raise DataError(
            f"length mismatch: {where(lo)} has {lengths[lo]} frames ({samples[lo]} samples at hop "
            f"{features[lo].hop}) but {where(hi)} has {lengths[hi]} frames ({samples[hi]} samples at hop "
            f"{features[hi].hop}); more than data.length_tolerance = {tolerance} frames of {coarse} "
            f"samples. "
            f"Re-extract the features (stage 1), or set data.on_mismatch: skip to drop such utterances"
        )
    step = frame_step(features)
    return samples[lo] // step * step
