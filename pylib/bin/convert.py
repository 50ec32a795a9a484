"""Voice conversion with a trained Blow model: wav/flac files at any rate -> converted wavs.

    python -m pylib.bin.convert --model model.pt --target p245 [--source p225] src.wav ... --out-dir out/
    python -m pylib.bin.convert --model model.pt --pairs pairs.txt --wav-scp data/test/wav.scp --out-dir out/

The source speaker is `--source`, else the part of the file name (or utterance id) before the first
"_" (VCTK's p225_001 -> p225, as the seed's speaker map reads it); a speaker the model was not
trained on takes the model's "unseen" embedding. A target it was not trained on is an error listing
the ones it knows. `--pairs FILE` holds lines `utt_id target_speaker` (the recipe's stage 4), the
audio of each utterance taken from `--wav-scp`. Each output is `<out-dir>/<name>.wav` (name: the
input's file stem or utterance id), at the model's rate, as long as the input (after resampling),
scaled to peak 1 as the seed's conversion does.
"""

from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import UserError


def build_parser():
    p = _cli.new_parser("pylib.bin.convert", __doc__,
                        description="Blow voice conversion of whole files (frames of the model's `frame` "
                        "samples, overlap-added).\n\n" + __doc__)
    p.add_argument("--model", required=True, help="one-file Blow model (export_model or import_project_nn)")
    p.add_argument("inputs", nargs="*", help="wav/flac files, any sample rate, mono (or use --pairs)")
    p.add_argument("--target", default=None, metavar="SPK",
                   help="target speaker, one the model was trained on")
    p.add_argument("--source", default=None, metavar="SPK",
                   help="source speaker of every input (default: the name's prefix before '_')")
    p.add_argument("--pairs", default=None, metavar="FILE",
                   help="lines `utt_id target_speaker`: convert each utterance of --wav-scp to its target")
    p.add_argument("--wav-scp", default=None, metavar="FILE", help="wav.scp naming the audio of --pairs' ids")
    p.add_argument("--out-dir", required=True, help="output folder")
    _cli.add_device(p)
    _cli.add_num_threads(p)
    _cli.add_overwrite(p, detail="an input file is never overwritten")
    _cli.add_no_progress(p)
    return p


def _jobs(args):
    """[(name, audio entry, source speaker or None, target)] from the inputs or --pairs."""
    if args.pairs:
        if args.inputs or args.target:
            raise UserError("--pairs names the utterances and their targets: give no input files or --target")
        if not args.wav_scp:
            raise UserError("--pairs needs --wav-scp (the wav.scp that names each utterance's audio)")
        from pylib.io.tables import read_table, read_wav_scp

        scp = read_wav_scp(args.wav_scp)
        pairs = read_table(args.pairs)
        missing = sorted(u for u in pairs if u not in scp)
        if missing:
            raise UserError(f"{args.pairs}: utterance(s) {missing[:5]} are not in {args.wav_scp}; "
                            "list only utterances of that data folder")
        return [(u, scp[u], args.source, t) for u, t in pairs.items()]
    if not args.inputs or not args.target:
        raise UserError("give input files and --target SPK, or --pairs FILE with --wav-scp")
    missing = [p for p in args.inputs if not Path(p).is_file()]
    if missing:
        raise UserError(f"input file(s) not found: {', '.join(missing)}")
    stems = [Path(p).stem for p in args.inputs]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise UserError(f"inputs {dup} would write the same output name; rename or convert them separately")
    return [(Path(p).stem, p, args.source, args.target) for p in args.inputs]


def _load(path, device):
    from pylib.engine.export import build_from_config, read_model_file
    from pylib.models.catalogue import get_model_class
    from pylib.models.vocoder.blow import Blow

    blob = read_model_file(path)
    model = build_from_config(blob["config"], blob["state_dict"], get_model_class, device)
    if not isinstance(model, Blow):
        raise UserError(f"{path}: a {type(model).__name__} model; convert needs a Blow model "
                        "(model.name: blow)")
    return blob["config"], model


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    import torch
    from tqdm import tqdm

    from pylib.features.wave import ModelWave
    from pylib.io.atomic import make_folder
    from pylib.io.audio import audio_info, write_wav
    from pylib.io.names import check_not_input, check_out_dir, safe_join

    jobs = _jobs(args)
    out_dir = check_out_dir(Path(args.out_dir))
    outs = [safe_join(out_dir, name, ".wav", where=args.pairs or "input name") for name, *_ in jobs]
    check_not_input(outs, [str(e) for _, e, _, _ in jobs] + [args.model], what="converted wav")
    config, model = _load(args.model, _cli.resolve_device(args.device))
    for _, _, src, tgt in jobs:  # every target checked before any work
        model.target_index(tgt)
        if src is not None:
            model.speaker_index(src)
    wave = ModelWave(config, model.cfg.wav, where=args.model)
    sr = wave.sample_rate
    device = next(model.parameters()).device
    make_folder(out_dir)
    resampled = 0
    for (name, entry, src, tgt), out in tqdm(list(zip(jobs, outs)), desc="convert", disable=args.no_progress):
        if out.is_file() and not args.overwrite:
            continue
        if not str(entry).rstrip().endswith("|") and audio_info(entry)[0] != sr:
            resampled += 1
        x = torch.from_numpy(wave(entry)).to(device)
        spk = src if src is not None else model.speaker_of(name)
        with torch.no_grad():
            y = model.convert(x, model.speaker_index(spk), model.target_index(tgt))
        write_wav(out, sr, y.float().cpu().numpy())
    if resampled:
        print(f"{resampled} input(s) resampled to the model's {sr} Hz")
    print(f"{len(jobs)} file(s) -> {out_dir} at {sr} Hz")
    return 0


if __name__ == "__main__":
    run(main)
