"""Stage 5 for vocoders: score generated waveforms against the natural ones, plot, make a listening page.

Per utterance (natural and generated cut to their common length, which copy synthesis makes
equal up to one hop): log-mel L1 distance, mel-cepstral distortion (dB, WORLD CheapTrick envelopes,
both analysed with the natural F0 so the frames and windows match), F0 RMSE (cents, frames voiced
in both) and V/UV error, with F0 from `pylib.features.f0`. The means over utterances go to
results.json next to the per-utterance values. Legend: T samples, N frames, D mel bands.
"""

import dataclasses
import html
import json
import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pylib.errors import DataError
from pylib.features.f0 import compute_f0
from pylib.features.mel import log_mel
from pylib.io.atomic import write_text_atomic
from pylib.io.audio import read_wav
from pylib.metrics.vocoder import f0_metrics, log_mel_l1, mel_cepstral_distortion, world_mel_cepstrum

METRICS = ("mel_l1", "mcd_db", "f0_rmse_cents", "vuv_error")


@dataclasses.dataclass
class ScoreConfig:
    """Analysis settings of the scoring (fixed, so scores of different models compare)."""

    frame_ms: float = 5.0  # frame shift of every analysis (ms)
    n_fft: int = 1024  # log-mel FFT size at 16 kHz (scaled with the rate)
    win_ms: float = 20.0  # log-mel window (ms)
    n_mels: int = 80  # log-mel bands
    f0_method: str = "yin"  # yin (ours) | harvest | dio
    f0_min: float = 60.0  # Hz
    f0_max: float = 500.0  # Hz
    mcd_order: int = 24  # mel-cepstrum order (c_1..c_order enter the MCD)
    max_len_diff_frames: int = 2  # natural/generated lengths may differ by this many frames


def _hop(cfg, sample_rate):
    return max(1, int(round(sample_rate * cfg.frame_ms / 1000.0)))


def analyse(wave, sample_rate, cfg):
    """wave (T,) -> {"mel": (N, D), "f0": (N,)} with N = T // hop + 1."""
    hop = _hop(cfg, sample_rate)
    n_fft = max(64, int(2 ** round(math.log2(cfg.n_fft * sample_rate / 16000.0))))
    win = min(n_fft, int(round(sample_rate * cfg.win_ms / 1000.0)))
    mel = log_mel(np.ascontiguousarray(wave, dtype=np.float32), sample_rate, n_fft, hop, win, cfg.n_mels,
                  fmin=0.0, fmax=sample_rate / 2.0).numpy()
    f0 = compute_f0(wave, sample_rate, hop, cfg.f0_min, cfg.f0_max, cfg.f0_method)
    return {"mel": mel, "f0": f0}


def common_length(ref, gen, hop, max_frames, where):
    """Cut ref (T1,) and gen (T2,) to min(T1, T2); a difference above max_frames * hop is a DataError."""
    diff = abs(len(ref) - len(gen))
    if diff > max_frames * hop:
        raise DataError(f"{where}: {len(gen)} generated samples vs {len(ref)} natural ones ({diff} apart, "
                        f"more than {max_frames} frames of {hop}); the files do not belong together")
    n = min(len(ref), len(gen))
    return ref[:n], gen[:n]


def score_pair(ref, gen, sample_rate, cfg, where="utterance"):
    """Natural ref (T1,) and generated gen (T2,) -> (metrics dict, analyses of both for plotting)."""
    hop = _hop(cfg, sample_rate)
    ref, gen = common_length(ref, gen, hop, cfg.max_len_diff_frames, where)
    a_ref, a_gen = analyse(ref, sample_rate, cfg), analyse(gen, sample_rate, cfg)
    mc_ref = world_mel_cepstrum(ref, a_ref["f0"], sample_rate, cfg.frame_ms, cfg.mcd_order)
    mc_gen = world_mel_cepstrum(gen, a_ref["f0"], sample_rate, cfg.frame_ms, cfg.mcd_order)
    f0 = f0_metrics(a_ref["f0"], a_gen["f0"])
    out = {
        "mel_l1": log_mel_l1(a_ref["mel"], a_gen["mel"]),
        "mcd_db": mel_cepstral_distortion(mc_ref, mc_gen),
        "f0_rmse_cents": f0["f0_rmse_cents"],
        "vuv_error": f0["vuv_error"],
        "frames": f0["n_frames"],
        "voiced_frames_both": f0["n_voiced_both"],
        "seconds": len(ref) / sample_rate,
    }
    return out, (a_ref, a_gen)


def average(per_utt):
    """Mean of each metric over the utterances where it is finite (F0 RMSE is NaN without voiced frames)."""
    mean, counted = {}, {}
    for k in METRICS:
        vals = [u[k] for u in per_utt.values() if math.isfinite(u[k])]
        mean[k] = float(np.mean(vals)) if vals else None
        counted[k] = len(vals)
    return mean, counted


def plot_pair(a_ref, a_gen, sample_rate, hop, path, title):
    """Natural and generated log-mel spectrograms over each other, and both F0 tracks, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_end = a_ref["mel"].shape[0] * hop / sample_rate
    vmin = float(min(a_ref["mel"].min(), a_gen["mel"].min()))
    vmax = float(max(a_ref["mel"].max(), a_gen["mel"].max()))
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
    for ax, a, name in ((axes[0], a_ref, "natural"), (axes[1], a_gen, "generated")):
        ax.imshow(a["mel"].T, origin="lower", aspect="auto", extent=(0, t_end, 0, a["mel"].shape[1]),
                  vmin=vmin, vmax=vmax, cmap="magma")
        ax.set_ylabel(f"{name}\nmel band")
    for a, name, style in ((a_ref, "natural", "-"), (a_gen, "generated", "--")):
        f0 = np.where(a["f0"] > 0, a["f0"], np.nan)
        axes[2].plot(np.arange(f0.size) * hop / sample_rate, f0, style, label=name)
    axes[2].set_ylabel("F0 (Hz)")
    axes[2].set_xlabel("time (s)")
    axes[2].legend(loc="upper right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def score_set(pairs, cfg=None, plot_dir=None, max_plots=20, progress=True):
    """pairs: [(utt, natural path, generated path)] -> results dict (what results.json holds).

    The first `max_plots` utterances (in the given order) get `<plot_dir>/<utt>.png`.
    """
    cfg = cfg or ScoreConfig()
    per_utt, rate = {}, None
    plots = {}
    for i, (utt, ref_path, gen_path) in enumerate(tqdm(pairs, desc="score", disable=not progress)):
        sr_ref, ref = read_wav(ref_path)
        sr_gen, gen = read_wav(gen_path)
        if sr_ref != sr_gen:
            raise DataError(f"{gen_path}: generated at {sr_gen} Hz but the natural {ref_path} is at "
                            f"{sr_ref} Hz")
        if rate is not None and sr_ref != rate:
            raise DataError(f"{ref_path}: {sr_ref} Hz, other utterances are at {rate} Hz")
        rate = sr_ref
        per_utt[utt], (a_ref, a_gen) = score_pair(ref, gen, rate, cfg, where=str(gen_path))
        if plot_dir is not None and i < max_plots:
            Path(plot_dir).mkdir(parents=True, exist_ok=True)
            plots[utt] = Path(plot_dir) / f"{utt}.png"
            plot_pair(a_ref, a_gen, rate, _hop(cfg, rate), plots[utt], utt)
    mean, counted = average(per_utt)
    return {
        "num_utts": len(per_utt),
        "sample_rate": rate,
        "mean": mean,
        "utts_in_mean": counted,
        "settings": dataclasses.asdict(cfg),
        "per_utt": per_utt,
    }, plots


def write_results(path, results):
    """results.json, atomically; NaN (no voiced frame) is written as null."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x

    write_text_atomic(path, json.dumps(clean(results), indent=2) + "\n")


def _fmt(x, digits=3):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def summary_text(results):
    """A readable table: the means, then one line per utterance."""
    m = results["mean"]
    lines = [f"{results['num_utts']} utterances at {results['sample_rate']} Hz",
             f"mean: log-mel L1 {_fmt(m['mel_l1'])}  MCD {_fmt(m['mcd_db'], 2)} dB  "
             f"F0 RMSE {_fmt(m['f0_rmse_cents'], 1)} cents  V/UV error {_fmt(m['vuv_error'])}",
             f"{'utterance':<24} {'mel_l1':>8} {'MCD_dB':>8} {'F0_cents':>9} {'VUV_err':>8}"]
    for utt, u in results["per_utt"].items():
        lines.append(f"{utt:<24} {_fmt(u['mel_l1']):>8} {_fmt(u['mcd_db'], 2):>8} "
                     f"{_fmt(u['f0_rmse_cents'], 1):>9} {_fmt(u['vuv_error']):>8}")
    return "\n".join(lines) + "\n"


def listening_page(path, pairs, results, plots, title="nnsp listening test"):
    """index.html at `path`: per utterance natural vs generated players, the metrics and the PNG.

    Links are relative to the page's folder, so the page works from a copy of the whole tree.
    """
    base = Path(path).resolve().parent

    def rel(p):
        return html.escape(os.path.relpath(Path(p).resolve(), base).replace(os.sep, "/"), quote=True)

    m = results["mean"]
    rows = []
    for utt, ref_path, gen_path in pairs:
        u = results["per_utt"].get(utt)
        if u is None:
            continue
        img = ""
        if utt in plots:
            img = f'<br><img src="{rel(plots[utt])}" alt="spectrograms of {html.escape(utt)}">'
        rows.append(
            f"<tr><td>{html.escape(utt)}</td>"
            f'<td><audio controls preload="none" src="{rel(ref_path)}"></audio></td>'
            f'<td><audio controls preload="none" src="{rel(gen_path)}"></audio>{img}</td>'
            f"<td>{_fmt(u['mel_l1'])}</td><td>{_fmt(u['mcd_db'], 2)}</td>"
            f"<td>{_fmt(u['f0_rmse_cents'], 1)}</td><td>{_fmt(u['vuv_error'])}</td></tr>"
        )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} td{{padding:4px;vertical-align:top;border-bottom:1px solid #ccc}}
img{{max-width:640px}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{results['num_utts']} utterances. Means: log-mel L1 {_fmt(m['mel_l1'])}, MCD {_fmt(m['mcd_db'], 2)} dB,
F0 RMSE {_fmt(m['f0_rmse_cents'], 1)} cents, V/UV error {_fmt(m['vuv_error'])}.</p>
<table><tr><th>utterance</th><th>natural</th><th>generated</th><th>mel L1</th><th>MCD dB</th>
<th>F0 RMSE cents</th><th>V/UV err</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    write_text_atomic(path, page)


class CopySynthesis:
    """Copy synthesis with a one-file vocoder model: any waveform at any rate -> generated waveform.

    The input features are made exactly as stage 1 made them for training: the extractors of the
    model's saved `features:` section (by the names of its `data.inputs`), after resampling to the
    model's rate. `sample_rate` is the rate of what `__call__` returns. chunk_seconds: a longer
    input is generated in pieces (pylib.engine.longform.infer_long; None or 0: whole). settings:
    inference settings ["model.KEY=VALUE", ...] (pylib.engine.infer.infer_settings).
    """

    def __init__(self, model_path, device="cpu", model_class=None, chunk_seconds=None, settings=()):
        import torch  # noqa: F401  (the model file needs it; kept out of the metrics' import cost)

        from pylib.engine.export import build_from_config, read_model_file
        from pylib.engine.infer import infer_settings
        from pylib.errors import UserError
        from pylib.features import build_extractors, parse_features
        from pylib.models.catalogue import get_model_class

        blob = read_model_file(model_path)
        config = blob["config"]
        if not config.get("features"):
            raise UserError(f"{model_path}: the model's config has no `features:` section, so the input "
                            "features cannot be remade; export a model trained from a recipe config")
        fcfg = parse_features(config["features"], where=f"{model_path}: features")
        extractors = build_extractors(fcfg)
        try:
            config, _ = infer_settings(config, settings, model_class or get_model_class)
        except UserError as e:
            raise type(e)(f"{model_path}: {e}") from None
        self.model = build_from_config(config, blob["state_dict"], model_class or get_model_class, device)
        self.inputs = [f["name"] for f in config["data"]["inputs"]]
        missing = [n for n in self.inputs if n not in extractors]
        if missing:
            raise UserError(f"{model_path}: model inputs {missing} have no extractor in its features: "
                            f"section (has {sorted(extractors)})")
        self.extractors = {n: extractors[n] for n in self.inputs}
        self.sample_rate = fcfg.sample_rate
        self.device = device
        self.chunk_seconds = chunk_seconds

    def load(self, path):
        """An audio file (any rate) -> (T,) float32 at the model's rate, read by stage 1's loader."""
        from pylib.features.wave import load_wave

        return load_wave(path, self.sample_rate)

    def __call__(self, wave, sample_rate):
        """wave (T,) at sample_rate -> generated (T',) float32 at self.sample_rate."""
        import torch

        from pylib.errors import UserError
        from pylib.features.wave import resample_keep_silence

        wave = resample_keep_silence(np.asarray(wave, dtype=np.float32), sample_rate, self.sample_rate)
        batch = {"utt_id": ["input"]}
        for name, ex in self.extractors.items():
            feat = torch.from_numpy(np.ascontiguousarray(ex(wave), dtype=np.float32))[None]  # (1, N, D)
            batch[name] = feat.to(self.device)
            batch[f"{name}_len"] = torch.tensor([feat.shape[1]], dtype=torch.int64)
        with torch.no_grad():
            if self.chunk_seconds:
                from pylib.engine.longform import chunk_frames, infer_long

                frames = chunk_frames(self.model, self.sample_rate, self.chunk_seconds)
                out = infer_long(self.model, batch, frames) if frames else self.model.infer(batch)[0]
            else:
                out = self.model.infer(batch)[0]
        if torch.is_tensor(out):
            out = out.detach().cpu().numpy()
        out = np.asarray(out, dtype=np.float32).reshape(-1)
        if out.size <= 1:
            raise UserError("the model returned a score, not a waveform: vocode needs a vocoder model")
        return out[: wave.size]  # N * hop samples cover the input; the tail past it is padding
