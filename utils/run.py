#!/usr/bin/env python3
"""Run a command as N parallel jobs on this machine, one log per job (Kaldi's run.pl, in Python).

    utils/run.py [options] JOB=1:N logdir/name.JOB.log command args ...
    utils/run.py [options] logdir/name.log command args ...

JOB in the log name and in the command's arguments becomes the job number (1..N). At most
--max-jobs-run jobs run at once (default: the number of cores). Each log starts with the command
and the start time and ends with the exit status. If any job fails, all the others still run; then
this prints "K of N jobs failed, see <log>" and the end of the first failed log, and exits 1.
--gpus, --mem, --time and --num-threads are accepted and ignored, so a recipe line written for
utils/slurm.py runs unchanged here.

Each job runs in its own session (process group). Ctrl-C, SIGTERM or SIGHUP stops them all: the
signal goes to every running job's process group, and whatever is still alive after
--kill-grace seconds (default 5) gets SIGKILL; the logs say so, and run.py exits 128 + signal.
Inside a recipe (utils/env.sh sets NNSP_RECIPE_PID), run.py also stops when the shell that
started it dies, so killing run.sh leaves no job running.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _launch  # noqa: E402  (lives next to this script; the launchers need no install)

POLL_SECONDS = 0.05
_DEFER = {"on": False, "pending": None}
Stopped = _launch.Stopped


def _raise_stopped(signum, frame):
    if _DEFER["on"]:  # between starting a job and recording it: stop right after
        _DEFER["pending"] = signum
        return
    raise Stopped(signum)


def stop_on_signals():
    """SIGTERM and SIGHUP raise Stopped (and so stop the jobs); inside a recipe, so does the death of
    the parent shell (see _launch.stop_on_signals)."""
    _launch.stop_on_signals(_raise_stopped)


def build_parser():
    p = argparse.ArgumentParser(
        prog="run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] [JOB=1:N] logdir/name.JOB.log command ...",
    )
    _launch.add_common_options(p)
    p.add_argument("--kill-grace", type=float, default=5.0,
                   help="seconds the jobs get to exit after SIGTERM when run.py is stopped, then SIGKILL")
    for name in ("--gpus", "--gpu", "--mem", "--time", "--num-threads", "--partition"):
        p.add_argument(name, help="accepted for compatibility with slurm.py; ignored by run.py")
    return p


def _start(job):
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "w", encoding="utf-8") as f:
        f.write(_launch.header(job.command))
    out = open(job.log, "ab")
    # A new session per job, so Ctrl-C can stop each job's whole process group.
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", job.command], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, out, time.time()


def _finish(job, proc, out, started):
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    if not out.closed:
        out.close()
    with open(job.log, "a", encoding="utf-8") as f:
        f.write(_launch.footer(code, time.time() - started))
    return code


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(proc):
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_jobs(running, why, grace=5.0):
    """SIGTERM every running job's process group; SIGKILL what is left after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # a second signal must not cut this short
        signal.signal(sig, signal.SIG_IGN)
    for _, proc, _, _ in running:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(p) for _, p, _, _ in running):
        for _, proc, _, _ in running:
            proc.poll()
        time.sleep(POLL_SECONDS)
    for job, proc, out, started in running:
        if _group_alive(proc):
            _signal_group(proc, signal.SIGKILL)
        proc.wait()
        out.close()
        with open(job.log, "a", encoding="utf-8") as f:
            f.write(f"# run.py: stopped by {why}\n")
        _finish(job, proc, out, started)


def run_jobs(jobs, max_jobs, grace=5.0):
    """Run jobs, at most max_jobs at a time; returns the failed ones (in job order).

    Ctrl-C (KeyboardInterrupt) or Stopped stops every running job's process group, then re-raises.
    """
    pending, running, failed = list(jobs), [], []
    try:
        while pending or running:
            while pending and len(running) < max_jobs:
                job = pending.pop(0)
                # no stop between starting a job and recording it, or it would run on unseen (a
                # blocked signal mask would be inherited by the job, so the stop is deferred instead)
                _DEFER["on"] = True
                try:
                    running.append((job, *_start(job)))
                finally:
                    _DEFER["on"] = False
                if _DEFER["pending"]:
                    raise Stopped(_DEFER["pending"])
            time.sleep(POLL_SECONDS)
            still = []
            for job, proc, out, started in running:
                if proc.poll() is None:
                    still.append((job, proc, out, started))
                elif _finish(job, proc, out, started) != 0:
                    failed.append(job)
            running = still
    except (KeyboardInterrupt, Stopped) as e:
        stop_jobs(running, "Ctrl-C" if isinstance(e, KeyboardInterrupt) else str(e), grace)
        raise
    return sorted(failed, key=lambda j: j.id)


def main(argv=None):
    parser = build_parser()
    opts, jobs, _, _ = _launch.parse(parser, argv)
    max_jobs = opts.max_jobs_run or os.cpu_count() or 1
    if max_jobs < 1:
        parser.error(f"--max-jobs-run must be >= 1, got {max_jobs}")
    try:
        stop_on_signals()
        failed = run_jobs(jobs, max_jobs, opts.kill_grace)
    except KeyboardInterrupt:
        print("run.py: interrupted; running jobs were stopped", file=sys.stderr)
        return 130
    except Stopped as e:
        print(f"run.py: stopped by {e}; running jobs were stopped", file=sys.stderr)
        return 128 + int(e.signum)
    if failed:
        print(_launch.failure_report("run.py", failed, len(jobs)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
