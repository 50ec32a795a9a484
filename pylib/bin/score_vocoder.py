"""Stage 5 for vocoders: generated vs natural waveforms -> results.json, spectrogram PNGs, index.html.

    python -m pylib.bin.score_vocoder --gen-dir exp/hn_sinc_nsf/infer_eval --ref-dir dump/eval/wav \
        [--exp-dir exp/hn_sinc_nsf --checkpoint best]

With --checkpoint (best/last of --exp-dir, or a path) the waveforms must come from that checkpoint:
stage 4's record in --gen-dir (infer_source.json) is checked against the file's sha256.
"""

import warnings
from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import check_checkpoint, run
from pylib.errors import UserError
from pylib.features.f0 import METHODS
from pylib.io.tables import read_list, read_wav_scp
from pylib.metrics.vocoder_report import ScoreConfig, listening_page, score_set, summary_text, write_results

AUDIO = (".wav", ".flac")


def build_parser():
    d = ScoreConfig()
    p = _cli.new_parser(
        "pylib.bin.score_vocoder",
        __doc__,
        description="Score generated waveforms against the natural ones: log-mel L1, MCD (dB), F0 RMSE "
        "(cents) and V/UV error per utterance and averaged; spectrogram PNGs; a listening page.\n\n"
        + __doc__,
    )
    p.add_argument("--gen-dir", required=True, help="generated <utt>.wav files (stage 4's infer_<set>/)")
    ref = p.add_mutually_exclusive_group(required=True)
    ref.add_argument("--ref-dir", help="natural <utt>.wav/.flac files, e.g. dump/<set>/wav")
    ref.add_argument("--ref-scp", help="natural waveforms as a wav.scp (`utt path` lines; no pipes)")
    _cli.add_exp_dir(p, detail="its --checkpoint best/last generated --gen-dir")
    p.add_argument("--checkpoint", default=None,
                   help="best | last (with --exp-dir) | a path: refuse waveforms made with another one")
    p.add_argument("--list", default=None,
                   help="utterances to score (one id a line); default: every generated wav in --gen-dir")
    p.add_argument("--out", default=None, help="results JSON; default <gen-dir>/results.json")
    p.add_argument("--plots-dir", default=None, help="spectrogram PNGs; default <gen-dir>/plots")
    p.add_argument("--max-plots", type=int, default=20, help="draw PNGs for the first N utterances only")
    p.add_argument("--html", default=None, help="listening page; default <gen-dir>/index.html")
    p.add_argument("--f0-method", choices=METHODS, default=d.f0_method,
                   help="F0 extractor for the F0 metrics")
    p.add_argument("--f0-min", type=float, default=d.f0_min, help="lowest F0 searched (Hz)")
    p.add_argument("--f0-max", type=float, default=d.f0_max, help="highest F0 searched (Hz)")
    p.add_argument("--frame-ms", type=float, default=d.frame_ms, help="analysis frame shift (ms)")
    p.add_argument("--mcd-order", type=int, default=d.mcd_order, help="mel-cepstrum order of the MCD")
    _cli.add_num_threads(p)
    _cli.add_no_progress(p)
    return p


def _pairs(args):
    gen_dir = Path(args.gen_dir)
    if not gen_dir.is_dir():
        raise UserError(f"{gen_dir}: no such folder; run stage 4 (inference) first")
    if args.list:
        ids = read_list(args.list)
    else:
        ids = sorted(p.stem for p in gen_dir.iterdir()
                     if p.suffix.lower() in AUDIO and not p.name.startswith("."))
    if not ids:
        raise UserError(f"{gen_dir}: holds no generated .wav files; run stage 4 (inference) first")
    if args.ref_scp:
        scp = read_wav_scp(args.ref_scp)
        refs = {u: Path(v) for u, v in scp.items() if not v.strip().endswith("|")}
        where = args.ref_scp
    else:
        ref_dir = Path(args.ref_dir)
        if not ref_dir.is_dir():
            raise UserError(f"{ref_dir}: no such folder of natural waveforms; run stage 1 (features) first")
        refs = {p.stem: p for p in ref_dir.iterdir() if p.suffix.lower() in AUDIO}
        where = str(ref_dir)
    pairs = []
    for u in ids:
        gen = next((gen_dir / f"{u}{e}" for e in AUDIO if (gen_dir / f"{u}{e}").is_file()), None)
        if gen is None:
            raise UserError(f"{gen_dir}: no generated waveform for {u!r} (listed in {args.list}); "
                            "rerun stage 4")
        if u not in refs:
            raise UserError(f"{where}: no natural waveform (file path) for {u!r}; score against the set "
                            "the model generated from")
        pairs.append((u, refs[u], gen))
    return pairs


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.max_plots < 0:
        raise UserError(f"--max-plots must be >= 0, got {args.max_plots}")
    cfg = ScoreConfig(frame_ms=args.frame_ms, f0_method=args.f0_method, f0_min=args.f0_min,
                      f0_max=args.f0_max, mcd_order=args.mcd_order)
    gen_dir = Path(args.gen_dir)
    if gen_dir.is_dir():
        check_checkpoint(args.exp_dir, args.checkpoint, gen_dir, "waveforms")
    pairs = _pairs(args)
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # pyworld's import
    plots_dir = Path(args.plots_dir) if args.plots_dir else gen_dir / "plots"
    results, plots = score_set(pairs, cfg, plots_dir if args.max_plots else None, args.max_plots,
                               progress=not args.no_progress)
    out = Path(args.out) if args.out else gen_dir / "results.json"
    write_results(out, results)
    page = Path(args.html) if args.html else gen_dir / "index.html"
    listening_page(page, pairs, results, plots, title=f"nnsp: {gen_dir}")
    print(summary_text(results), end="")
    print(f"results: {out}\nlistening page: {page}")
    return 0


if __name__ == "__main__":
    run(main)
