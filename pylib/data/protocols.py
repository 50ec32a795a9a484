"""Countermeasure protocols read by name: per trial the utterance id, the label, the attack id and the
conditions the protocol carries (speaker, codec, transmission, vocoder, subset ...).

    protocol = read_protocol(path, format=None)   # format None: detected where unambiguous
    protocol.trials["LA_E_9332881"]  -> Trial(utt, label, attack, conditions={"codec": "alaw", ...})
    protocol.labels()                -> {utt: (label, attack)} (what scoring and utt2label take)

Formats (FORMATS; whitespace-separated text, one trial a line, unless said otherwise). Bona fide
trials get the attack id "-" whatever the file writes there.

- `utt2label` (nnsp): `UTT bonafide|spoof [ATTACK]`.
- `asvspoof2019_la`: `ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt`, `SPEAKER UTT - ATTACK KEY`,
  e.g. `LA_0039 LA_E_2834763 - A11 spoof`, `LA_0079 LA_T_1138215 - - bonafide`.
- `asvspoof2019_pa`: `ASVspoof2019.PA.cm.*.txt`, `SPEAKER UTT ENV ATTACK KEY`: ENV is the acoustic
  environment (three letters a|b|c: room size, T60, talker-to-ASV distance), ATTACK the replay
  configuration (two letters: attacker-to-talker distance, replay device quality; "-" for bona fide),
  e.g. `PA_0079 PA_T_0000001 aaa - bonafide`, `PA_0079 PA_T_0000009 bbc BA spoof`. Conditions:
  speaker, environment, replay.
- `asvspoof2021_la`: `keys/LA/CM/trial_metadata.txt` of LA-keys-full.tar.gz (asvspoof.org), 8 fields
  `SPEAKER UTT CODEC TRANSMISSION ATTACK KEY TRIM SUBSET`, e.g.
  `LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval`; bona fide rows write `bonafide` as attack.
  Column names and meanings as in the organisers' eval package (github.com/asvspoof-challenge/2021,
  eval-package/config.py: LA `spk trial codec trans attack label trim subset`; DF `speaker trial compr
  source attack label trim subset vocoder task team gender-pair language`; PA `spk trial asv_room
  asv_mic dis_to_asv att_room att_mic att_d att_to_spk label trim subset`).
- `asvspoof2021_df`: `keys/DF/CM/trial_metadata.txt` of DF-keys-full.tar.gz, 13 fields
  `SPEAKER UTT CODEC SOURCE ATTACK KEY TRIM SUBSET VOCODER TASK TEAM GENDER_PAIR LANGUAGE`, e.g.
  `LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -`,
  `TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive
  Task1 team20 FF E`. SOURCE is the source corpus (asvspoof | vcc2018 | vcc2020), CODEC the
  compression (the package's `compr`: nocodec, low_mp3, ..., oggm4a).
- `asvspoof2021_pa`: `keys/PA/CM/trial_metadata.txt`, 12 fields `SPEAKER UTT ASV_ROOM ASV_MIC
  DIS_TO_ASV ATT_ROOM ATT_MIC ATT_D ATT_TO_SPK KEY TRIM SUBSET` (e.g. `PA_0010 PA_E_1000001 R3 M3 d4 r1
  m1 s4 c4 spoof notrim eval`, the package's example). No attack column: a spoofed trial's attack id
  is its attack configuration `ATT_ROOM_ATT_MIC_ATT_D_ATT_TO_SPK` (`r1_m1_s4_c4`).
- `asvspoof2021` (any other key of that family, e.g. the stage-1 keys): 6 or more fields, attack in
  field 5, key in 6, subset in 8 when present.
  In the 2021 keys the SUBSET field marks the scoring phase of each trial: `progress` (the leaderboard
  subset during the challenge), `eval` (the official results, disjoint from the others) and `hidden`
  (the hidden subsets: eval-package/config.py lists eval, progress, hidden, with PA's hidden1/hidden2
  told apart by TRIM notrim/trim); the stage-1 keys wrote `hidden_track` (the phase names of
  eval-package/LA/package-stage-1/evaluate.py). `subset=` keeps one value.
- `asvspoof5`: `ASVspoof5.{train,dev,eval}*.tsv` (ASVspoof5_protocols.tar.gz, zenodo 14498691; fields
  separated by whitespace despite the name), 10 fields
  `SPEAKER UTT GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK KEY TMP`, e.g.
  `T_4850 T_0000000000 F - - - AC3 A05 spoof -`. Conditions: speaker, gender, codec, codec_q,
  codec_seed, attack_tag.
- `in_the_wild`: `release_in_the_wild/meta.csv`, comma-separated with the header `file,speaker,label`,
  label `bona-fide` | `spoof`, e.g. `0.wav,Alec Guinness,spoof`. The utterance id is the file name
  without its extension; condition: speaker. No attack ids ("-" for every trial).
- `wavefake`: a folder (not a file). The real-speech folders (`LJSpeech-1.1`, `jsut_ver1.1`, or any
  name starting `ljspeech-`, `jsut_ver`, `real` or `bonafide`, case-insensitive) are bona fide (all
  audio under them); a folder holding audio files itself (`ljspeech_melgan`,
  `jsut_multi_band_melgan`, ...) is spoof with the folder name as attack; any other folder (the
  release's `generated_audio/`) is looked into for more of both. Utterance ids are plain names (they
  become file names in data dirs): the file stem for real speech (`LJ001-0001`, `BASIC5000_0001`),
  `<vocoder folder>__<stem>` for spoof (`ljspeech_melgan__LJ001-0001_gen`: every vocoder folder
  holds the same stems). Conditions: source (ljspeech | jsut | other),
  vocoder (the folder name; "-" for bona fide).

`detect_format` names the format from the first line (from the folder for `wavefake`); what it
cannot tell apart (a 5-field line whose third field is neither "-" nor an environment) is an error
that asks for the format by name.
"""

import csv
import io
import re
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from pylib.errors import DataError
from pylib.io.names import check_name
from pylib.io.tables import LABELS, read_utt2label
from pylib.io.text import read_utf8

FORMATS = (
    "utt2label",
    "asvspoof2019_la",
    "asvspoof2019_pa",
    "asvspoof2021_la",
    "asvspoof2021_df",
    "asvspoof2021_pa",
    "asvspoof2021",
    "asvspoof5",
    "in_the_wild",
    "wavefake",
)
# Older names kept: "asvspoof2019" = LA or PA (told apart by the first line).
ALIASES = {"asvspoof2019": ("asvspoof2019_la", "asvspoof2019_pa")}

# Condition columns that score_cm tabulates (EER per value), per format.
TABLE_COLUMNS = {
    "asvspoof2019_pa": ("environment", "replay"),
    "asvspoof2021_la": ("codec", "transmission", "attack"),
    "asvspoof2021_df": ("codec", "source", "attack", "vocoder"),
    "asvspoof2021_pa": ("asv_room", "asv_mic", "dis_to_asv", "att_room", "att_mic", "att_d", "att_to_spk"),
    "asvspoof5": ("codec", "attack"),
}

AUDIO_EXTS = (".wav", ".flac")
_PA_ENV = re.compile(r"[abc]{3}")
_REAL_PREFIXES = ("ljspeech-", "jsut_ver", "real", "bonafide")


class Trial(NamedTuple):
    utt: str
    label: str  # bonafide | spoof
    attack: str  # attack id; "-" for bona fide and where the protocol has none
    conditions: dict  # column -> value (speaker, codec, subset, ...); {} where the protocol has none


@dataclass
class Protocol:
    path: str
    format: str
    trials: dict  # utt -> Trial, in file order
    columns: tuple  # condition columns every trial carries

    def labels(self):
        """{utt: (label, attack)} in file order."""
        return {u: (t.label, t.attack) for u, t in self.trials.items()}

    @property
    def table_columns(self):
        """The condition columns worth an EER table (TABLE_COLUMNS), those present."""
        return tuple(c for c in TABLE_COLUMNS.get(self.format, ()) if c == "attack" or c in self.columns)

    def value(self, trial, column):
        return trial.attack if column == "attack" else trial.conditions[column]


def _lines(path):
    path = Path(path)
    if not path.is_file():
        what = "a folder; only the wavefake format reads a folder" if path.is_dir() else "not found"
        raise DataError(f"{path}: protocol file {what}")
    text = read_utf8(path, fix="is this a protocol or utt2label text file? re-save it as UTF-8")
    return [(no, line.split()) for no, line in enumerate(text.splitlines(), 1) if line.strip()]


def _first_text_line(path):
    text = read_utf8(path, fix="is this a protocol or utt2label text file? re-save it as UTF-8")
    for no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            return no, line
    raise DataError(f"{path}: the label file is empty")


def detect_format(path):
    """Which of FORMATS the protocol at `path` is (a folder: wavefake; else from its first line)."""
    path = Path(path)
    if path.is_dir():
        return "wavefake"
    if not path.is_file():
        raise DataError(f"{path}: label file not found")
    no, line = _first_text_line(path)
    if line.strip().lower().replace(" ", "") == "file,speaker,label":
        return "in_the_wild"
    f = line.split()
    if len(f) in (2, 3) and f[1] in LABELS:
        return "utt2label"
    if len(f) == 5 and f[4] in LABELS:
        if f[2] == "-":
            return "asvspoof2019_la"
        if _PA_ENV.fullmatch(f[2]):
            return "asvspoof2019_pa"
        raise DataError(
            f"{path}:{no}: a 5-field protocol line whose third field {f[2]!r} is neither '-' (2019 LA) nor "
            f"an environment like 'abc' (2019 PA); name the format (--format/--labels-format)"
        )
    if len(f) == 10 and f[8] in LABELS:
        return "asvspoof5"
    if len(f) >= 6 and f[5] in LABELS:
        return {8: "asvspoof2021_la", 13: "asvspoof2021_df"}.get(len(f), "asvspoof2021")
    if len(f) == 12 and f[9] in LABELS:
        return "asvspoof2021_pa"
    if len(f) == 1:
        hint = "it lists utterance ids only (an unlabelled trial list); use the key file with labels"
    else:
        hint = "no bonafide/spoof key where one is expected"
    raise DataError(
        f"{path}:{no}: unknown label format ({hint}): {' '.join(f)!r}. Expected a utt2label "
        f"(`utt bonafide|spoof [attack]`), an ASVspoof 2019 protocol (`SPEAKER UTT - ATTACK KEY`), an "
        f"ASVspoof 2021 key (`SPEAKER UTT CODEC TRANS ATTACK KEY TRIM SUBSET ...`), an ASVspoof 5 "
        f"protocol (10 fields) or an In-the-Wild meta.csv; or name the format: {', '.join(FORMATS)}"
    )


def _check_format(fmt):
    if fmt not in FORMATS and fmt not in ALIASES:
        names = ", ".join(FORMATS + tuple(ALIASES))
        raise DataError(f"unknown protocol format {fmt!r}; expected one of {names}")


# Whitespace formats: (number of fields or None for "at least min_fields", min_fields, utt, key,
# attack, {column: field index}). Indices are 0-based.
_COLUMNS = {
    "asvspoof2019_la": (5, 5, 1, 4, 3, {"speaker": 0}),
    "asvspoof2019_pa": (5, 5, 1, 4, 3, {"speaker": 0, "environment": 2, "replay": 3}),
    "asvspoof2021_la": (8, 8, 1, 5, 4, {"speaker": 0, "codec": 2, "transmission": 3, "trim": 6, "subset": 7}),
    "asvspoof2021_df": (13, 13, 1, 5, 4, {
        "speaker": 0, "codec": 2, "source": 3, "trim": 6, "subset": 7, "vocoder": 8, "task": 9, "team": 10,
        "gender_pair": 11, "language": 12,
    }),
    "asvspoof2021_pa": (12, 12, 1, 9, None, {
        "speaker": 0, "asv_room": 2, "asv_mic": 3, "dis_to_asv": 4, "att_room": 5, "att_mic": 6, "att_d": 7,
        "att_to_spk": 8, "trim": 10, "subset": 11,
    }),
    "asvspoof2021": (None, 6, 1, 5, 4, {"speaker": 0}),
    "asvspoof5": (10, 10, 1, 8, 7, {
        "speaker": 0, "gender": 2, "codec": 3, "codec_q": 4, "codec_seed": 5, "attack_tag": 6,
    }),
}


def _read_fields(path, fmt, conditions=True):
    n, n_min, i_utt, i_key, i_att, cols = _COLUMNS[fmt]
    trials = []
    columns = tuple(cols)
    if not conditions:  # labels only: keep the subset (to filter on), skip the rest
        cols = {c: i for c, i in cols.items() if c == "subset"}
    names = tuple(cols)
    pick = itemgetter(*cols.values()) if len(cols) > 1 else None  # a tuple of the fields, fast
    for no, f in _lines(path):
        if (n is not None and len(f) != n) or len(f) < n_min:
            want = n if n is not None else f"{n_min} or more"
            raise DataError(f"{path}:{no}: expected {want} fields ({fmt}), got {len(f)}: {' '.join(f)!r}")
        key = f[i_key]
        if key not in LABELS:
            raise DataError(f"{path}:{no}: key {key!r} is not bonafide or spoof ({fmt}, field {i_key + 1})")
        if pick is not None:
            cond = dict(zip(names, pick(f)))
        else:
            cond = {c: f[i] for c, i in cols.items()}
        if fmt == "asvspoof2021" and len(f) >= 8:
            cond["subset"] = f[7]
        if fmt == "asvspoof2019_pa":
            if not _PA_ENV.fullmatch(f[2]):
                raise DataError(f"{path}:{no}: environment {f[2]!r} is not three letters a|b|c")
            if key == "bonafide" and conditions:
                cond["replay"] = "-"
        if key == "bonafide":
            attack = "-"
        elif i_att is None:  # 2021 PA: the attack configuration
            attack = "_".join(f[5:9])
        else:
            attack = f[i_att]
        trials.append((no, check_name(f[i_utt], path, no), key, attack, cond))
    if fmt == "asvspoof2021":
        columns += ("subset",) if trials and all("subset" in t[4] for t in trials) else ()
    return trials, columns


def _read_in_the_wild(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: In-the-Wild meta.csv not found")
    text = read_utf8(path, fix="expected the In-the-Wild meta.csv; re-save it as UTF-8")
    rows = list(csv.reader(io.StringIO(text)))
    start = 0
    while start < len(rows) and not any(c.strip() for c in rows[start]):
        start += 1
    if start == len(rows):
        raise DataError(f"{path}: the label file is empty")
    header = [c.strip().lower() for c in rows[start]]
    if header != ["file", "speaker", "label"]:
        raise DataError(
            f"{path}:{start + 1}: expected the header `file,speaker,label` of the In-the-Wild meta.csv, got "
            f"{','.join(rows[start])!r}"
        )
    keys = {"bona-fide": "bonafide", "bonafide": "bonafide", "spoof": "spoof"}
    trials = []
    for no, row in enumerate(rows[start + 1:], start + 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 3:
            raise DataError(
                f"{path}:{no}: expected 3 comma-separated fields (file,speaker,label), got {len(row)}"
            )
        name, speaker, label = (c.strip() for c in row)
        if label not in keys:
            raise DataError(f"{path}:{no}: label {label!r} is not bona-fide or spoof")
        check_name(name, path, no, what="file")
        utt = check_name(Path(name).stem if Path(name).suffix.lower() in AUDIO_EXTS else name, path, no)
        trials.append((no, utt, keys[label], "-", {"speaker": speaker}))
    return trials, ("speaker",)


def _is_real(folder):
    name = folder.lower()
    return name in ("ljspeech", "jsut") or name.startswith(_REAL_PREFIXES)


def _source(folder):
    name = folder.lower()
    return "ljspeech" if name.startswith("ljspeech") else "jsut" if name.startswith("jsut") else "other"


def _audio_under(folder):
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file())


def _wavefake_sources(folder):
    """(subfolder, real) of each source under `folder`: a real-speech folder, a folder holding audio
    files itself (one vocoder), or else a container (generated_audio/) whose subfolders are looked into."""
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if _is_real(sub.name):
            yield sub, True
        elif any(p.suffix.lower() in AUDIO_EXTS and p.is_file() for p in sub.iterdir()):
            yield sub, False
        else:
            yield from _wavefake_sources(sub)


def _read_wavefake(path):
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: the wavefake format reads a folder (generated_audio/ and the real corpora)")
    trials = []
    for sub, real in _wavefake_sources(root):
        for p in _audio_under(sub):
            label, attack = ("bonafide", "-") if real else ("spoof", sub.name)
            utt = check_name(p.stem if real else f"{sub.name}__{p.stem}", p)
            trials.append((None, utt, label, attack, {"source": _source(sub.name), "vocoder": attack}))
    if not trials:
        raise DataError(f"{root}: no .wav/.flac files in its subfolders; is this the WaveFake folder?")
    return trials, ("source", "vocoder")


def read_protocol(path, format=None, subset=None):
    """Read a protocol -> Protocol (see the module doc). format None: `detect_format`.

    subset: keep only trials whose `subset` condition is this (ASVspoof 2021 keys: progress | eval |
    hidden); a DataError for formats without one or when no trial is left.
    """
    fmt, columns, rows = _load(path, format, subset, conditions=True)
    trials = {utt: Trial(utt, label, attack, cond) for utt, label, attack, cond in rows}
    return Protocol(str(path), fmt, trials, columns)


def read_labels(path, subset=None, format=None):
    """{utt: (label, attack)} of any protocol (as `read_protocol(...).labels()`), in file order."""
    _, _, rows = _load(path, format, subset, conditions=False)
    return {utt: (label, attack) for utt, label, attack, _ in rows}


def _load(path, format, subset, conditions):
    """(format, condition columns, [(utt, label, attack, conditions)]) after the subset filter."""
    path = Path(path)
    if format is None:
        fmt = detect_format(path)
    else:
        _check_format(format)
        fmt = format
        if fmt in ALIASES:
            fmt = detect_format(path)
            if fmt not in ALIASES[format]:
                raise DataError(f"{path}: given as {format}, but its first line reads as {fmt}")
    if fmt == "utt2label":
        trials = [(None, u, lab, att, {}) for u, (lab, att) in read_utt2label(path).items()]
        columns = ()
    elif fmt == "in_the_wild":
        trials, columns = _read_in_the_wild(path)
    elif fmt == "wavefake":
        trials, columns = _read_wavefake(path)
    else:
        trials, columns = _read_fields(path, fmt, conditions)
    if subset is not None and "subset" not in columns:
        raise DataError(f"{path}: subset={subset!r} given, but only ASVspoof 2021 keys have subsets ({fmt})")
    seen = set()
    out = []
    for no, utt, label, attack, cond in trials:
        if utt in seen:
            where = f"{path}:{no}" if no is not None else str(path)
            raise DataError(f"{where}: duplicate utterance {utt!r}; each trial must appear once")
        seen.add(utt)
        if subset is None or cond.get("subset") == subset:
            out.append((utt, label, attack, cond))
    if not out:
        if subset is not None:
            subsets = sorted({t[4].get("subset") for t in trials} - {None})
            raise DataError(f"{path}: no trial of subset {subset!r}; the file has subsets {subsets}")
        raise DataError(f"{path}: no trials")
    return fmt, columns, out
