"""Score every wav/flac file under a folder with a one-file countermeasure (`score_wavs`).

Files are found recursively and sorted; each gets the utterance id of its file stem, or, where two
files share a stem (same name in different subfolders), its path relative to the folder without the
extension (with it, if that still collides: `a.wav` next to `a.flac`). Each file is read by
`pylib.features.wave.ModelWave`, the loader of stage-1 extraction: at the rate, with the resample
policy and the level normalisation of the model's `features:` section (resampling keeps runs of
exact digital silence exactly zero).

Batches are built from files of similar length (sorted by duration), zero-padded, with the true
lengths in `<input>_len`, so padding does not change the scores of models that honour the lengths.
The batch is the loader's (docs/INTERFACES.md): `utt_id` list (B), `<input>` (B, T, 1),
`<input>_len` (B,). The model class comes from the `model_class` lookup the entry point hands in.
"""

import logging
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pylib.engine.checkpoint import sha256_file
from pylib.errors import DataError, UserError
from pylib.features.wave import ModelWave
from pylib.io.atomic import write_text_atomic
from pylib.io.audio import audio_info
from pylib.io.names import check_not_input, name_problem
from pylib.io.scores import read_partial_scores, write_scores

log = logging.getLogger(__name__)
BAD_FILE = "bad_files.txt"
SAVE_EVERY_S = 60.0

AUDIO_EXTS = (".wav", ".flac")


def list_audio(root):
    """Sorted relative paths ('/'-separated strings) of every .wav/.flac file under folder `root`.

    One os.scandir walk, plain strings (pathlib objects cost more than the listing itself).
    """
    out, stack = [], [""]
    base = os.fspath(root)
    while stack:
        rel = stack.pop()
        folder = os.path.join(base, rel) if rel else base
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            raise UserError(
                f"{folder}: cannot list this folder ({e.strerror}); check its permissions"
            ) from None
        prefix = f"{rel}/" if rel else ""
        for e in entries:
            if e.is_dir(follow_symlinks=False):  # links to folders are not followed (no loops)
                stack.append(prefix + e.name)
            elif os.path.splitext(e.name)[1].lower() in AUDIO_EXTS and e.is_file():
                out.append(prefix + e.name)
    out.sort()
    return out


def find_audio(wav_dir):
    """Sorted [(utt_id, path str)] of every .wav/.flac file under `wav_dir` (any depth, any case of suffix).

    Linear in the number of files (the stems are counted once, not searched per file).
    """
    root = Path(wav_dir)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; --wav-dir must be a folder holding .wav/.flac files")
    base = os.fspath(root)
    rel = list_audio(root)
    if not rel:
        raise UserError(f"{root}: no .wav or .flac files found (searched all subfolders)")
    no_ext = [os.path.splitext(r)[0] for r in rel]
    stems = [b.rsplit("/", 1)[-1] for b in no_ext]
    stem_count, bare_count = Counter(stems), Counter(no_ext)
    out = []
    for r, stem, bare in zip(rel, stems, no_ext):
        if stem_count[stem] == 1:
            uid = stem
        elif bare_count[bare] == 1:
            uid = bare
        else:
            uid = r
        why = name_problem(uid, subpath=True)
        if why is not None:
            raise DataError(
                f"{root / r}: the utterance id {uid!r} {why}, which breaks `utt-id score` lines or "
                f"file names; rename the file (e.g. spaces -> _)"
            )
        out.append((uid, os.path.join(base, r)))  # strings: 10^5 Path objects cost more than the walk
    return out


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
    """The loader (`ModelWave`) of a waveform countermeasure's one-file config; else a UserError."""
    from pylib.data.spec import derive_facts

    data, _ = derive_facts(config)  # dims, hops and the rate as the features section declares them
    inputs = data.get("inputs") or []
    if len(inputs) != 1 or int(inputs[0].get("hop", 1)) != 1 or int(inputs[0].get("dim", 1)) != 1:
        names = [i.get("name") for i in inputs]
        raise UserError(
            f"{where}: score_wavs needs a model that reads one waveform (data.inputs with dim 1, "
            f"hop 1), but this one reads {names}; score its features with `pylib.bin.infer` instead"
        )
    return ModelWave(config, inputs[0]["name"], where)


def load_scorer(path, model_class, device="cpu"):
    """(model in eval mode, its waveform loader `ModelWave`) from a one-file model (`export_model` /
    import). model_class: name -> model class (the entry point hands in the model catalogue's)."""
    from pylib.engine.export import build_from_config, read_model_file

    blob = read_model_file(path)
    reader = model_input(blob["config"], where=str(path))
    return build_from_config(blob["config"], blob["state_dict"], model_class, device), reader


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


class ScoringStopped(DataError):
    """A bad file stopped scoring; `.scores` holds every score computed before it."""

    def __init__(self, message, scores):
        super().__init__(message)
        self.scores = scores


@torch.no_grad()
def score_files(model, files, reader, batch_size=16, device="cpu", progress=True,
                skip_bad=False, bad=None, done=None, on_progress=None):
    """{utt_id: score} for files [(utt_id, path)]; batches of similar length, padded, with lengths.

    reader: the model's waveform loader (`ModelWave`: path -> (T,) float32; `.name` its input).

    done: {utt_id: score} already computed (kept, not scored again). A file that cannot be read
    raises ScoringStopped carrying every score so far; with skip_bad it goes to `bad`
    ({utt_id: reason}) instead. on_progress(scores) is called about every SAVE_EVERY_S seconds.
    """
    scores = dict(done or {})
    bad = {} if bad is None else bad
    todo, durations = [], []
    for uid, path in files:
        if uid in scores:
            continue
        try:
            sr, n = audio_info(path)
        except DataError as e:
            _bad_file(uid, e, scores, bad, skip_bad)
            continue
        todo.append((uid, path))
        durations.append(n / sr)
    batches = length_batches(durations, batch_size) if todo else []
    model.eval()
    last_save = time.monotonic()
    for idx in tqdm(batches, desc="score", unit="batch", disable=not progress, dynamic_ncols=True):
        ids, waves = [], []
        for i in idx:
            try:
                waves.append(reader(todo[i][1]))
                ids.append(todo[i][0])
            except DataError as e:
                _bad_file(todo[i][0], e, scores, bad, skip_bad)
        if not ids:
            continue
        paths = {uid: p for uid, p in (todo[i] for i in idx)}
        batch = make_batch(ids, waves, reader.name)
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        out = model.infer(batch)
        if len(out) != len(ids):
            raise UserError(f"the model returned {len(out)} scores for a batch of {len(ids)} files")
        for uid, item in zip(ids, out):
            score = _to_float(item, paths[uid])
            if not np.isfinite(score):
                _bad_file(uid, DataError(f"{paths[uid]}: the model gave a non-finite score ({score})"),
                          scores, bad, skip_bad)
                continue
            scores[uid] = score
        if on_progress is not None and time.monotonic() - last_save > SAVE_EVERY_S:
            on_progress(scores)
            last_save = time.monotonic()
    return scores


def _bad_file(uid, error, scores, bad, skip_bad):
    if not skip_bad:
        raise ScoringStopped(str(error), scores)
    bad[uid] = " ".join(str(error).split())
    log.warning("skipping %s: %s", uid, error)


def partial_path(out):
    return Path(f"{out}.partial")


def _read_partial(path, digest):
    """Scores of a partial file written with the model of sha256 `digest`; {} for another model."""
    header, scores = read_partial_scores(path)
    if header[:1] != [f"model sha256 {digest}"]:
        if header or scores:
            log.info("%s: written with another model; scoring every file again", path)
        return {}
    return scores


def _write_partial(path, digest, scores):
    write_scores(path, scores, header=[f"model sha256 {digest}"], exact=True)


def score_folder(model_path, wav_dir, out=None, batch_size=16, device="cpu", progress=True,
                 skip_bad=False, bad_files=None, *, model_class):
    """Score every wav/flac under `wav_dir` with the one-file model at `model_path`.

    model_class: name -> model class (the entry point hands in the model catalogue's lookup).

    Returns {utt_id: score}; writes them to `out` (atomically) when given. With `out`, the scores
    computed before a bad file are kept in `<out>.partial` (with the model's hash) and a rerun with
    the same model resumes from them. skip_bad: unreadable files are skipped and listed, with their
    reasons, in `bad_files` (default `bad_files.txt` next to `out`).
    """
    files = find_audio(wav_dir)
    if out is not None:
        out = Path(out)
        if out.suffix.lower() in AUDIO_EXTS:
            raise UserError(
                f"--out {out}: the scores file must not be a .wav/.flac file; name it e.g. scores.txt"
            )
        check_not_input(out, [p for _, p in files if os.path.basename(p) == out.name], what="scores file")
    model, reader = load_scorer(model_path, model_class, device)
    digest = sha256_file(model_path) if out is not None else None  # names the model of a partial file
    part = partial_path(out) if out is not None else None
    done = _read_partial(part, digest) if out is not None else {}
    wanted = {uid for uid, _ in files}
    done = {u: v for u, v in done.items() if u in wanted}
    if done:
        log.info("resuming: %d of %d files were scored by this model before (%s)",
                 len(done), len(files), part)
    bad = {}
    save = (lambda sc: _write_partial(part, digest, sc)) if out is not None else None
    try:
        scores = score_files(model, files, reader, batch_size, device, progress,
                             skip_bad=skip_bad, bad=bad, done=done, on_progress=save)
    except ScoringStopped as e:
        if out is None:
            raise ScoringStopped(
                f"{e} ({len(e.scores)} file(s) scored before it are printed; pass --out FILE to keep "
                f"them and resume, or --skip-bad to skip unreadable files)",
                e.scores,
            ) from None
        if e.scores:
            save(e.scores)
        raise DataError(
            f"{e} ({len(e.scores)} score(s) computed so far are kept in {part}: fix or remove the file "
            f"and rerun to resume, or rerun with --skip-bad to skip it and list it in bad_files.txt)"
        ) from None
    if out is not None:
        write_scores(out, scores)
        if part.exists():
            part.unlink()
    if skip_bad:
        target = Path(bad_files) if bad_files else (out.parent / BAD_FILE if out is not None else None)
        if target is not None:
            write_text_atomic(target, "".join(f"{u} {why}\n" for u, why in sorted(bad.items())))
        if bad:
            where = f", listed in {target}" if target else ""
            log.warning("%d unreadable file(s) skipped%s", len(bad), where)
    return scores
