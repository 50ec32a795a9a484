"""Score every wav/flac file under a folder with a one-file countermeasure (`score_wavs`).

Files are found recursively and sorted; each gets the utterance id of its file stem, or, where two
files share a stem (same name in different subfolders), its path relative to the folder without the
extension (with it, if that still collides: `a.wav` next to `a.flac`). Audio at another rate than
the model's `config["data"]["sample_rate"]` is resampled (polyphase, `pylib.features.wave`), with
runs of exact digital silence kept exactly zero: the LFCC front end takes the log of the frame
energy, so a filter's ringing into silence (1e-9 instead of 0) would change the score.

Batches are built from files of similar length (sorted by duration), zero-padded, with the true
lengths in `<input>_len`, so padding does not change the scores of models that honour the lengths.
The batch is the loader's (docs/INTERFACES.md): `utt_id` list (B), `<input>` (B, T, 1),
`<input>_len` (B,). This module never imports `pylib.models`: `load_model` fills the registry.
"""

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pylib.errors import DataError, UserError
from pylib.io.atomic import write_text_atomic
from pylib.io.audio import audio_info, read_wav

AUDIO_EXTS = (".wav", ".flac")


def find_audio(wav_dir):
    """Sorted [(utt_id, path)] of every .wav/.flac file under `wav_dir` (any depth, any case of suffix)."""
    root = Path(wav_dir)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; --wav-dir must be a folder holding .wav/.flac files")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file())
    if not paths:
        raise UserError(f"{root}: no .wav or .flac files found (searched all subfolders)")
    rel = [p.relative_to(root) for p in paths]
    stems = [r.stem for r in rel]
    no_ext = [r.with_suffix("").as_posix() for r in rel]
    out = []
    for r, stem, bare in zip(rel, stems, no_ext):
        if stems.count(stem) == 1:
            uid = stem
        elif no_ext.count(bare) == 1:
            uid = bare
        else:
            uid = r.as_posix()
        if any(c.isspace() for c in uid):
            raise DataError(
                f"{root / r}: the utterance id {uid!r} would contain whitespace, which breaks "
                f"`utt-id score` lines; rename the file (e.g. spaces -> _)"
            )
        out.append((uid, root / r))
    return out


def resample_keep_silence(wave, sr_in, sr_out):
    """Resample wave (T,) -> (T',) float32; outputs inside runs of exact zeros stay exactly 0.

    An output sample is forced to 0 when the input samples around its position (the two nearest
    and one more on each side) are all exactly 0, so digital silence survives resampling.
    """
    from pylib.features.wave import resample

    wave = np.asarray(wave, dtype=np.float32)
    out = resample(wave, sr_in, sr_out)
    if sr_in == sr_out or out.size == 0:
        return out
    zero = wave == 0.0
    if not zero.any():
        return out
    # all-zero neighbourhood of each input sample: itself and both neighbours
    padded = np.concatenate([[False], zero, [False]])
    quiet = padded[:-2] & padded[1:-1] & padded[2:]
    pos = np.arange(out.size, dtype=np.float64) * (sr_in / sr_out)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, wave.size - 1)
    hi = np.clip(lo + 1, 0, wave.size - 1)
    out[quiet[lo] & quiet[hi]] = 0.0
    return out


def load_wave(path, sample_rate):
    """Mono float32 samples (T,) of `path` at `sample_rate` (resampled if needed)."""
    sr, wave = read_wav(path)
    if sr != sample_rate:
        wave = resample_keep_silence(wave, sr, sample_rate)
        if wave.size == 0:
            raise DataError(f"{path}: too short to resample from {sr} to {sample_rate} Hz")
    return wave


def length_batches(durations, batch_size):
    """Indices grouped into batches of at most `batch_size` files of similar duration (longest first)."""
    if batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {batch_size}")
    order = sorted(range(len(durations)), key=lambda i: (-durations[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def make_batch(ids, waves, key="wav"):
    """Loader-style batch: {"utt_id": ids, key: (B, T, 1) zero-padded, key_len: (B,) int64}."""
    t = max(len(w) for w in waves)
    x = torch.zeros(len(waves), t, 1)
    for i, w in enumerate(waves):
        x[i, : len(w), 0] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.int64)
    return {"utt_id": list(ids), key: x, f"{key}_len": lengths}


def model_input(config, where="model"):
    """(input name, sample rate) of a waveform countermeasure's one-file config; else a UserError."""
    data = config.get("data") or {}
    inputs = data.get("inputs") or []
    if len(inputs) != 1 or int(inputs[0].get("reso", 1)) != 1 or int(inputs[0].get("dim", 1)) != 1:
        names = [i.get("name") for i in inputs]
        raise UserError(
            f"{where}: score_wavs needs a model that reads one waveform (data.inputs with dim 1, "
            f"reso 1), but this one reads {names}; score its features with `pylib.bin.infer` instead"
        )
    return inputs[0]["name"], int(data.get("sample_rate", 16000))


def load_scorer(path, device="cpu"):
    """(model in eval mode, input name, sample rate) from a one-file model (`export_model` / import)."""
    from pylib.engine.export import build_from_config, read_model_file

    blob = read_model_file(path)
    key, sample_rate = model_input(blob["config"], where=str(path))
    return build_from_config(blob["config"], blob["state_dict"], device), key, sample_rate


def _to_float(item, where):
    if torch.is_tensor(item):
        item = item.detach().cpu().numpy()
    arr = np.asarray(item)
    if arr.size != 1:
        raise UserError(
            f"{where}: the model returned {arr.size} values for one file, not a score; "
            f"score_wavs is for countermeasures (vocoders: use pylib.bin.vocode)"
        )
    return float(arr.reshape(-1)[0])


@torch.no_grad()
def score_files(model, files, sample_rate, key="wav", batch_size=16, device="cpu", progress=True):
    """{utt_id: score} for files [(utt_id, path)]; batches of similar length, padded, with lengths."""
    durations = []
    for _, path in files:
        sr, n = audio_info(path)
        durations.append(n / sr)
    batches = length_batches(durations, batch_size)
    scores = {}
    model.eval()
    for idx in tqdm(batches, desc="score", unit="batch", disable=not progress, dynamic_ncols=True):
        ids = [files[i][0] for i in idx]
        waves = [load_wave(files[i][1], sample_rate) for i in idx]
        batch = make_batch(ids, waves, key)
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        out = model.infer(batch)
        if len(out) != len(ids):
            raise UserError(f"the model returned {len(out)} scores for a batch of {len(ids)} files")
        for i, item in zip(idx, out):
            score = _to_float(item, files[i][1])
            if not np.isfinite(score):
                raise DataError(f"{files[i][1]}: the model gave a non-finite score ({score})")
            scores[files[i][0]] = score
    return scores


def write_scores(path, scores):
    """`utt-id score` lines sorted by id, written atomically (the format stage 4 writes)."""
    write_text_atomic(path, "".join(f"{u} {s:.6f}\n" for u, s in sorted(scores.items())))


def score_folder(model_path, wav_dir, out=None, batch_size=16, device="cpu", progress=True):
    """Score every wav/flac under `wav_dir` with the one-file model at `model_path`.

    Returns {utt_id: score}; writes them to `out` (atomically) when given.
    """
    files = find_audio(wav_dir)
    model, key, sample_rate = load_scorer(model_path, device)
    scores = score_files(model, files, sample_rate, key, batch_size, device, progress)
    if out is not None:
        write_scores(out, scores)
    return scores
