"""ASVspoof corpora: protocol or key -> nnsp utt2label and data dirs, the 2019 LA folder layout.

The protocol formats themselves (ASVspoof 2019 LA/PA, 2021 LA/DF keys, ASVspoof 5, In-the-Wild,
WaveFake, nnsp utt2label) are read by `pylib.data.protocols`, one reader per format; `read_labels`
and `detect_label_format` here are its `read_labels` and `detect_format`.
"""

from pathlib import Path

from pylib.data.protocols import FORMATS, read_labels, read_protocol
from pylib.data.protocols import detect_format as detect_label_format
from pylib.errors import DataError
from pylib.io.names import check_not_input
from pylib.io.tables import write_table, write_utt2label

__all__ = ["FORMATS", "detect_label_format", "la_part_paths", "protocol_to_data_dir",
           "protocol_to_utt2label", "read_labels"]


def protocol_to_utt2label(protocol, out, subset=None, format=None):
    """Write an nnsp utt2label (`utt bonafide|spoof attack`, sorted) from any protocol (format: a
    name of `pylib.data.protocols.FORMATS`, None = detected).

    Returns {"bonafide": n, "spoof": n, "attacks": sorted attack ids of spoofed trials}.
    """
    check_not_input(out, [protocol], what="utt2label")
    labels = read_labels(protocol, subset=subset, format=format)
    write_utt2label(out, labels)
    n_bona = sum(1 for lab, _ in labels.values() if lab == "bonafide")
    attacks = sorted({att for lab, att in labels.values() if lab == "spoof"})
    return {"bonafide": n_bona, "spoof": len(labels) - n_bona, "attacks": attacks}


# ASVspoof 2019 LA folder layout (the `LA/` folder of the Edinburgh DataShare release, doi:10.7488/ds/2555)
LA_PARTS = {
    "train": ("ASVspoof2019_LA_train", "ASVspoof2019.LA.cm.train.trn.txt"),
    "dev": ("ASVspoof2019_LA_dev", "ASVspoof2019.LA.cm.dev.trl.txt"),
    "eval": ("ASVspoof2019_LA_eval", "ASVspoof2019.LA.cm.eval.trl.txt"),
}
LA_PROTOCOLS = "ASVspoof2019_LA_cm_protocols"
LA_ASV_SCORES = "ASVspoof2019_LA_asv_scores"


def la_part_paths(db, part):
    """(flac folder, CM protocol, ASV score file or None) of `part` (train|dev|eval) under the LA folder.

    A missing folder or protocol is a DataError naming the expected path. The ASV scores exist for
    dev and eval only (`ASVspoof2019.LA.asv.<part>.gi.trl.scores.txt`); None when absent.
    """
    db = Path(db)
    if part not in LA_PARTS:
        raise DataError(f"unknown ASVspoof 2019 LA part {part!r}; expected one of {', '.join(LA_PARTS)}")
    if not db.is_dir():
        raise DataError(
            f"{db}: not a folder. --db must be the ASVspoof 2019 `LA` folder (from LA.zip, "
            f"https://doi.org/10.7488/ds/2555) holding {LA_PARTS['train'][0]}/, {LA_PROTOCOLS}/, ..."
        )
    sub, proto = LA_PARTS[part]
    flac = db / sub / "flac"
    protocol = db / LA_PROTOCOLS / proto
    for path, what in ((flac, "folder"), (protocol, "file")):
        if not path.exists():
            hint = (" (is --db the `LA` folder itself, not its parent?)" if (db / "LA").is_dir()
                    else "; unpack LA.zip from https://doi.org/10.7488/ds/2555 and pass its LA folder")
            raise DataError(f"{db}: the expected {what} {path.relative_to(db)} is missing{hint}")
    asv = db / LA_ASV_SCORES / f"ASVspoof2019.LA.asv.{part}.gi.trl.scores.txt"
    return flac, protocol, (asv if asv.is_file() else None)


def protocol_to_data_dir(protocol, audio_dir, out_dir, ext=".flac", format=None):
    """Write `out_dir/wav.scp` (`utt <audio_dir>/<utt><ext>`, absolute) and `utt2spk` from a protocol.

    Protocols with a speaker column (ASVspoof 2019/2021/5, In-the-Wild) give the speaker (whitespace
    in a name becomes '_'); the others give each utterance its own speaker. Every audio file must
    exist: the missing ones are a DataError with their count and the first few paths.
    Returns {"utts": n, "speakers": n}.
    """
    proto = read_protocol(protocol, format=format)
    audio_dir = Path(audio_dir).resolve()
    wav, spk, missing = {}, {}, []
    for utt, trial in proto.trials.items():
        path = audio_dir / f"{utt}{ext}"
        if not path.is_file():
            missing.append(path)
        wav[utt] = str(path)
        spk[utt] = "_".join(trial.conditions.get("speaker", utt).split())
    if missing:
        few = ", ".join(str(p) for p in missing[:3])
        raise DataError(
            f"{protocol}: {len(missing)} of {len(wav)} audio files are missing from {audio_dir} "
            f"(e.g. {few}); is the download complete and unpacked?"
        )
    check_not_input([Path(out_dir) / "wav.scp", Path(out_dir) / "utt2spk"], [protocol], what="output")
    write_table(Path(out_dir) / "wav.scp", wav)
    write_table(Path(out_dir) / "utt2spk", spk)
    return {"utts": len(wav), "speakers": len(set(spk.values()))}
