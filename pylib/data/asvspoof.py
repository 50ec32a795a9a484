"""ASVspoof protocol and key files -> nnsp labels ({utt: (bonafide|spoof, attack-id)}).

Formats recognised (whitespace-separated, one trial a line; the first line decides the format and
every line must then fit it):

- nnsp `utt2label`: `UTT bonafide|spoof [ATTACK]` (2 or 3 fields).
- ASVspoof 2019 LA/PA CM protocol (`ASVspoof2019.LA.cm.{train,dev,eval}.trl.txt`), 5 fields:
  `SPEAKER UTT - ATTACK KEY`, e.g. `LA_0039 LA_E_2834763 - A11 spoof`, `LA_0079 LA_T_1138215 - - bonafide`.
- ASVspoof 2021 LA/DF key (`keys/{LA,DF}/CM/trial_metadata.txt`), 6 or more fields with the attack in
  field 5 and the key in field 6 (1-based): LA has 8 fields
  `SPEAKER UTT CODEC TRANSMISSION ATTACK KEY TRIM SUBSET`, e.g.
  `LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval`; DF has 13 (the same first 8, then vocoder
  information). Field 8 is the subset (progress | eval | hidden_track), which `subset=` filters on.

Bona fide rows get the attack id "-" (2021 keys write "bonafide" in the attack field).
The 2021 `ASVspoof2021.*.cm.eval.trl.txt` lists hold utterance ids only: they carry no labels.
"""

from pathlib import Path

from pylib.errors import DataError
from pylib.io.names import check_name, check_not_input
from pylib.io.tables import LABELS, read_utt2label, write_table, write_utt2label
from pylib.io.text import read_utf8

FORMATS = ("utt2label", "asvspoof2019", "asvspoof2021")


def _read_lines(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: label file not found")
    text = read_utf8(path, fix="is this a protocol or utt2label text file? re-save it as UTF-8")
    return [(no, line.split()) for no, line in enumerate(text.splitlines(), 1) if line.strip()]


def detect_label_format(path):
    """Which of FORMATS the file at `path` is, from its first non-empty line."""
    lines = _read_lines(path)
    if not lines:
        raise DataError(f"{path}: the label file is empty")
    no, f = lines[0]
    if len(f) in (2, 3) and f[1] in LABELS:
        return "utt2label"
    if len(f) == 5 and f[4] in LABELS:
        return "asvspoof2019"
    if len(f) >= 6 and f[5] in LABELS:
        return "asvspoof2021"
    if len(f) == 1:
        hint = "it lists utterance ids only (an unlabelled trial list); use the key file with labels"
    else:
        hint = "no bonafide/spoof key where one is expected"
    raise DataError(
        f"{path}:{no}: unknown label format ({hint}): {' '.join(f)!r}. Expected a utt2label "
        f"(`utt bonafide|spoof [attack]`), an ASVspoof 2019 protocol (`SPEAKER UTT - ATTACK KEY`) or an "
        f"ASVspoof 2021 key (`SPEAKER UTT CODEC TRANS ATTACK KEY TRIM SUBSET ...`)"
    )


def read_labels(path, subset=None):
    """Read any recognised label file -> {utt: (label, attack)} in file order.

    subset: keep only rows of this subset (2021 keys only; e.g. "eval" for the official results).
    """
    path = Path(path)
    fmt = detect_label_format(path)
    if subset is not None and fmt != "asvspoof2021":
        raise DataError(f"{path}: subset={subset!r} given, but only ASVspoof 2021 keys have subsets ({fmt})")
    if fmt == "utt2label":
        return read_utt2label(path)
    if fmt == "asvspoof2019":
        n_fields, key_col, attack_col = 5, 4, 3
    else:
        n_fields, key_col, attack_col = 6, 5, 4
    out = {}
    subsets = set()
    for no, f in _read_lines(path):
        if len(f) < n_fields or (fmt == "asvspoof2019" and len(f) != 5):
            raise DataError(
                f"{path}:{no}: expected {n_fields} fields like the first line ({fmt}), got {len(f)}"
            )
        key = f[key_col]
        if key not in LABELS:
            raise DataError(f"{path}:{no}: key {key!r} is not bonafide or spoof")
        if fmt == "asvspoof2021":
            if len(f) < 8 and subset is not None:
                raise DataError(f"{path}:{no}: no subset field (8th) to filter on")
            if len(f) >= 8:
                subsets.add(f[7])
                if subset is not None and f[7] != subset:
                    continue
        utt = check_name(f[1], path, no)
        if utt in out:
            raise DataError(f"{path}:{no}: duplicate utterance {utt!r}; each trial must appear once")
        attack = "-" if key == "bonafide" else f[attack_col]
        out[utt] = (key, attack)
    if not out:
        raise DataError(f"{path}: no trial of subset {subset!r}; the file has subsets {sorted(subsets)}")
    return out


def protocol_to_utt2label(protocol, out, subset=None):
    """Write an nnsp utt2label (`utt bonafide|spoof attack`, sorted) from any label file.

    Returns {"bonafide": n, "spoof": n, "attacks": sorted attack ids of spoofed trials}.
    """
    check_not_input(out, [protocol], what="utt2label")
    labels = read_labels(protocol, subset=subset)
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


def protocol_to_data_dir(protocol, audio_dir, out_dir, ext=".flac"):
    """Write `out_dir/wav.scp` (`utt <audio_dir>/<utt><ext>`, absolute) and `utt2spk` from a protocol.

    Protocols with a speaker column (ASVspoof 2019 `SPEAKER UTT - ATTACK KEY`, 2021 keys) give the
    speaker; a utt2label gives each utterance its own speaker. Every audio file must exist: the
    missing ones are a DataError with their count and the first few paths.
    Returns {"utts": n, "speakers": n}.
    """
    fmt = detect_label_format(protocol)
    audio_dir = Path(audio_dir).resolve()
    wav, spk, missing = {}, {}, []
    for no, f in _read_lines(protocol):
        utt = check_name(f[0] if fmt == "utt2label" else f[1], protocol, no)
        if utt in wav:
            raise DataError(f"{protocol}:{no}: duplicate utterance {utt!r}; each trial must appear once")
        path = audio_dir / f"{utt}{ext}"
        if not path.is_file():
            missing.append(path)
        wav[utt] = str(path)
        spk[utt] = utt if fmt == "utt2label" else f[0]
    if not wav:
        raise DataError(f"{protocol}: no trials")
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
