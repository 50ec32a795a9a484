"""Kaldi ark/scp feature matrices <-> nnsp `<f4` dump folders, through kaldiio.

A dump folder holds one `<utt>.f4` per utterance (row-major (frames, dim), little-endian float32),
`utt2num_frames`, and a `.lst` of the utterance ids. Kaldi's empty matrix (0 x 0) becomes a
(0, dim) file; Kaldi vectors are refused unless asked to read them as one value per frame, since a
vector is as often a per-utterance embedding (x-vector) as a per-frame track (VAD).
"""

import os
import warnings
from pathlib import Path

import kaldiio
import numpy as np
from tqdm import tqdm

from pylib.errors import DataError
from pylib.io.atomic import atomic_path
from pylib.io.f4 import check_finite_array, read_f4, write_f4
from pylib.io.names import check_name, check_not_input, check_out_dir, safe_join
from pylib.io.tables import read_list, read_utt2num_frames, write_list, write_table


def _as_matrix(value, utt, where, vectors_as_frames):
    """kaldiio value -> float32 (frames, dim); DataError naming `where` for anything else."""
    if isinstance(value, tuple):  # kaldiio gives (rate, samples) for wav entries
        raise DataError(
            f"{where}: utterance {utt!r} is audio, not a feature matrix; use wav.scp for audio and "
            f"extract features with stage 1"
        )
    arr = np.asarray(value)
    if arr.ndim == 1:
        if not vectors_as_frames:
            raise DataError(
                f"{where}: utterance {utt!r} is a vector of length {arr.shape[0]}, not a matrix; pass "
                f"--vectors-as-frames to read it as one value per frame (frames, 1)"
            )
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataError(f"{where}: utterance {utt!r} has shape {arr.shape}; expected a 2-D matrix")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"{where}: utterance {utt!r} has dtype {arr.dtype}; expected numbers")
    return arr.astype(np.float32, copy=False)


def _iter_kaldi(path, kind):
    """Yield (utt, value) from a scp (random access, pipes allowed) or an ark (sequential)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {kind} file not found")
    if kind == "ark":
        try:
            yield from kaldiio.load_ark(str(path))
        except Exception as e:
            raise DataError(f"{path}: not a readable Kaldi ark ({type(e).__name__}: {e})") from None
        return
    try:
        table = kaldiio.load_scp(str(path))
        keys = list(table.keys())
    except Exception as e:
        raise DataError(f"{path}: not a readable Kaldi scp ({type(e).__name__}: {e})") from None
    for utt in keys:
        try:
            with warnings.catch_warnings():  # kaldiio warns before raising; our error says it all
                warnings.simplefilter("ignore")
                value = table[utt]
        except FileNotFoundError as e:
            raise DataError(
                f"{path}: utterance {utt!r} points to a missing file ({e.filename or e}); the ark was "
                f"moved or deleted, or the scp holds paths relative to another folder (run from the "
                f"folder the scp was written in, or fix the paths)"
            ) from None
        except Exception as e:
            raise DataError(
                f"{path}: utterance {utt!r}: cannot read its matrix ({type(e).__name__}: {e}); the ark is "
                f"truncated or the offset is wrong"
            ) from None
        yield utt, value


def kaldi_to_f4(src, out_dir, kind="scp", dim=None, list_path=None, ext=".f4", vectors_as_frames=False):
    """Convert a Kaldi feats.scp (kind='scp') or ark (kind='ark') into a `<f4` dump folder.

    Writes `<out_dir>/<utt><ext>` (frames, dim) for every utterance, `<out_dir>/utt2num_frames`, and
    the list of ids to `list_path` (default `<out_dir>/<out_dir name>.lst`). Every matrix must have
    the same dim (`dim` if given). Returns (dim, {utt: frames}).
    """
    out_dir = check_out_dir(Path(out_dir), "--to-dir")
    list_path = Path(list_path) if list_path else out_dir / f"{out_dir.name}.lst"
    if Path(src).is_file():
        check_not_input(list_path, [src], "list")
    src_real, out_real = os.path.realpath(src), os.path.realpath(out_dir)
    frames, seen = {}, set()
    items = tqdm(_iter_kaldi(src, kind), desc=f"convert {Path(src).name}", unit="utt", disable=None)
    for utt, value in items:
        if utt in seen:
            raise DataError(f"{src}: duplicate utterance id {utt!r}; each id must appear once")
        seen.add(utt)
        check_name(utt, src)
        mat = _as_matrix(value, utt, src, vectors_as_frames)
        if mat.shape == (0, 0):  # Kaldi's empty matrix carries no dim
            mat = np.zeros((0, dim or 0), dtype=np.float32)
        elif dim is None:
            dim = mat.shape[1]
        elif mat.shape[1] != dim:
            raise DataError(
                f"{src}: utterance {utt!r} has dim {mat.shape[1]}, expected {dim} (set by --dim or by the "
                f"first utterance); features of one kind must share a dim"
            )
        check_finite_array(mat, f"{src} (utterance {utt!r})")
        path = safe_join(out_dir, utt, ext, where=src)
        if os.path.join(out_real, path.name) == src_real:
            raise DataError(f"{path}: this output would overwrite the input {src}; use another --to-dir")
        write_f4(path, mat)
        frames[utt] = mat.shape[0]
    if not frames:
        raise DataError(f"{src}: holds no utterances")
    if dim is None:
        raise DataError(f"{src}: every matrix is empty, so the dim is unknown; pass --dim")
    write_table(out_dir / "utt2num_frames", frames, sort=True)
    write_list(list_path, sorted(frames))
    return dim, frames


def f4_ids(in_dir, list_path=None, ext=".f4"):
    """Ids to export from a dump folder: the list if given, else utt2num_frames, else every `*<ext>`."""
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise DataError(f"{in_dir}: feature folder not found; run feature extraction (stage 1) first")
    if list_path:
        return read_list(list_path)
    if (in_dir / "utt2num_frames").is_file():
        return sorted(read_utt2num_frames(in_dir / "utt2num_frames"))
    ids = sorted(p.name[: -len(ext)] for p in in_dir.glob(f"*{ext}") if p.is_file())
    if not ids:
        raise DataError(f"{in_dir}: no *{ext} files found; check the folder and --ext")
    return ids


def f4_to_kaldi(in_dir, dim, ark_path, scp_path=None, list_path=None, ext=".f4", compress=False):
    """Write the `<f4` files of a dump folder into one Kaldi binary ark (+ scp); returns {utt: frames}.

    Frame counts are checked against `<in_dir>/utt2num_frames` when it exists, which also catches a
    wrong `dim` that happens to divide the file size. The ark and scp are written atomically; the
    scp names the ark by `ark_path` as given (Kaldi's convention: relative to where you run).
    """
    in_dir = Path(in_dir)
    ids = f4_ids(in_dir, list_path, ext)
    if scp_path is None:
        scp_path = Path(ark_path).with_suffix(".scp")
    real_in = os.path.realpath(in_dir)
    inputs = {os.path.join(real_in, f"{u}{ext}") for u in ids} | {os.path.join(real_in, "utt2num_frames")}
    if list_path:
        inputs.add(os.path.realpath(list_path))
    for out in (ark_path, scp_path):
        if os.path.realpath(out) in inputs:
            raise DataError(
                f"{out}: this output would overwrite one of the inputs in {in_dir}; write the ark and "
                f"scp somewhere else"
            )
    expected = read_utt2num_frames(in_dir / "utt2num_frames") if (in_dir / "utt2num_frames").is_file() else {}
    offsets, frames = {}, {}
    method = 2 if compress else None  # kaldiio: 2 = Kaldi's speech-feature compression
    with atomic_path(ark_path) as tmp, open(tmp, "wb") as f:
        for utt in tqdm(ids, desc=f"write {Path(ark_path).name}", unit="utt", disable=None):
            path = in_dir / f"{utt}{ext}"
            mat = read_f4(path, dim)
            if utt in expected and expected[utt] != mat.shape[0]:
                raise DataError(
                    f"{path}: {mat.shape[0]} frames at dim {dim}, but utt2num_frames says {expected[utt]}; "
                    f"the dim is wrong (check --dim against the config) or the file was rewritten"
                )
            f.write(f"{utt} ".encode())
            offsets[utt] = f.tell()
            if mat.shape[0] == 0:
                mat = np.zeros((0, 0), dtype=np.float32)  # what Kaldi writes for an empty matrix
                kaldiio.save_mat(f, mat)
            else:
                kaldiio.save_mat(f, mat, compression_method=method)
            frames[utt] = int(mat.shape[0])
        f.flush()
        os.fsync(f.fileno())
    write_table(scp_path, {u: f"{ark_path}:{o}" for u, o in offsets.items()}, sort=False)
    return frames
