"""Long inputs in bounded memory: a vocoder generates an utterance longer than `chunk_seconds` in pieces.

A vocoder that declares how it can be cut (`Vocoder.chunking()`, pylib.contracts.Chunking)
generates an utterance longer than chunk_seconds (default CHUNK_SECONDS; 0: never cut) in pieces
of chunk_seconds, each with `context` frames of input either side (at least the receptive field,
so that the piece's centre is what the whole file gives) and the model's state carried from piece
to piece (`infer_chunk`, e.g. the NSF sine phase; `chunk_init` computes the first piece's from the
whole frame-rate input, e.g. cyc_noise_nsf's mean F0). An autoregressive model (`Chunking.carry`)
generates only each piece's centre and carries its caches, one continuous sample stream. Only the
centres are kept and written into one preallocated output, so memory is the output plus a fixed
amount per piece (`infer_long`). Other models, and shorter utterances, get whole utterances.
Used by the inference runner (pylib.engine.infer) and `vocode` (pylib.metrics.vocoder_report).
"""

import numpy as np
import torch

from pylib.contracts import Vocoder
from pylib.engine.trainer import to_device
from pylib.errors import UserError

CHUNK_SECONDS = 30.0  # vocoders: longer utterances are generated in pieces of this length (0: never)


def as_wave(item, utt, model):
    if torch.is_tensor(item):
        item = item.detach().cpu().numpy()
    item = np.asarray(item)
    if item.ndim == 0 or item.size != max(item.shape):
        raise UserError(
            f"{type(model).__name__} is a vocoder: its infer() must give one waveform (T,) per utterance, "
            f"but gave shape {item.shape} for {utt}; fix the model's infer()"
        )
    return item.reshape(-1).astype(np.float32, copy=False)


def repeat_row(batch, i, n):
    """Row i of a batch, trimmed to its own length, repeated n times (a batch of n copies)."""
    size = len(batch["utt_id"])
    lens = {k[:-4]: int(v[i]) for k, v in batch.items() if k.endswith("_len") and torch.is_tensor(v)}
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v) and v.dim() >= 1 and v.shape[0] == size:
            row = v[i : i + 1]
            base = k[:-5] if k.endswith("_mask") else k
            if base in lens and row.dim() >= 2:
                row = row[:, : lens[base]]
            out[k] = row.repeat(n, *([1] * (row.dim() - 1)))
        elif isinstance(v, list) and len(v) == size:
            out[k] = [v[i]] * n
        else:
            out[k] = v
    return out


def chunk_frames(model, sample_rate, chunk_seconds=CHUNK_SECONDS):
    """Frames per piece of a long input for `model` (None: whole utterances, because the model
    declares no `chunking()` or chunk_seconds is 0/None)."""
    if chunk_seconds is not None and chunk_seconds < 0:
        raise UserError(f"--chunk-seconds must be >= 0 (0: never cut), got {chunk_seconds}")
    spec = model.chunking() if isinstance(model, Vocoder) else None
    if spec is None or not chunk_seconds:
        return None
    return max(1, round(chunk_seconds * sample_rate / spec.hop))


def _frames_of(batch, spec):
    lens = batch.get(f"{spec.inputs[0]}_len")
    return int(lens[0]) if lens is not None else int(batch[spec.inputs[0]].shape[1])


def _piece(batch, spec, start, end):
    """Frames [start, end) of the (one-utterance) batch's chunked inputs."""
    piece = {k: v for k, v in batch.items() if not torch.is_tensor(v)}
    for k in spec.inputs:
        piece[k] = batch[k][:, start:end]
        piece[f"{k}_len"] = torch.tensor([end - start], dtype=torch.int64)
    return piece


def infer_long(model, batch, frames):
    """One utterance (a batch of one) -> its float32 waveform, generated in pieces of `frames`
    frames (see the module docstring); an utterance of at most `frames` frames in one go.

    The model's `chunk_init` of the whole input gives the first piece's state. A model whose pieces
    are not exact (`Chunking.exact` False) gets a linear cross-fade over min(context, frames) // 2
    frames after each boundary, from the earlier piece (which computed them as part of its right
    context) to the later one; an autoregressive one (`Chunking.carry`) generates only each centre,
    continuing its own sample stream, and gets none."""
    spec = model.chunking()
    if spec is None or _frames_of(batch, spec) <= frames:
        return as_wave(model.infer(batch)[0], batch.get("utt_id", ["?"])[0], model)
    n, hop, ctx = _frames_of(batch, spec), spec.hop, spec.context
    fade = 0 if spec.exact or spec.carry else max(0, min(ctx, frames) // 2) * hop  # samples
    ramp = (np.arange(1, fade + 1, dtype=np.float32) / (fade + 1)) if fade else None
    out, state, tail = np.empty(n * hop, dtype=np.float32), model.chunk_init(batch), None

    def first(a):  # the first input frame of the piece whose centre starts at frame a
        return max(0, a - ctx) // spec.align * spec.align

    for a in range(0, n, frames):
        b = min(a + frames, n)
        s, e = first(a), min(n, b + ctx)
        advance = b - s if spec.carry else first(b) - s
        waves, state = model.infer_chunk(_piece(batch, spec, s, e), s, advance, state)
        wave = as_wave(waves[0], batch.get("utt_id", ["?"])[0], model)
        want, keep = ((b - a) * hop, 0) if spec.carry else ((e - s) * hop, (a - s) * hop)
        if wave.size != want:
            raise UserError(f"{type(model).__name__}.infer_chunk() gave {wave.size} samples for "
                            f"{want // hop} frames of hop {hop}; fix the model's chunking()")
        out[a * hop : b * hop] = wave[keep : keep + (b - a) * hop]
        if tail is not None:  # fade from the earlier piece's view of these samples to this one's
            m = min(tail.size, (b - a) * hop)
            out[a * hop : a * hop + m] = tail[:m] * (1 - ramp[:m]) + out[a * hop : a * hop + m] * ramp[:m]
        tail = wave[(b - s) * hop : (b - s) * hop + fade].copy() if fade else None
    return out


def vocode_batch(model, batch, frames, device="cpu"):
    """A vocoder's waveforms of a batch: `model.infer` as is, or, where an utterance is longer than
    `frames` (not None), utterance by utterance with `infer_long`."""
    spec, device = (model.chunking() if frames else None), torch.device(device)
    if spec is not None:
        lens = batch.get(f"{spec.inputs[0]}_len")
        longest = int(lens.max()) if lens is not None else int(batch[spec.inputs[0]].shape[1])
        if longest > frames:
            rows = range(len(batch["utt_id"]))
            return [infer_long(model, to_device(repeat_row(batch, i, 1), device), frames) for i in rows]
    return model.infer(to_device(batch, device))
