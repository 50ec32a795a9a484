"""The inference runner (stage 4): batches in, one output per utterance out, resumable.

Outputs, by the model's declared kind (pylib.contracts):
- a `Vocoder` returns a float32 waveform (T,) per utterance -> `<out>/<utt-id>.wav` at the data's
  sample rate (written atomically);
- a `Countermeasure` returns a float score per utterance -> a line `utt-id score` in
  `<out>/scores.txt`, appended and fsynced per batch, the whole file rewritten sorted at the end.
A rerun skips utterances whose output exists, so a killed run resumes.

Inference settings (`settings`, the entry points' `--set model.KEY=VALUE`): a model's inference-only
config keys (`infer_keys` of its class, pylib.contracts; e.g. WaveGlow's sigma, the seed of the
sampling) may be changed for this run without retraining (`infer_settings`); any other key is
refused, as it is fixed by the trained weights. The values are checked by the model's config
dataclass as at training.

Provenance: `<out>/infer_source.json` records the checkpoint (path and sha256 of its bytes), the data
dir and the set the outputs come from, and the inference settings that differ from the checkpoint's
config (`settings`). A rerun with the same ones resumes; with another checkpoint, set or settings
it redoes every output (never a mix of two models). A folder holding outputs but no record is
refused unless --overwrite, which moves it aside to `<out>.N`. The folder is locked while inference
writes there, and it may not be (or be inside) the data set read.

A bad input file (a DataError while reading an utterance) stops the run with the results so far
kept (a rerun continues); with skip_bad the run goes on and lists the skipped utterances with their
reasons in `<out>/bad_files.txt`.

Long inputs (`chunk_seconds`, default CHUNK_SECONDS): vocoders generate an utterance longer than
chunk_seconds in pieces (pylib.engine.longform).

MC dropout (`mc_dropout=N`, countermeasures only; the seed's project 09 `__inference`): each
utterance is repeated N times in a batch (in chunks of at most `MC_CHUNK`) and scored with the
model's dropout layers (`torch.nn.Dropout*` modules) on and everything else, BatchNorm included,
in eval mode. Each pass's score is read as the log-odds of bona fide, p = sigmoid(score) (what
the logit difference of a two-class softmax is; a model may define `bonafide_prob(scores)`
instead), and `scores.txt` gets the seed's columns `utt-id score model_confidence
data_confidence`: score = log-odds of the mean p, model confidence = the epistemic uncertainty
(mutual information between prediction and weights: entropy of the mean p minus the mean entropy
of each pass), data confidence = the aleatoric uncertainty (mean entropy of each pass), in nats
(`mc_summary`). The dropout masks of an utterance are drawn from (seed, utterance id), so a rerun
or a resumed run gives the same numbers.
"""

import json
import logging
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pylib.contracts import model_kind
from pylib.engine.lock import LOCK_NAME, DirLock
from pylib.engine.longform import CHUNK_SECONDS, as_wave, chunk_frames, repeat_row, vocode_batch
from pylib.engine.trainer import to_device
from pylib.errors import UserError
from pylib.io.atomic import move_aside, write_text_atomic
from pylib.io.audio import write_wav
from pylib.io.scores import append_scores, read_partial_scores, write_scores

SCORES = "scores.txt"
RECORD = "infer_source.json"
BAD_FILES = "bad_files.txt"
IDENTITY = ("sha256", "set", "mc_dropout", "settings")  # record keys that must match to resume the outputs
MC_COLUMNS = ("score", "model_confidence", "data_confidence")  # scores.txt columns with MC dropout
MC_CHUNK = 48  # copies of one utterance per forward pass (the seed: 3 x 48)
log = logging.getLogger("nnsp.infer")


class _Guarded(torch.utils.data.Dataset):
    """dataset[i], or ("bad", i, message) when reading it raises a UserError (a bad input file)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        try:
            return ("ok", i, self.dataset[i])
        except UserError as e:
            return ("bad", i, " ".join(str(e).split()))


class _GuardedCollate:
    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items):
        good = [x for kind, _, x in items if kind == "ok"]
        bad = [(i, msg) for kind, i, msg in items if kind == "bad"]
        return (self.collate(good) if good else None), bad


def _utt_of(dataset, i):
    """Utterance id of item i of a pylib.data SpeechDataset (None for other datasets)."""
    rows, ids = getattr(dataset, "_rows", None), getattr(dataset, "utt_ids", None)
    index = i[0] if isinstance(i, tuple) else i  # pylib.data's samplers yield (index, epoch)
    try:
        return ids[rows[index][0]]
    except (TypeError, IndexError, KeyError):
        return None


def _batches(loader, is_done, bad, counts):
    """Batches of `loader`, each item read under a guard: a bad input file is appended to `bad` as
    (utt or item, reason) and left out of its batch. Utterances `is_done` are not read again."""
    ds, bs, collate = (getattr(loader, k, None) for k in ("dataset", "batch_sampler", "collate_fn"))
    if ds is None or bs is None or collate is None:  # a custom loader: plain iteration
        yield from loader
        return
    todo = []
    for b in bs:
        ids = [_utt_of(ds, i) for i in b]
        keep = [i for i, u in zip(b, ids) if u is None or not is_done(u)]
        counts["skipped"] += len(b) - len(keep)
        if keep:
            todo.append(keep)
    workers = getattr(loader, "num_workers", 0)
    if workers:
        guarded = torch.utils.data.DataLoader(
            _Guarded(ds), batch_sampler=todo, collate_fn=_GuardedCollate(collate), num_workers=workers
        )
    else:  # in-process, without DataLoader's per-batch machinery (as pylib.data's SpeechLoader does)
        g, c = _Guarded(ds), _GuardedCollate(collate)
        guarded = (c([g[i] for i in b]) for b in todo)
    for batch, errors in guarded:
        for i, msg in errors:
            bad.append((_utt_of(ds, i) or f"item-{i[0] if isinstance(i, tuple) else i}", msg))
        if batch is not None:
            yield batch


class _ScoreFile:
    """scores.txt of a countermeasure's outputs: read at the start (a torn last line dropped),
    appended and fsynced per batch, rewritten whole and sorted at the end (also after an error)."""

    def __init__(self, path, columns=1):
        self.path = Path(path)
        _, self.scores = read_partial_scores(self.path, columns)
        if self.path.is_file():
            write_scores(self.path, self.scores)  # drop a half-written last line before appending
        self.file = open(self.path, "a", encoding="utf-8")

    def add(self, new):
        if not new:
            return
        self.scores.update(new)
        append_scores(self.file, new)

    def close(self):
        self.file.close()
        if self.scores:
            write_scores(self.path, self.scores)
        else:
            self.path.unlink(missing_ok=True)


def _as_score(item, utt, model):
    if torch.is_tensor(item):
        item = item.detach().cpu().numpy()
    if np.size(item) != 1:
        raise UserError(
            f"{type(model).__name__} is a countermeasure: its infer() must give one float per utterance, "
            f"but gave an array of shape {np.shape(item)} for {utt}; fix the model's infer()"
        )
    return float(np.asarray(item).reshape(-1)[0])


def _entropy(p):
    """-sum p log p over the last dim, with the seed's floor (1e-6 added to p < 1e-6 in the log)."""
    return -(p * torch.log(p + (p < 1e-6).to(p.dtype) * 1e-6)).sum(-1)


def _log_odds(p, floor=1e-7):
    """log(p / (1 - p)) with the seed's floors (util_bayesian.compute_logit_from_prob)."""
    ratio = 1.0 / (p + (p < floor).to(p.dtype) * floor) - 1.0
    return -torch.log(ratio + (ratio < floor).to(p.dtype) * floor)


def mc_summary(prob):
    """prob (passes, B): bona fide probability of each pass -> (score, model_confidence,
    data_confidence), each (B,) float64: the log-odds of the mean probability, the epistemic and
    the aleatoric uncertainty in nats (the seed's util_bayesian.compute_llr_eps_ale)."""
    prob = torch.as_tensor(prob, dtype=torch.float64)
    two = torch.stack([1.0 - prob, prob], dim=-1)  # (passes, B, 2): spoof, bona fide
    mean = two.mean(0)
    aleatoric = _entropy(two).mean(0)
    return _log_odds(mean[:, 1]), _entropy(mean) - aleatoric, aleatoric


DROPOUT = (torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d,
           torch.nn.AlphaDropout, torch.nn.FeatureAlphaDropout)


def dropout_on(model):
    """Switch the model's dropout layers to training mode (the rest stays as it is); -> their count."""
    layers = [m for m in model.modules() if isinstance(m, DROPOUT)]
    if not layers:
        raise UserError(
            f"{type(model).__name__} has no dropout layer (torch.nn.Dropout): MC dropout has nothing "
            "to sample; drop --mc-dropout or use a model with dropout"
        )
    for m in layers:
        m.train()
    return len(layers)


def mc_scores(model, batch, passes, seed=0, device="cpu"):
    """MC-dropout scores of a batch: [(score, model_confidence, data_confidence)] per utterance.

    The model must be in eval mode with its dropout on (`dropout_on`). Each utterance is repeated
    `passes` times (chunks of MC_CHUNK) with dropout masks drawn from (seed, utterance id)."""
    device = torch.device(device)
    to_prob = getattr(model, "bonafide_prob", torch.sigmoid)
    devices = [device.index or 0] if device.type == "cuda" else []
    out = []
    for i, utt in enumerate(batch["utt_id"]):
        scores = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(zlib.crc32(f"{int(seed)}:{utt}".encode()))
            for start in range(0, passes, MC_CHUNK):
                n = min(MC_CHUNK, passes - start)
                got = model.infer(to_device(repeat_row(batch, i, n), device))
                scores.append(torch.as_tensor([float(x) for x in got], dtype=torch.float64))
        prob = to_prob(torch.cat(scores))
        score, model_conf, data_conf = mc_summary(prob[:, None])
        out.append((float(score[0]), float(model_conf[0]), float(data_conf[0])))
    return out


def _infer_batch(model, batch, kind, is_done, out, counts):
    """Run the model on one batch and write its utterances not done yet (waves or scores)."""
    ids = batch["utt_id"]
    done = [is_done(u) for u in ids]
    if all(done):
        counts["skipped"] += len(ids)
        return
    if out.get("mc"):
        items = mc_scores(model, batch, out["mc"], out["seed"], out["device"])
    elif kind == "vocoder":
        items = vocode_batch(model, batch, out["frames"], out["device"])
    else:
        items = model.infer(to_device(batch, out["device"]))
    if len(items) != len(ids):
        raise UserError(
            f"{type(model).__name__}.infer() gave {len(items)} outputs for a batch of {len(ids)} "
            "utterances; fix the model's infer()"
        )
    new = {}
    for u, item, was_done in zip(ids, items, done):
        if was_done:
            counts["skipped"] += 1
            continue
        if kind == "vocoder":
            write_wav(out["dir"] / f"{u}.wav", out["rate"], as_wave(item, u, model), subtype=out["subtype"])
        elif out.get("mc"):
            new[u] = item
        else:
            new[u] = _as_score(item, u, model)
        counts["written"] += 1
    if new:
        out["scores"].add(new)


def _finish_bad(out_dir, bad, skip_bad, written):
    """Stop with the first bad file (skip_bad off), or list every skipped one in bad_files.txt."""
    bad_path = out_dir / BAD_FILES
    if bad and not skip_bad:
        utt, reason = bad[0]
        raise UserError(
            f"{reason} (utterance {utt}). The {written} result(s) computed before it are kept in {out_dir} "
            "and a rerun continues from there: fix or re-extract the file (stage 1), or pass --skip-bad "
            f"to skip bad files and list them in {bad_path}"
        )
    if bad:
        write_text_atomic(bad_path, "".join(f"{u} {reason}\n" for u, reason in bad))
        log.warning("%d utterance(s) skipped for bad input files; listed in %s", len(bad), bad_path)
    else:
        bad_path.unlink(missing_ok=True)


@torch.no_grad()
def run_inference(
    model, loader, out_dir, sample_rate, device="cpu", subtype="PCM_16", skip_bad=False, mc_dropout=0, seed=0,
    chunk_seconds=CHUNK_SECONDS,
):
    """Write one output per utterance of `loader` into `out_dir`; skips outputs already there.

    What is written follows the model's declared kind (pylib.contracts.Vocoder: <utt>.wav;
    Countermeasure: scores.txt). A bad input file stops the run (UserError) keeping every output
    written so far; with skip_bad it is skipped and listed with its reason in <out_dir>/bad_files.txt.
    mc_dropout=N: a countermeasure's scores come from N passes with dropout on, with the MC_COLUMNS
    (see the module docstring), seeded by `seed`. chunk_seconds: vocoders generate longer
    utterances in pieces (see the module docstring; 0: never).
    Returns {"written": n, "skipped": n, "bad": n}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    kind = model_kind(model)
    if mc_dropout < 0 or (mc_dropout and kind != "countermeasure"):
        raise UserError(f"MC dropout takes N >= 1 passes of a countermeasure (got {mc_dropout} for a {kind})")
    if mc_dropout:
        dropout_on(model)
    columns = len(MC_COLUMNS) if mc_dropout else 1
    scores = _ScoreFile(out_dir / SCORES, columns) if kind == "countermeasure" else None
    out = {"dir": out_dir, "rate": sample_rate, "subtype": subtype, "device": torch.device(device),
           "scores": scores, "mc": int(mc_dropout), "seed": int(seed),
           "frames": chunk_frames(model, sample_rate, chunk_seconds) if kind == "vocoder" else None}

    def is_done(u):
        return (u in scores.scores) if scores is not None else (out_dir / f"{u}.wav").is_file()

    counts, bad = {"written": 0, "skipped": 0}, []
    try:
        batches = _batches(loader, is_done, bad, counts)
        for batch in tqdm(batches, desc="infer", dynamic_ncols=True, mininterval=1.0):
            _infer_batch(model, batch, kind, is_done, out, counts)
            if bad and not skip_bad:  # this batch's good utterances are done: stop here
                break
    finally:  # also on an error: what was computed stays, sorted and whole
        if scores is not None:
            scores.close()
        model.eval()
    _finish_bad(out_dir, bad, skip_bad, counts["written"])
    return {**counts, "bad": len(bad)}


def infer_settings(config, settings, model_class, where="--set"):
    """Apply inference settings ["model.KEY=VALUE", ...] (typed as yaml, as `--set` of training) to a
    trained model's config -> (new config dict, {KEY: value} of the keys whose value changed).

    Only keys in the model class' `infer_keys` (pylib.contracts.Vocoder) are allowed: the others are
    fixed by training (a UserError names the allowed ones). The new `model:` section goes through the
    model's config dataclass, so a value is checked as at training (a ConfigError)."""
    from pylib.config import from_dict, parse_override, to_dict

    if not settings:
        return config, {}
    section = dict(config.get("model") or {})
    name = section.pop("name", None)
    cls = model_class(name)
    allowed = tuple(getattr(cls, "infer_keys", ()))
    names = ", ".join(f"model.{k}" for k in allowed)
    names = f"allows only its inference settings ({names})" if allowed else "has no inference setting"
    new = dict(section)
    for text in settings:
        keys, value = parse_override(text)
        if len(keys) != 2 or keys[0] != "model" or keys[1] not in allowed:
            raise UserError(
                f"{where} {text}: at inference {name} {names}; every "
                "other key is fixed by training: retrain with it (stage 3, pylib.bin.train --set) instead"
            )
        new[keys[1]] = value
    old_cfg = to_dict(from_dict(cls.Config, section, where="model"))
    new_cfg = to_dict(from_dict(cls.Config, new, where=f"{where} model"))
    changed = {k: new_cfg[k] for k in allowed if new_cfg[k] != old_cfg[k]}
    model_sec = {**config["model"], **{k: new_cfg[k] for k in allowed if k in new}}
    return {**config, "model": model_sec}, changed


def model_and_config(exp_dir, checkpoint="best", device="cpu", with_source=False, *, model_class,
                     settings=()):
    """(model in eval mode, config dict) from an experiment's checkpoint or a one-file model path.

    model_class: name -> model class (the entry point hands in the model catalogue's lookup).
    settings: inference settings ["model.KEY=VALUE", ...] (`infer_settings`), applied to the config
    (the returned one has them); the source records the changed ones as "settings".

    with_source: also {"checkpoint": path, "sha256": hash of the exact bytes the model was built from}.
    The file is read with weights_only=True: a file holding pickled objects is refused."""
    from pylib.engine import checkpoint as ckpt
    from pylib.engine.export import FORMAT, build_from_config, check_model_file
    from pylib.errors import ConfigError, UserError

    path = ckpt.resolve_checkpoint(exp_dir, checkpoint) if exp_dir else Path(checkpoint)
    head, digest = ckpt.read_plain(
        path,
        "checkpoint or model.pt",
        "; pass a checkpoint_*.pt of pylib.bin.train or a model.pt of export_model",
        with_hash=True,
    )
    if isinstance(head, dict) and head.get("format") == FORMAT:
        blob = check_model_file(path, head)  # checks the version
        config, weights = blob["config"], blob["state_dict"]
    else:
        state = ckpt.load_checkpoint(path, state=head)
        config, weights = state["config"], state["model"]
    try:
        config, changed = infer_settings(config, settings, model_class)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    try:
        model = build_from_config(config, weights, model_class, device)
    except ConfigError as e:  # e.g. a model this installation does not register
        raise ConfigError(f"{path}: {e} (pass --import MODULE for a model defined outside nnsp)") from None
    except RuntimeError as e:
        raise UserError(
            f"{path}: its weights do not fit the model of its own config ({e}); re-export it"
        ) from None
    if with_source:
        source = {"checkpoint": str(Path(path).resolve()), "sha256": digest}
        if changed:
            source["settings"] = {k: changed[k] for k in sorted(changed)}
        return model, config, source
    return model, config


def read_record(out_dir):
    """The provenance record of an inference folder ({} when there is none or it is unreadable)."""
    try:
        rec = json.loads((Path(out_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def _outputs(out_dir):
    """What earlier inference runs may have left in out_dir: scores, waveforms, bad-file list."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    return [p for p in out_dir.iterdir() if p.name in (SCORES, BAD_FILES) or p.suffix == ".wav"]


def _move_aside(out_dir):
    return move_aside(out_dir, [p for p in Path(out_dir).iterdir() if p.name != LOCK_NAME])


def check_not_input(out_dir, data_dir, set_name):
    """The output folder may not be the data set inference reads (nor a folder inside it)."""
    out, src = Path(out_dir).resolve(), (Path(data_dir) / set_name).resolve()
    if out == src or src in out.parents or out == Path(data_dir).resolve():
        raise UserError(
            f"{out_dir}: is inside the data being read ({Path(data_dir) / set_name}); inference would "
            "overwrite its own inputs: pass another --out-dir (default <exp-dir>/infer_<set>)"
        )


def prepare_out_dir(out_dir, source, overwrite=False):
    """Make out_dir hold only outputs of `source` (the record to write): resume when it already does,
    redo every output when its record names another checkpoint, set, MC dropout or inference settings
    (IDENTITY), refuse unrecorded outputs unless `overwrite` (which moves them aside to <out_dir>.N).
    Writes the record."""
    out_dir = Path(out_dir)
    old = read_record(out_dir)
    found = _outputs(out_dir)
    same = all(old.get(k) == source.get(k) for k in IDENTITY)
    if overwrite and (found or old):
        dest = _move_aside(out_dir)
        log.info("--overwrite: moved the earlier outputs in %s to %s", out_dir, dest)
    elif found and not old:
        names = ", ".join(p.name for p in found[:3]) + (" ..." if len(found) > 3 else "")
        raise UserError(
            f"{out_dir}: holds outputs ({names}) with no record ({RECORD}) of the checkpoint that wrote "
            "them; they cannot be resumed or mixed with this checkpoint's: pass --overwrite to move them "
            "aside and redo all, or use another --out-dir"
        )
    elif found and not same:
        what = [k for k in IDENTITY if old.get(k) != source.get(k)]
        log.warning(
            "%s: outputs of another %s (%s, sha256 %s): redoing all %d with %s (sha256 %s)",
            out_dir,
            "checkpoint" if "sha256" in what else " and ".join(
                f"{k} ({old.get(k)} -> {source.get(k)})" if k == "settings" else k for k in what),
            old.get("checkpoint"),
            str(old.get("sha256"))[:12],
            len(found),
            source["checkpoint"],
            source["sha256"][:12],
        )
        for p in found:
            p.unlink()
    write_text_atomic(out_dir / RECORD, json.dumps(source, indent=1) + "\n")


def check_record(out_dir, checkpoint_path, what="scores"):
    """Stage 5: the outputs in out_dir were written by the checkpoint at `checkpoint_path` (same bytes)."""
    from pylib.engine import checkpoint as ckpt

    out_dir, checkpoint_path = Path(out_dir), Path(checkpoint_path)
    if not checkpoint_path.is_file():
        raise UserError(f"{checkpoint_path}: checkpoint not found; pass the one stage 4 used")
    rec = read_record(out_dir)
    if not rec.get("sha256"):
        raise UserError(
            f"{out_dir}: no record ({RECORD}) of the checkpoint that wrote these {what}; rerun stage 4 "
            f"(inference) with {checkpoint_path}"
        )
    digest = ckpt.sha256_file(checkpoint_path)
    if rec["sha256"] != digest:
        raise UserError(
            f"{out_dir}: these {what} were written by {rec.get('checkpoint')} (sha256 {rec['sha256'][:12]}), "
            f"not by {checkpoint_path} (sha256 {digest[:12]}); rerun stage 4 (inference) with the "
            "checkpoint the recipe names"
        )
    return rec


def infer_set(
    exp_dir, data_dir, set_name, out_dir, checkpoint="best", device="cpu", overwrite=False, skip_bad=False,
    *, model_class, mc_dropout=0, seed=0, chunk_seconds=CHUNK_SECONDS, settings=(),
):
    """Stage 4 end to end: model from exp_dir, loader over `set_name`, outputs into out_dir.

    model_class: name -> model class (the entry point hands in the model catalogue's lookup).
    mc_dropout, seed: see run_inference (recorded: a rerun with other values redoes the scores);
    chunk_seconds: see run_inference; settings: inference settings ["model.KEY=VALUE", ...]
    (`infer_settings`; recorded: a rerun with other values redoes the outputs)."""
    from pylib.engine.data import get_data_factory, spec_for

    check_not_input(out_dir, data_dir, set_name)
    model, config, source = model_and_config(
        exp_dir, checkpoint, device, with_source=True, model_class=model_class, settings=settings
    )
    if Path(out_dir).resolve() == Path(source["checkpoint"]).parent:
        raise UserError(
            f"{out_dir}: holds the checkpoint being used ({source['checkpoint']}); pass another --out-dir "
            "(default <exp-dir>/infer_<set>)"
        )
    source = {**source, "data_dir": str(Path(data_dir).resolve()), "set": set_name}
    if mc_dropout:
        source.update(mc_dropout={"passes": int(mc_dropout), "seed": int(seed)}, columns=list(MC_COLUMNS))
    fac = get_data_factory()
    spec, _ = spec_for(config, data_dir, [set_name])
    loader = fac.infer_loader(spec, data_dir, set_name)
    with DirLock(out_dir, "inference"):
        prepare_out_dir(out_dir, source, overwrite)
        return run_inference(model, loader, out_dir, spec.sample_rate, device=device, skip_bad=skip_bad,
                             mc_dropout=mc_dropout, seed=seed, chunk_seconds=chunk_seconds)
