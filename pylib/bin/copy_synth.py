"""Vocoded spoofs: copy-synthesise the bona fide utterances of a data dir with nnsp vocoders.

    python -m pylib.bin.copy_synth --source data/train --vocoders exp/nsf/model.pt exp/hifigan/model.pt \\
        --names nsf hifigan --out data/train_voc

Each bona fide utterance of the --source data folder (utt2label `bonafide`; every utterance when
the folder has no utt2label) is vocoded by every model, as `vocode` does (the model's own features, extracted
with its saved settings after resampling to its rate), and the result is a new data dir:
<out>/wav/<utt>__<vocoder>.wav, wav.scp, utt2label (`<utt>__<vocoder> spoof <vocoder>`),
utt2vocoder (`<utt>__<vocoder> <vocoder>`) and utt2spk when the source has one. A rerun skips
outputs whose inputs (model bytes, wav.scp entry, source file size and time) are unchanged and redoes
the others (the record is <out>/copy_synth.done); --overwrite redoes all.
"""

import hashlib
import logging
import os
from pathlib import Path

from tqdm import tqdm

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import DataError, UserError

DONE = "copy_synth.done"  # `utt-id fingerprint` lines, appended as each output is written
SEP = "__"  # output id = <source utt><SEP><vocoder name>
log = logging.getLogger("nnsp.copy_synth")


def build_parser():
    p = _cli.new_parser("pylib.bin.copy_synth", __doc__)
    p.add_argument(
        "--source", required=True, metavar="DIR",
        help="the source data folder, e.g. data/train (wav.scp; utt2label, utt2spk if any); --data-dir is "
        "the dump folder in every entry point, so it is not used here",
    )
    p.add_argument("--vocoders", nargs="+", required=True, help="one-file vocoder models (export_model)")
    p.add_argument("--names", nargs="+", default=None,
                   help="vocoder names in the ids and labels, one per model; default the model file stems")
    p.add_argument("--out", required=True, help="the new data dir")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="resample the outputs to this rate (Hz); default each vocoder's own rate")
    _cli.add_device(p, default="cpu")
    _cli.add_num_threads(p)
    _cli.add_overwrite(p, detail="every output is remade; the source data dir is never written")
    _cli.add_no_progress(p)
    return p


def vocoder_names(models, names):
    """Checked vocoder names: --names, or the stems of the model files."""
    from pylib.io.names import name_problem

    names = list(names) if names else [Path(m).stem for m in models]
    if len(names) != len(models):
        raise UserError(
            f"--names gives {len(names)} name(s) for {len(models)} --vocoders; give one per model"
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"vocoder name(s) {dup} given twice (model file stems collide?); pass --names")
    for n in names:
        why = name_problem(n)
        if why is not None:
            raise UserError(
                f"vocoder name {n!r} {why}; pass --names with plain names (letters, digits, _ - .)"
            )
    missing = [m for m in models if not Path(m).is_file()]
    if missing:
        raise UserError(f"vocoder model(s) not found: {', '.join(missing)}")
    return names


def bona_fide(data_dir):
    """(wav.scp {utt: entry} of the bona fide utterances, utt2spk or None) of a data dir."""
    from pylib.io import read_utt2label, read_utt2spk, read_wav_scp

    data_dir = Path(data_dir)
    if not (data_dir / "wav.scp").is_file():
        raise DataError(f"{data_dir / 'wav.scp'}: not found; --source must be a data folder (run stage 0)")
    scp = read_wav_scp(data_dir / "wav.scp")
    if (data_dir / "utt2label").is_file():
        labels = read_utt2label(data_dir / "utt2label")
        scp = {u: e for u, e in scp.items() if labels.get(u, ("",))[0] == "bonafide"}
        if not scp:
            raise DataError(f"{data_dir / 'utt2label'}: no utterance of wav.scp is labelled bonafide; "
                            "copy synthesis vocodes the bona fide ones")
    spk = read_utt2spk(data_dir / "utt2spk") if (data_dir / "utt2spk").is_file() else None
    return scp, spk


def fingerprint(model_hash, entry, rate):
    """What an output depends on: the model's bytes, the wav.scp entry, the source file's size and
    modification time (when the entry is a file) and the output rate."""
    src = entry.strip()
    stat = ""
    if not src.endswith("|") and os.path.isfile(src):
        st = os.stat(src)
        stat = f"{st.st_size}:{st.st_mtime_ns}"
    return hashlib.sha256(f"{model_hash}\n{entry}\n{stat}\n{rate}".encode()).hexdigest()[:32]


def read_done(path):
    """{utt-id: fingerprint} of a done record; a line cut by a kill is dropped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return {}
    out = {}
    for line in text.split("\n")[:-1]:
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def plan(scp, names, out_dir):
    """[(out id, source utt, vocoder index, output path)] for every source utterance and vocoder."""
    from pylib.io.names import check_name

    jobs = []
    for utt in sorted(scp):
        for k, name in enumerate(names):
            vid = check_name(f"{utt}{SEP}{name}", "wav.scp", what="output id")
            jobs.append((vid, utt, k, out_dir / "wav" / f"{vid}.wav"))
    return jobs


def synthesise(jobs, scp, models, args, out_dir):
    """Write every output not done yet (or changed); -> (written, skipped)."""
    from pylib.engine.checkpoint import sha256_file
    from pylib.features.wave import resample_keep_silence
    from pylib.io.atomic import make_folder, write_text_atomic
    from pylib.io.audio import write_wav
    from pylib.metrics.vocoder_report import CopySynthesis

    done_path = out_dir / DONE
    done = {} if args.overwrite else read_done(done_path)
    hashes = [sha256_file(m) for m in models]
    prints = {vid: fingerprint(hashes[k], scp[utt], args.sample_rate) for vid, utt, k, _ in jobs}
    todo = [j for j in jobs if done.get(j[0]) != prints[j[0]] or not j[3].is_file()]
    todo.sort(key=lambda j: j[2])  # by vocoder: each model is loaded once
    make_folder(out_dir / "wav")
    keep = {vid: done[vid] for vid, *_ in jobs if vid in done and done[vid] == prints[vid]}
    write_text_atomic(done_path, "".join(f"{u} {p}\n" for u, p in sorted(keep.items())))
    loaded, device = {}, _cli.resolve_device(args.device)
    with open(done_path, "a", encoding="utf-8") as rec:
        for vid, utt, k, path in tqdm(todo, desc="copy_synth", disable=args.no_progress, dynamic_ncols=True):
            if k not in loaded:
                loaded = {k: CopySynthesis(models[k], device=device)}  # one model in memory at a time
            voc = loaded[k]
            wave = voc(voc.load(scp[utt]), voc.sample_rate)
            rate = args.sample_rate or voc.sample_rate
            if rate != voc.sample_rate:
                wave = resample_keep_silence(wave, voc.sample_rate, rate)
            write_wav(path, rate, wave)
            rec.write(f"{vid} {prints[vid]}\n")
            rec.flush()
            os.fsync(rec.fileno())
    return len(todo), len(jobs) - len(todo)


def write_tables(jobs, names, spk, out_dir):
    """wav.scp, utt2label, utt2vocoder and utt2spk of the new data dir, each written atomically."""
    from pylib.io import write_table, write_utt2label

    write_table(out_dir / "wav.scp", {vid: str(path.resolve()) for vid, _, _, path in jobs})
    write_utt2label(out_dir / "utt2label", {vid: ("spoof", names[k]) for vid, _, k, _ in jobs})
    write_table(out_dir / "utt2vocoder", {vid: names[k] for vid, _, k, _ in jobs})
    if spk is not None:
        missing = sorted({utt for _, utt, _, _ in jobs if utt not in spk})
        if missing:
            raise DataError(f"utt2spk of the source has no speaker for {missing[:5]}; fix it (stage 0)")
        write_table(out_dir / "utt2spk", {vid: spk[utt] for vid, utt, _, _ in jobs})


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.io.names import check_out_dir

    names = vocoder_names(args.vocoders, args.names)
    src, out_dir = Path(args.source), check_out_dir(Path(args.out), "--out")
    if out_dir.resolve() == src.resolve() or src.resolve() in out_dir.resolve().parents:
        raise UserError(f"--out {out_dir} is (inside) the --source data folder {src}; choose another folder")
    if args.sample_rate is not None and args.sample_rate <= 0:
        raise UserError(f"--sample-rate must be a positive rate in Hz, got {args.sample_rate}")
    scp, spk = bona_fide(src)
    jobs = plan(scp, names, out_dir)
    written, skipped = synthesise(jobs, scp, args.vocoders, args, out_dir)
    write_tables(jobs, names, spk, out_dir)
    log.info("%s: %d utterance(s) x %d vocoder(s): %d written, %d unchanged", out_dir, len(scp), len(names),
             written, skipped)
    return 0


if __name__ == "__main__":
    run(main)
