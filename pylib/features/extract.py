"""Stage 1 driver: wav.scp -> dump/<set>/<name>/<utt><ext> for every configured extractor.

A run is split into contiguous jobs over the sorted scp (job J of N, 1-based); each writes its
files atomically and its own `utt2num_frames.<J>`, and a merge joins those. Rerunning skips the
files that exist, so a killed job loses at most the utterance it was on.
"""

import contextlib
import logging
import os
from pathlib import Path

from pylib.config import load_yaml, save_yaml
from pylib.errors import ConfigError, DataError
from pylib.features.extractors import build_extractors, parse_features
from pylib.features.wave import resample
from pylib.io import (
    audio_info,
    num_frames_f4,
    read_table,
    read_wav_entry,
    read_wav_scp,
    write_f4,
    write_table,
    write_wav,
)

log = logging.getLogger(__name__)

SETTINGS_FILE = "features.yaml"
BAD_FILE = "bad_utts.txt"


def job_chunk(ids, job, num_jobs):
    """The job-th (1-based) of num_jobs contiguous, near-equal chunks of ids."""
    if num_jobs < 1 or not 1 <= job <= num_jobs:
        raise ConfigError(f"--job must be in 1..--num-jobs ({num_jobs}), got {job}")
    n = len(ids)
    return ids[n * (job - 1) // num_jobs : n * job // num_jobs]


def settings_dict(cfg, extractors):
    """What features.yaml holds: the parsed features section plus each output's dim/reso/ext."""
    return {
        "sample_rate": cfg.sample_rate,
        "resample": cfg.resample,
        "extractors": cfg.extractors,
        "outputs": {n: {"dim": int(e.dim), "reso": int(e.reso), "ext": e.ext} for n, e in extractors.items()},
    }


def _diff(old, new, prefix=""):
    """First differing key path between two nested dicts, or None."""
    for k in list(old) + [k for k in new if k not in old]:
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            d = _diff(a, b, f"{prefix}{k}.")
            if d:
                return d
        elif a != b:
            return f"{prefix}{k}", a, b
    return None


def _check_existing_settings(out_dir, settings, overwrite):
    path = out_dir / SETTINGS_FILE
    if path.is_file() and not overwrite:
        old = load_yaml(path)
        d = _diff(old, settings)
        if d:
            raise ConfigError(
                f"{path}: this dump was made with other settings ({d[0]} was {d[1]!r}, the config now says "
                f"{d[2]!r}); rerun with --overwrite to redo every file, or use another --out-dir"
            )


def _frames_of(path, ex):
    """Frame count of a finished output file (from its header or size)."""
    if ex.ext in (".wav", ".flac"):
        return audio_info(path)[1]
    return num_frames_f4(path, ex.dim)


def _write(path, data, ex, sample_rate):
    if ex.ext in (".wav", ".flac"):
        write_wav(path, sample_rate, data[:, 0], subtype=getattr(ex, "subtype", "PCM_16"))
    else:
        write_f4(path, data)


def load_wave(entry, cfg):
    """Read one wav.scp value at the recipe's rate: resampled if cfg.resample, else DataError."""
    sr, wave = read_wav_entry(entry, sample_rate=None if cfg.resample else cfg.sample_rate)
    if sr != cfg.sample_rate:
        wave = resample(wave, sr, cfg.sample_rate)
        if wave.size == 0:
            raise DataError(f"{entry}: too short to resample from {sr} to {cfg.sample_rate} Hz")
    return wave


def _remove_stale_temps(out_dir, extractors, ids):
    """Delete temp files a killed run of this job left (`.<utt><ext>.*`, see pylib.io.atomic).

    Only this job's utterances are touched, so jobs running side by side do not interfere.
    """
    mine = set(ids)
    for name, ex in extractors.items():
        folder = out_dir / name
        if not folder.is_dir():
            continue
        for p in folder.glob(f".*{ex.ext}.*"):
            utt = p.name[1:].split(f"{ex.ext}.", 1)[0]
            if utt in mine:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


def extract_job(
    features_section, wav_scp, out_dir, job=1, num_jobs=1, overwrite=False, skip_bad=False, progress=True
):
    """Run job `job` of `num_jobs`; merges at the end when num_jobs == 1. Returns counts."""
    from tqdm import tqdm

    cfg = parse_features(features_section)
    extractors = build_extractors(cfg)
    out_dir = Path(out_dir)
    if not Path(wav_scp).is_file():
        raise DataError(f"{wav_scp}: not found; run data preparation (stage 0) first")
    scp = read_wav_scp(wav_scp)
    if not scp:
        raise DataError(f"{wav_scp}: holds no utterances; rerun data preparation (stage 0) for this set")
    ids = job_chunk(sorted(scp), job, num_jobs)
    settings = settings_dict(cfg, extractors)
    _check_existing_settings(out_dir, settings, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(out_dir / SETTINGS_FILE, settings)

    _remove_stale_temps(out_dir, extractors, ids)
    frames = {name: {} for name in extractors}
    bad = {}
    done = skipped = 0
    for utt in tqdm(ids, desc=f"features job {job}/{num_jobs}", disable=not progress, unit="utt"):
        paths = {name: out_dir / name / f"{utt}{ex.ext}" for name, ex in extractors.items()}
        todo = [n for n in extractors if overwrite or not paths[n].is_file()]
        try:
            wave = load_wave(scp[utt], cfg) if todo else None
        except DataError as e:
            if not skip_bad:
                raise DataError(
                    f"utterance {utt}: {e} (or rerun with --skip-bad to skip and list it)"
                ) from None
            bad[utt] = str(e).replace("\n", " ")
            log.warning("skipping %s: %s", utt, e)
            for p in paths.values():  # a stale output of a now-bad utterance must not be used
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            continue
        for name, ex in extractors.items():
            if name in todo:
                data = ex(wave)
                _write(paths[name], data, ex, cfg.sample_rate)
                frames[name][utt] = data.shape[0]
            else:
                frames[name][utt] = _frames_of(paths[name], ex)
        done += bool(todo)
        skipped += not todo
    for name in extractors:
        write_table(out_dir / name / f"utt2num_frames.{job}", frames[name])
    write_table(out_dir / f"{BAD_FILE}.{job}", bad)
    log.info(
        "job %d/%d: %d utterances extracted, %d already done, %d bad", job, num_jobs, done, skipped, len(bad)
    )
    if num_jobs == 1:
        merge_jobs(out_dir, 1)
    return {"extracted": done, "skipped": skipped, "bad": len(bad)}


def merge_jobs(out_dir, num_jobs):
    """Join every job's utt2num_frames.<J> into <name>/utt2num_frames and bad_utts.<J> into
    bad_utts.txt; a missing part names the job to rerun. The parts are removed afterwards."""
    out_dir = Path(out_dir)
    settings_path = out_dir / SETTINGS_FILE
    if not settings_path.is_file():
        raise DataError(f"{settings_path}: not found; run the extraction jobs before --merge")
    names = list(load_yaml(settings_path).get("outputs", {}))
    parts = []
    for name in names:
        merged = {}
        for j in range(1, num_jobs + 1):
            part = out_dir / name / f"utt2num_frames.{j}"
            if not part.is_file():
                raise DataError(
                    f"{part}: missing; job {j} of {num_jobs} did not finish, rerun it (--job {j})"
                )
            merged.update(read_table(part))
            parts.append(part)
        write_table(out_dir / name / "utt2num_frames", merged)
    bad = {}
    for j in range(1, num_jobs + 1):
        part = out_dir / f"{BAD_FILE}.{j}"
        if part.is_file():
            bad.update(read_table(part))
            parts.append(part)
    if bad:
        write_table(out_dir / BAD_FILE, bad)
        log.warning("%d bad utterances skipped, listed in %s", len(bad), out_dir / BAD_FILE)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out_dir / BAD_FILE)
    for p in parts:
        p.unlink()
    return bad


def _spec_features(spec):
    """[(name, dim, reso, ext)] from a data spec object or dict with `inputs`/`outputs`."""
    get = (
        (lambda o, k, d=None: o.get(k, d))
        if isinstance(spec, dict)
        else (lambda o, k, d=None: getattr(o, k, d))
    )
    out = []
    for f in list(get(spec, "inputs", None) or []) + list(get(spec, "outputs", None) or []):
        g = (lambda k, f=f: f.get(k)) if isinstance(f, dict) else (lambda k, f=f: getattr(f, k, None))
        out.append((g("name"), g("dim"), g("reso"), g("ext")))
    return out


def check_features_match(dump_dir, expected):
    """Stop with a ConfigError naming the key when dump_dir/features.yaml disagrees with `expected`.

    expected: a FeaturesConfig or `features:` dict (every extractor key, sample rate and resample
    compared), or a data spec (object or dict with `inputs`/`outputs` entries carrying name, dim,
    reso, ext, and optionally `sample_rate`): each named feature must exist in the dump with the
    same dim, reso and ext.
    """
    path = Path(dump_dir) / SETTINGS_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found; run feature extraction (stage 1) for {dump_dir}")
    dump = load_yaml(path)
    how = "rerun feature extraction (stage 1) with --overwrite, or fix the config"
    is_spec = hasattr(expected, "inputs") or (isinstance(expected, dict) and "inputs" in expected)
    if not is_spec:
        cfg = parse_features(expected)
        want = {"sample_rate": cfg.sample_rate, "extractors": cfg.extractors}
        have = {"sample_rate": dump.get("sample_rate"), "extractors": dump.get("extractors", {})}
        d = _diff(have, want)
        if d:
            raise ConfigError(
                f"{path}: features differ from the config at {d[0]}: the dump has {d[1]!r}, "
                f"the config {d[2]!r}; {how}"
            )
        return dump
    sr = expected.get("sample_rate") if isinstance(expected, dict) else getattr(expected, "sample_rate", None)
    if sr is not None and int(sr) != int(dump.get("sample_rate", -1)):
        raise ConfigError(
            f"{path}: sample_rate is {dump.get('sample_rate')} in the dump but {sr} in the data config; {how}"
        )
    outputs = dump.get("outputs", {})
    for name, dim, reso, ext in _spec_features(expected):
        if name not in outputs:
            raise ConfigError(
                f"{path}: feature {name!r} is not in this dump (it has {', '.join(outputs)}); add an "
                f"extractor named {name!r} to the features section and rerun stage 1"
            )
        for key, val in (("dim", dim), ("reso", reso), ("ext", ext)):
            if val is not None and str(val) != str(outputs[name][key]):
                raise ConfigError(
                    f"{path}: feature {name!r} has {key} {outputs[name][key]!r} in the dump but "
                    f"{val!r} in the data config; {how}"
                )
    return dump
