"""The inference runner (stage 4): batches in, one output per utterance out, resumable.

Outputs, by what `model.infer(batch)` returns per utterance:
- a float32 waveform (T,) -> `<out>/<utt-id>.wav` at the data's sample rate (written atomically);
- a float score -> a line `utt-id score` in `<out>/scores.txt`, appended and fsynced per batch, the
  whole file rewritten sorted at the end.
A rerun skips utterances whose output exists, so a killed run resumes.

Long utterances: a model with an attribute `infer_chunk = (chunk, overlap)` (both in waveform
samples) is run on overlapping pieces of each utterance, one utterance at a time; every input
feature is sliced through its `reso`, and waveform pieces are joined with a linear cross-fade over
`overlap` samples. Models without it get whole utterances.
"""

import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pylib.engine.trainer import to_device
from pylib.io.atomic import write_text_atomic
from pylib.io.audio import write_wav

SCORES = "scores.txt"


def read_scores(path):
    """{utt: score} of the complete lines of a scores file (a line cut by a kill is dropped)."""
    out = {}
    path = Path(path)
    if not path.is_file():
        return out
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]
    for line in lines:
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return out


def _write_scores(path, scores):
    write_text_atomic(path, "".join(f"{u} {s:.6f}\n" for u, s in sorted(scores.items())))


def _slice_batch(batch, b, s, e, inputs):
    """Utterance b of `batch`, time span [s, e) in samples -> a batch of one (inputs only)."""
    out = {"utt_id": [batch["utt_id"][b]]}
    for name, reso in inputs:
        fs, fe = s // reso, math.ceil(e / reso)
        x = batch[name][b : b + 1, fs:fe]
        out[name] = x
        out[f"{name}_len"] = torch.tensor([x.shape[1]], dtype=torch.int64)
    for k, v in batch.items():
        if k not in out and not k.endswith("_len") and isinstance(v, list):
            out[k] = [v[b]]
    return out


def infer_chunked(model, batch, b, inputs, chunk, overlap):
    """Waveform of utterance b generated in overlapping pieces and cross-faded. -> (T,) float32."""
    name, reso = inputs[0]
    total = int(batch[f"{name}_len"][b]) * reso
    hop = max(chunk - overlap, 1)
    out = np.zeros(total, dtype=np.float64)
    weight = np.zeros(total, dtype=np.float64)
    s = 0
    while True:
        e = min(s + chunk, total)
        y = np.asarray(model.infer(_slice_batch(batch, b, s, e, inputs))[0], dtype=np.float64).reshape(-1)
        y = y[: e - s]
        w = np.ones(len(y))
        ov = min(overlap, len(y))
        if s > 0 and ov:
            w[:ov] = np.linspace(0, 1, ov + 2)[1:-1]
        if e < total and ov:
            w[-ov:] = np.linspace(1, 0, ov + 2)[1:-1]
        out[s : s + len(y)] += y * w
        weight[s : s + len(y)] += w
        if e >= total:
            break
        s += hop
    return (out / np.maximum(weight, 1e-8)).astype(np.float32)


@torch.no_grad()
def run_inference(model, loader, out_dir, sample_rate, inputs, device="cpu", subtype="PCM_16"):
    """Write one output per utterance of `loader` into `out_dir`; skips outputs already there.

    inputs: [(feature name, reso)] of the model inputs (for chunked generation).
    Returns {"written": n, "skipped": n}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    model.eval()
    scores_path = out_dir / SCORES
    scores = read_scores(scores_path)
    if scores_path.is_file():
        _write_scores(scores_path, scores)  # drop a half-written last line before appending
    chunking = getattr(model, "infer_chunk", None)
    written = skipped = 0
    with open(scores_path, "a", encoding="utf-8") as sf:
        for batch in tqdm(loader, desc="infer", dynamic_ncols=True, mininterval=1.0):
            ids = batch["utt_id"]
            done = [u in scores or (out_dir / f"{u}.wav").is_file() for u in ids]
            if all(done):
                skipped += len(ids)
                continue
            batch = to_device(batch, device)
            if chunking:
                items = [infer_chunked(model, batch, b, inputs, *chunking) for b in range(len(ids))]
            else:
                items = model.infer(batch)
            lines = []
            for u, item, was_done in zip(ids, items, done):
                if was_done:
                    skipped += 1
                    continue
                if torch.is_tensor(item):
                    item = item.detach().cpu().numpy()
                if isinstance(item, np.ndarray) and item.size > 1:
                    write_wav(out_dir / f"{u}.wav", sample_rate, item.reshape(-1), subtype=subtype)
                else:
                    scores[u] = float(item)
                    lines.append(f"{u} {scores[u]:.6f}\n")
                written += 1
            if lines:
                sf.write("".join(lines))
                sf.flush()
                os.fsync(sf.fileno())
    if scores:
        _write_scores(scores_path, scores)
    else:
        scores_path.unlink(missing_ok=True)
    return {"written": written, "skipped": skipped}


def model_and_config(exp_dir, checkpoint="best", device="cpu"):
    """(model in eval mode, config dict) from an experiment's checkpoint or a one-file model path."""
    from pylib.engine import checkpoint as ckpt
    from pylib.engine.export import FORMAT, build_from_config, read_model_file
    from pylib.errors import ConfigError, UserError

    path = ckpt.resolve_checkpoint(exp_dir, checkpoint) if exp_dir else Path(checkpoint)
    try:
        head = torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None
    except Exception:  # truncated or foreign: load_checkpoint below names the file
        head = None
    if isinstance(head, dict) and head.get("format") == FORMAT:
        blob = read_model_file(path)  # checks the version
        config, weights = blob["config"], blob["state_dict"]
    else:
        state = ckpt.load_checkpoint(path)
        config, weights = state["config"], state["model"]
    try:
        return build_from_config(config, weights, device), config
    except ConfigError as e:  # e.g. a model this installation does not register
        raise ConfigError(f"{path}: {e} (pass --import MODULE for a model defined outside nnsp)") from None
    except RuntimeError as e:
        raise UserError(
            f"{path}: its weights do not fit the model of its own config ({e}); re-export it"
        ) from None


def infer_set(exp_dir, data_dir, set_name, out_dir, checkpoint="best", device="cpu"):
    """Stage 4 end to end: model from exp_dir, loader over `set_name`, outputs into out_dir."""
    from pylib.engine.data import get_data_factory

    model, config = model_and_config(exp_dir, checkpoint, device)
    fac = get_data_factory()
    spec = fac.spec(config["data"])
    loader = fac.infer_loader(spec, data_dir, set_name)
    inputs = [(f.name, int(f.reso)) for f in spec.inputs]
    return run_inference(model, loader, out_dir, spec.sample_rate, inputs, device=device)
