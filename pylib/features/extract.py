"""Stage 1 driver: wav.scp -> dump/<set>/<name>/<utt><ext> for every configured extractor.

A run is split into contiguous jobs over the sorted scp (job J of N, 1-based); each writes its
files atomically and its own `utt2num_frames.<J>`, and a merge joins those.

Provenance: every finished utterance gets a record (one JSON line) of its source (absolute path,
size and mtime, or the pipe command), the hash of the features settings, and each output's size
and frame count. A job appends its records to `sources.<J>.jsonl` as it goes; the merge folds them
into `sources.jsonl`. A rerun redoes exactly the utterances whose outputs are missing, empty,
partial (size differs from the record, or no record: a killed or older run) or changed (source or
settings differ), says how many of each, and keeps the rest; so a killed or failed job loses at
most the utterance it was on. `--skip-bad` lists unusable inputs in `bad_files.txt` instead of
stopping.
"""

import contextlib
import hashlib
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

from pylib.config import load_yaml, save_yaml
from pylib.errors import ConfigError, DataError
from pylib.features.extractors import build_extractors, parse_features
from pylib.features.wave import load_wave
from pylib.io import (
    read_table,
    read_wav_scp,
    write_f4,
    write_table,
    write_text_atomic,
    write_wav,
)
from pylib.io.names import check_out_dir, safe_join

log = logging.getLogger(__name__)

SETTINGS_FILE = "features.yaml"
BAD_FILE = "bad_files.txt"
SOURCES_FILE = "sources.jsonl"
REDO_REASONS = ("missing", "empty", "partial", "changed")


def job_chunk(ids, job, num_jobs):
    """The job-th (1-based) of num_jobs contiguous, near-equal chunks of ids."""
    if num_jobs < 1 or not 1 <= job <= num_jobs:
        raise ConfigError(f"--job must be in 1..--num-jobs ({num_jobs}), got {job}")
    n = len(ids)
    return ids[n * (job - 1) // num_jobs : n * job // num_jobs]


def settings_dict(cfg, extractors):
    """What features.yaml holds: the parsed features section plus each output's dim/hop/ext and
    what an extractor's `provenance()` adds (the ssl extractor: its checkpoint's hash)."""
    return {
        "sample_rate": cfg.sample_rate,
        "resample": cfg.resample,
        "extractors": cfg.extractors,
        "outputs": {
            n: {"dim": int(e.dim), "hop": int(e.hop), "ext": e.ext, **getattr(e, "provenance", dict)()}
            for n, e in extractors.items()
        },
    }


def upgrade_settings(settings):
    """features.yaml of an earlier release (`reso` for `hop`) in today's names."""
    outputs = settings.get("outputs")
    if isinstance(outputs, dict):
        settings = {**settings, "outputs": {
            n: ({("hop" if k == "reso" else k): v for k, v in o.items()} if isinstance(o, dict) else o)
            for n, o in outputs.items()
        }}
    return settings


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
        old = upgrade_settings(load_yaml(path))
        d = _diff(old, settings)
        if d:
            raise ConfigError(
                f"{path}: this dump was made with other settings ({d[0]} was {d[1]!r}, the config now says "
                f"{d[2]!r}); rerun with --overwrite to redo every file, or use another --out-dir"
            )


def settings_hash(settings):
    """Short content hash of the features settings (what every record names). The outputs are hashed
    under the previous release's key name `reso` for `hop`, so that dumps it made stay up to date."""
    outputs = {n: {("reso" if k == "hop" else k): v for k, v in o.items()}
               for n, o in (settings.get("outputs") or {}).items()}
    blob = json.dumps({**settings, "outputs": outputs}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def source_of(entry):
    """Provenance of one wav.scp value: {"path", "size", "mtime_ns"} or {"command"}; plus the stat
    (or None) so that callers can compare it with the outputs'."""
    entry = str(entry).strip()
    if entry.endswith("|"):
        return {"command": entry[:-1].strip()}, None
    try:
        st = os.stat(entry)
    except OSError:
        return {"path": os.path.abspath(entry), "size": None, "mtime_ns": None}, None
    return {"path": os.path.abspath(entry), "size": st.st_size, "mtime_ns": st.st_mtime_ns}, st


def _read_records(path):
    """{utt: record} of a sources file; a torn last line (a kill mid-append) is ignored."""
    out = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return out
    for line in text.splitlines():
        try:
            rec = json.loads(line)
            out[rec["utt"]] = rec
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _job_parts(out_dir):
    return sorted(p for p in Path(out_dir).glob("sources.*.jsonl") if p.name != SOURCES_FILE)


def load_records(out_dir):
    """{utt: record}: the merged sources.jsonl, then the jobs' parts (newest record wins)."""
    records = _read_records(Path(out_dir) / SOURCES_FILE)
    parts = {}
    for part in _job_parts(out_dir):
        for utt, rec in _read_records(part).items():
            if utt not in parts or rec.get("t", 0) >= parts[utt].get("t", 0):
                parts[utt] = rec
    records.update(parts)
    return records


def redo_reason(utt, paths, record, source, source_stat, config_hash):
    """Why utterance `utt` must be extracted again (one of REDO_REASONS), or None if it is up to
    date. Raises a DataError if an output is the very file the source names."""
    stats = {}
    for name, path in paths.items():
        try:
            stats[name] = os.stat(path)
        except FileNotFoundError:
            return "missing"
        if source_stat is not None and (stats[name].st_dev, stats[name].st_ino) == (
            source_stat.st_dev,
            source_stat.st_ino,
        ):
            raise DataError(
                f"{path}: utterance {utt}: this output is the input audio itself ({source['path']}); "
                f"extracting would overwrite the corpus. Use another --out-dir"
            )
    if any(st.st_size == 0 for st in stats.values()):
        return "empty"
    if record is None:
        return "partial"
    outputs = record.get("outputs") or {}
    for name, st in stats.items():
        if name not in outputs or outputs[name].get("bytes") != st.st_size:
            return "partial"
    if record.get("source") != source or record.get("config") != config_hash:
        return "changed"
    return None


def _write(path, data, ex, sample_rate):
    """Write one output atomically; returns its size in bytes."""
    if ex.ext in (".wav", ".flac"):
        write_wav(path, sample_rate, data[:, 0], subtype=getattr(ex, "subtype", "PCM_16"))
    else:
        write_f4(path, data)
    return os.stat(path).st_size


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


def _bad_reason(e):
    return " ".join(str(e).split())


def _start_job(features_section, wav_scp, out_dir, job, num_jobs, overwrite):
    """Parse the settings, read wav.scp, prepare the out folder (its settings file written, stale
    temporaries of this job's utterances removed): (cfg, extractors, out_dir, scp, ids of this
    job, settings hash)."""
    cfg = parse_features(features_section)
    extractors = build_extractors(cfg)
    out_dir = check_out_dir(Path(out_dir))
    if not Path(wav_scp).is_file():
        raise DataError(f"{wav_scp}: not found; run data preparation (stage 0) first")
    scp = read_wav_scp(wav_scp)
    if not scp:
        raise DataError(f"{wav_scp}: holds no utterances; rerun data preparation (stage 0) for this set")
    ids = job_chunk(sorted(scp), job, num_jobs)
    settings = settings_dict(cfg, extractors)
    config_hash = settings_hash(settings)
    _check_existing_settings(out_dir, settings, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(out_dir / SETTINGS_FILE, settings)

    _remove_stale_temps(out_dir, extractors, ids)
    return cfg, extractors, out_dir, scp, ids, config_hash


def _remove_outputs(paths):
    for p in paths.values():
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _write_outputs(wave, extractors, paths, sample_rate):
    """Run every extractor on `wave` and write its output: {name: {"bytes", "frames"}}."""
    outputs = {}
    for name, ex in extractors.items():
        data = ex(wave)
        size = _write(paths[name], data, ex, sample_rate)
        outputs[name] = {"bytes": size, "frames": int(data.shape[0])}
    return outputs


def extract_job(
    features_section, wav_scp, out_dir, job=1, num_jobs=1, overwrite=False, skip_bad=False, progress=True
):
    """Run job `job` of `num_jobs`; merges at the end when num_jobs == 1.

    Returns {"extracted", "skipped" (up to date), "bad"} counts, plus "redo": {reason: count} of
    the extracted ones (see REDO_REASONS; "overwrite" with overwrite=True).
    """
    from tqdm import tqdm

    cfg, extractors, out_dir, scp, ids, config_hash = _start_job(
        features_section, wav_scp, out_dir, job, num_jobs, overwrite
    )
    records = {} if overwrite else load_records(out_dir)
    folders = {name: out_dir / name for name in extractors}
    frames = {name: {} for name in extractors}
    bad = {}
    redo = Counter()
    done = skipped = 0
    part = out_dir / f"sources.{job}.jsonl"
    with open(part, "a", encoding="utf-8") as log_file:
        for utt in tqdm(ids, desc=f"features job {job}/{num_jobs}", disable=not progress, unit="utt"):
            paths = {n: safe_join(folders[n], utt, ex.ext, where=wav_scp) for n, ex in extractors.items()}
            source, source_stat = source_of(scp[utt])
            if overwrite:
                why = "overwrite"
            else:
                why = redo_reason(utt, paths, records.get(utt), source, source_stat, config_hash)
            if why is None:
                for name in extractors:
                    frames[name][utt] = int(records[utt]["outputs"][name]["frames"])
                skipped += 1
                continue
            try:
                wave = load_wave(scp[utt], cfg.sample_rate, cfg.resample)
            except DataError as e:
                _remove_outputs(paths)  # a stale output of a now-bad utterance must not be used
                if not skip_bad:
                    raise DataError(
                        f"utterance {utt}: {e} ({done + skipped} utterance(s) before it are done and kept: "
                        f"fix or drop this one and rerun to resume, or rerun with --skip-bad to skip it "
                        f"and list it in {out_dir / BAD_FILE})"
                    ) from None
                bad[utt] = _bad_reason(e)
                log.warning("skipping %s: %s", utt, e)
                continue
            outputs = _write_outputs(wave, extractors, paths, cfg.sample_rate)
            for name in extractors:
                frames[name][utt] = outputs[name]["frames"]
            rec = {"utt": utt, "source": source, "config": config_hash, "outputs": outputs}
            log_file.write(json.dumps({**rec, "t": time.time_ns()}, sort_keys=True) + "\n")
            log_file.flush()
            redo[why] += 1
            done += 1
    for name in extractors:
        write_table(out_dir / name / f"utt2num_frames.{job}", frames[name])
    write_table(out_dir / f"{BAD_FILE}.{job}", bad)
    counts = {"extracted": done, "skipped": skipped, "bad": len(bad), "redo": dict(redo)}
    log.debug("%s", summary(counts, job, num_jobs))
    if num_jobs == 1:
        merge_jobs(out_dir, 1)
    return counts


def summary(counts, job=1, num_jobs=1):
    """One line of what a job did: 'job 1/1: 4 utterances extracted (1 changed, 3 missing), ...'."""
    how = ", ".join(f"{n} {r}" for r, n in sorted(counts["redo"].items()))
    return (
        f"job {job}/{num_jobs}: {counts['extracted']} utterances extracted{f' ({how})' if how else ''}, "
        f"{counts['skipped']} up to date, {counts['bad']} bad"
    )


def _fold_sources(out_dir, keep):
    """Fold the jobs' sources.<J>.jsonl into sources.jsonl (records of the ids in `keep` only)."""
    parts = _job_parts(out_dir)
    records = load_records(out_dir)
    lines = []
    for utt in sorted(keep):
        rec = records.get(utt)
        if rec is not None:
            rec = {k: v for k, v in rec.items() if k != "t"}
            lines.append(json.dumps(rec, sort_keys=True) + "\n")
    write_text_atomic(out_dir / SOURCES_FILE, "".join(lines))
    for p in parts:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def merge_jobs(out_dir, num_jobs):
    """Join every job's utt2num_frames.<J> into <name>/utt2num_frames, bad_files.<J> into
    bad_files.txt and sources.<J>.jsonl into sources.jsonl; a missing part names the job to rerun.
    The parts are removed afterwards."""
    out_dir = Path(out_dir)
    settings_path = out_dir / SETTINGS_FILE
    if not settings_path.is_file():
        raise DataError(f"{settings_path}: not found; run the extraction jobs before --merge")
    names = list(load_yaml(settings_path).get("outputs", {}))
    parts = []
    keep = None
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
        keep = set(merged) if keep is None else keep & set(merged)
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
    _fold_sources(out_dir, keep or set())
    for p in parts:
        p.unlink()
    return bad


def _spec_features(spec):
    """[(name, dim, hop, ext)] from a data spec object or dict with `inputs`/`outputs`."""
    get = (
        (lambda o, k, d=None: o.get(k, d))
        if isinstance(spec, dict)
        else (lambda o, k, d=None: getattr(o, k, d))
    )
    out = []
    for f in list(get(spec, "inputs", None) or []) + list(get(spec, "outputs", None) or []):
        g = (lambda k, f=f: f.get(k)) if isinstance(f, dict) else (lambda k, f=f: getattr(f, k, None))
        out.append((g("name"), g("dim"), g("hop"), g("ext")))
    return out


def check_features_match(dump_dir, expected):
    """Stop with a ConfigError naming the key when dump_dir/features.yaml disagrees with `expected`.

    expected: a FeaturesConfig or `features:` dict (every extractor key, sample rate and resample
    compared), or a data spec (object or dict with `inputs`/`outputs` entries carrying name, dim,
    hop, ext, and optionally `sample_rate`): each named feature must exist in the dump with the
    same dim, hop and ext.
    """
    path = Path(dump_dir) / SETTINGS_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found; run feature extraction (stage 1) for {dump_dir}")
    dump = upgrade_settings(load_yaml(path))
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
    for name, dim, hop, ext in _spec_features(expected):
        if name not in outputs:
            raise ConfigError(
                f"{path}: feature {name!r} is not in this dump (it has {', '.join(outputs)}); add an "
                f"extractor named {name!r} to the features section and rerun stage 1"
            )
        for key, val in (("dim", dim), ("hop", hop), ("ext", ext)):
            if val is not None and str(val) != str(outputs[name][key]):
                raise ConfigError(
                    f"{path}: feature {name!r} has {key} {outputs[name][key]!r} in the dump but "
                    f"{val!r} in the data config; {how}"
                )
    return dump
