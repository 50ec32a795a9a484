"""Check a Kaldi-style data folder (data/<set>/) and list every problem with how to fix it.

Checked: wav.scp, utt2spk, spk2utt, utt2label (those present; utt2label can be required) are UTF-8
`id value` lines, sorted (`LC_ALL=C sort`), with unique ids that can be file names; every wav
exists, is readable, mono, non-empty, and all share one sample rate (or the one asked for);
utt2spk and utt2label cover exactly the utterances of wav.scp; labels are `bonafide|spoof
[attack-id]`. Entries that are commands (`cmd |`) are not run; they are counted as unchecked.
Relative wav paths are taken from the current folder, as Kaldi does (run from the recipe folder).
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pylib.errors import DataError
from pylib.io.audio import audio_info
from pylib.io.names import name_problem, strip_bom
from pylib.io.tables import LABELS

SORT_FIX = "sort it: `LC_ALL=C sort -o {f} {f}` (and check the other tables still match)"


@dataclass
class Problem:
    kind: str  # groups similar problems when the report is printed
    where: str  # file, or file:line
    what: str
    fix: str


@dataclass
class Report:
    data_dir: Path
    problems: list = field(default_factory=list)
    num_utts: int = 0
    num_speakers: int | None = None
    sample_rates: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    unchecked: int = 0  # `cmd |` entries
    notes: list = field(default_factory=list)

    def add(self, kind, where, what, fix):
        self.problems.append(Problem(kind, str(where), what, fix))


def _scan_table(path, report, single_token=False):
    """Read `id value` lines, recording every format problem; returns {id: value} of usable lines."""
    try:
        text = strip_bom(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        report.add("encoding", path, f"not valid UTF-8 (byte {e.start})", "re-save the file as UTF-8")
        return {}
    out, first_line, unsorted_reported, prev = {}, {}, False, None
    before = len(report.problems)
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{no}"
        if line[0].isspace():
            report.add("format", where, "line starts with whitespace", "remove it: the id comes first")
            continue
        parts = line.split(maxsplit=1)
        key, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
        if not value:
            report.add("format", where, f"id {key!r} has no value", "write `id value` on each line")
            continue
        if single_token and len(value.split()) > 1:
            report.add("format", where, f"value {value!r} of {key!r} has whitespace",
                       "ids (speakers, utterances) must be single tokens")
        if key in out:
            report.add("duplicate", where, f"duplicate id {key!r} (first on line {first_line[key]})",
                       "keep one line per id")
            continue
        why = name_problem(key)
        if why is not None:
            report.add("id", where, f"id {key!r} {why}: it cannot be a file name (features are stored "
                       f"as <id>.f4)", "rename the utterance: letters, digits, '_', '-', '.' (not first)")
        if prev is not None and key < prev and not unsorted_reported:
            report.add("sort", where, f"id {key!r} comes after {prev!r}: the file is not sorted",
                       SORT_FIX.format(f=path))
            unsorted_reported = True
        out[key] = value
        first_line[key] = no
        prev = key
    if not out and len(report.problems) == before:
        report.add("empty", path, "the file is empty", "rerun data preparation (stage 0)")
    return out


def _check_same_ids(report, name, ids, ref, ref_name):
    missing = [u for u in ref if u not in ids]
    extra = [u for u in ids if u not in ref]
    if missing:
        report.add("coverage", name,
                   f"{len(missing)} utterance(s) of {ref_name} are missing, e.g. {missing[0]!r}",
                   f"add them to {Path(name).name}, or remove them from {ref_name}")
    if extra:
        report.add("coverage", name, f"{len(extra)} utterance(s) are not in {ref_name}, e.g. {extra[0]!r}",
                   f"remove them from {Path(name).name}, or add them to {ref_name}")


def _check_audio(report, wav_scp, wavs, sample_rate):
    rate_of = {}
    for utt, entry in tqdm(wavs.items(), desc="check wavs", unit="wav", disable=None):
        if entry.endswith("|"):
            report.unchecked += 1
            continue
        try:
            rate, frames = audio_info(entry)
        except DataError as e:
            report.add("audio", f"{wav_scp} ({utt})", str(e),
                       "fix or replace the file, or drop the utterance")
            continue
        if frames == 0:
            report.add("audio", f"{wav_scp} ({utt})", f"{entry}: holds no samples", "drop the utterance")
            continue
        rate_of[utt] = rate
        report.sample_rates[rate] += 1
        report.seconds += frames / rate
    if sample_rate is not None:
        for utt, rate in rate_of.items():
            if rate != sample_rate:
                report.add("rate", f"{wav_scp} ({utt})",
                           f"{wavs[utt]}: sample rate {rate} Hz, expected {sample_rate} Hz",
                           f"resample it (`sox in.wav -r {sample_rate} out.wav`) or let the features "
                           f"config resample")
    elif len(report.sample_rates) > 1:
        main = report.sample_rates.most_common(1)[0][0]
        odd = [u for u, r in rate_of.items() if r != main]
        counts = ", ".join(f"{r} Hz: {n}" for r, n in report.sample_rates.most_common())
        report.add("rate", wav_scp, f"wavs have {len(report.sample_rates)} sample rates ({counts}); e.g. "
                   f"{wavs[odd[0]]} is at {rate_of[odd[0]]} Hz",
                   "resample the corpus to one rate, or pass --sample-rate to list each file at another rate")


def _check_labels(report, path, table):
    for utt, value in table.items():
        parts = value.split()
        if parts[0] not in LABELS or len(parts) > 2:
            report.add("label", f"{path} ({utt})", f"label {value!r} is not `bonafide|spoof [attack-id]`",
                       "write `utt-id bonafide` or `utt-id spoof A01` (attack id optional)")


def validate_data_dir(data_dir, sample_rate=None, require_labels=False, check_audio=True):
    """Check data/<set>/ and return a Report (report.problems is empty when it is fine)."""
    d = Path(data_dir)
    report = Report(d)
    if not d.is_dir():
        report.add("missing", d, "folder not found", "run data preparation (stage 0) first")
        return report
    wav_scp = d / "wav.scp"
    if not wav_scp.is_file():
        report.add("missing", wav_scp, "file not found", "data preparation (stage 0) must write wav.scp")
        return report
    wavs = _scan_table(wav_scp, report)
    report.num_utts = len(wavs)
    if check_audio:
        _check_audio(report, wav_scp, wavs, sample_rate)
    else:
        report.notes.append("audio not checked (--no-audio)")

    utt2spk = d / "utt2spk"
    if utt2spk.is_file():
        spk = _scan_table(utt2spk, report, single_token=True)
        _check_same_ids(report, utt2spk, spk, wavs, "wav.scp")
        report.num_speakers = len(set(spk.values()))
        spk2utt = d / "spk2utt"
        if spk2utt.is_file():
            inverse = {u: s for s, us in _scan_table(spk2utt, report).items() for u in us.split()}
            if inverse != spk:
                report.add("coverage", spk2utt, "does not match utt2spk",
                           f"regenerate it from utt2spk (or delete it): spk2utt is the inverse of {utt2spk}")
    else:
        report.notes.append("no utt2spk (optional: needed only to split by speaker)")

    utt2label = d / "utt2label"
    if utt2label.is_file():
        labels = _scan_table(utt2label, report)
        _check_labels(report, utt2label, labels)
        _check_same_ids(report, utt2label, labels, wavs, "wav.scp")
    elif require_labels:
        report.add("missing", utt2label, "file not found, but labels are required",
                   "write `utt-id bonafide|spoof [attack-id]` lines (countermeasure recipes, stage 0)")
    return report


def format_report(report, max_per_kind=20):
    """The report as text: each problem with its fix (at most max_per_kind of one kind), or a summary."""
    lines = []
    shown = Counter()
    for p in report.problems:
        shown[p.kind] += 1
        if shown[p.kind] <= max_per_kind:
            lines.append(f"{p.where}: {p.what}\n    fix: {p.fix}")
    for kind, n in shown.items():
        if n > max_per_kind:
            lines.append(f"... and {n - max_per_kind} more problems of kind '{kind}' (--max-per-kind)")
    rates = ", ".join(f"{r} Hz" for r in sorted(report.sample_rates)) or "rate unknown"
    spk = f", {report.num_speakers} speakers" if report.num_speakers is not None else ""
    summary = f"{report.num_utts} utterances{spk}, {rates}, {report.seconds / 3600:.2f} h"
    if report.unchecked:
        summary += f", {report.unchecked} piped entries not checked"
    if report.problems:
        lines.append(f"{report.data_dir}: {len(report.problems)} problem(s) ({summary})")
    else:
        lines.append(f"{report.data_dir}: OK ({summary})")
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines)
