"""What utils/run.py and utils/slurm.py share: the command line, JOB substitution, logs, failure report.

Standard library only: the launchers run before (and outside) the project's venv.

    run.py [options] [JOB=1:N] logdir/name.JOB.log command args ...

The command is the remaining arguments joined Kaldi-style (an argument without whitespace is passed
as is, so a quoted "|" or ">" acts as a pipe or redirection; one with whitespace is quoted; a lone
argument is a whole command line) and run by `bash -o pipefail -c`, so a failure anywhere in a pipe
fails the job.
"""

import os
import re
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_RANGE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?$")
TAIL_LINES = 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Stopped(Exception):
    """A signal asked the launcher to stop (SIGTERM, SIGHUP, or the death of the recipe shell)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def stop_on_signals(handler=_raise_stopped):
    """SIGTERM and SIGHUP call `handler` (default: raise Stopped). Inside a recipe (utils/env.sh
    exports NNSP_RECIPE_PID), the death of the parent shell sends SIGTERM too (Linux prctl
    PR_SET_PDEATHSIG), so killing run.sh stops the launcher and, through it, the jobs. SIGINT raises
    KeyboardInterrupt even where the launcher was started with it ignored (a job a non-interactive
    shell put in the background with `&`, as recipes do for parallel steps): Ctrl-C or `kill -INT`
    then still stops the jobs instead of leaving them running."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get("NNSP_RECIPE_PID") and sys.platform.startswith("linux"):
        import ctypes

        parent = os.getppid()
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent or parent == 1:  # the shell died before prctl took effect
            raise Stopped(signal.SIGTERM)


@dataclass
class Job:
    id: int
    log: Path
    command: str


def _boundary_pattern(var):
    # JOB as a whole token inside paths and options (feats.JOB.ark, split4/JOB/, mfcc_JOB), but
    # not inside a longer word such as JOBS.
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(var)}(?![A-Za-z0-9])")


def join_command(tokens):
    """Join argv tokens into one bash command line the way Kaldi's run.pl does.

    A single token is taken as a whole command line (`run.py x.log 'a | b'`).
    """
    if len(tokens) == 1:
        return tokens[0]
    return " ".join(t if t and not any(c.isspace() for c in t) else shlex.quote(t) for t in tokens)


def parse(parser, argv):
    """Split argv into launcher options, the job range, the log template and the command -> jobs.

    Launcher options come first; the first argument that does not start with '-' ends them, so the
    command keeps its own options (`--conf ...`) untouched. Returns (options, [Job], log template, var)
    where var is the job variable's name (None for a single job).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if ("=" in argv[i] or argv[i] in ("-h", "--help")) else 2
    opts = parser.parse_args(argv[:i])
    rest = argv[i:]
    var, first, last = None, 1, 1
    if rest and _RANGE.match(rest[0]):
        m = _RANGE.match(rest.pop(0))
        var, first = m.group(1), int(m.group(2))
        last = int(m.group(3)) if m.group(3) else first
        if last < first:
            parser.error(f"job range {var}={first}:{last} is empty; write {var}=1:N with N >= 1")
    if len(rest) < 2:
        parser.error("expected a log file and a command, e.g. JOB=1:4 exp/log/name.JOB.log python -m ...")
    log_template, tokens = rest[0], rest[1:]
    pattern = _boundary_pattern(var) if var else None
    if pattern and last > first and not pattern.search(log_template):
        parser.error(f"log name {log_template} does not contain {var}: the {last - first + 1} jobs would "
                     f"write one log; name it like logdir/name.{var}.log")
    jobs = []
    for jid in range(first, last + 1):
        sub = (lambda s, j=jid: pattern.sub(str(j), s)) if pattern else (lambda s: s)
        jobs.append(Job(jid, Path(sub(log_template)), join_command([sub(t) for t in tokens])))
    return opts, jobs, log_template, var


def add_common_options(parser):
    parser.add_argument("--max-jobs-run", type=int, default=None,
                        help="most jobs running at once (run.py: default the number of cores; "
                             "slurm.py: the array's throttle, default none)")


def header(command, extra=""):
    """The first lines of a job log: the command and when it started."""
    lines = [f"# {command}", f"# Started at {time.strftime('%a %b %d %H:%M:%S %Z %Y')}"]
    if extra:
        lines.append(f"# {extra}")
    return "\n".join(lines) + "\n"


def footer(code, seconds):
    """The last lines of a job log: Kaldi's accounting line and the exit status."""
    now = time.strftime("%a %b %d %H:%M:%S %Z %Y")
    return (f"# Accounting: time={int(seconds)} threads=1\n"
            f"# Ended (code {code}) at {now}, elapsed time {int(seconds)} seconds\n")


def tail(path, n=TAIL_LINES):
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        return f"(cannot read {path}: {e.strerror})"
    return "\n".join(lines[-n:])


def failure_report(prog, failed, total, note=""):
    """'K of N jobs failed, see <first failed log>' and that log's last lines, for stderr."""
    first = failed[0]
    msg = [f"{prog}: {len(failed)} of {total} jobs failed, see {first.log}"]
    if note:
        msg.append(note)
    if len(failed) > 1:
        ids = ", ".join(str(j.id) for j in failed[:10]) + (" ..." if len(failed) > 10 else "")
        msg.append(f"{prog}: failed jobs: {ids}")
    msg.append(f"--- last lines of {first.log} ---")
    msg.append(tail(first.log))
    return "\n".join(msg)
