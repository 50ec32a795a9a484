"""Copy synthesis with a trained vocoder: wav/flac files at any rate -> generated wavs.

    python -m pylib.bin.vocode --model model.pt in.wav [more.wav ...] --out-dir out/
"""

import warnings
from pathlib import Path

from tqdm import tqdm

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import UserError
from pylib.io.atomic import make_folder
from pylib.io.audio import write_wav
from pylib.io.names import check_not_input, check_out_dir


def build_parser():
    p = _cli.new_parser(
        "pylib.bin.vocode",
        __doc__,
        description="Copy synthesis: features extracted with the model's saved settings (resampled to "
        "its rate as needed), then the vocoder; writes <out-dir>/<input name>.wav at the model's rate.\n\n"
        + __doc__,
    )
    p.add_argument("--model", required=True, help="one-file model (python -m pylib.bin.export_model)")
    p.add_argument("inputs", nargs="+", help="wav/flac files, any sample rate, mono")
    p.add_argument("--out-dir", required=True, help="output folder")
    _cli.add_device(p, default="cpu")
    _cli.add_num_threads(p)
    _cli.add_overwrite(p, detail="an input file is never overwritten")
    _cli.add_chunk_seconds(p)
    _cli.add_infer_settings(p)
    _cli.add_no_progress(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.metrics.vocoder_report import CopySynthesis

    stems = [Path(p).stem for p in args.inputs]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise UserError(f"inputs {dup} would write the same output name; rename or vocode them separately")
    missing = [p for p in args.inputs if not Path(p).is_file()]
    if missing:
        raise UserError(f"input file(s) not found: {', '.join(missing)}")
    out_dir = check_out_dir(Path(args.out_dir))
    outs = [out_dir / f"{Path(p).stem}.wav" for p in args.inputs]  # a stem is one path component
    check_not_input(outs, [*args.inputs, args.model], what="generated wav")  # even with --overwrite
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # pyworld's import
    if args.chunk_seconds < 0:
        raise UserError(f"--chunk-seconds must be >= 0 (0: never cut), got {args.chunk_seconds}")
    device = _cli.resolve_device(args.device)
    vocoder = CopySynthesis(
        args.model, device=device, chunk_seconds=args.chunk_seconds, settings=args.overrides
    )
    make_folder(out_dir)
    for path, out in tqdm(list(zip(args.inputs, outs)), desc="vocode", disable=args.no_progress):
        if out.is_file() and not args.overwrite:
            continue
        write_wav(out, vocoder.sample_rate, vocoder(vocoder.load(path), vocoder.sample_rate))
    print(f"{len(args.inputs)} file(s) -> {out_dir} at {vocoder.sample_rate} Hz")
    return 0


if __name__ == "__main__":
    run(main)
