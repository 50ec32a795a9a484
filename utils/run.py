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


def build_parser():
    p = argparse.ArgumentParser(
        prog="run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] [JOB=1:N] logdir/name.JOB.log command ...",
    )
    _launch.add_common_options(p)
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
    out.close()
    with open(job.log, "a", encoding="utf-8") as f:
        f.write(_launch.footer(code, time.time() - started))
    return code


def run_jobs(jobs, max_jobs):
    """Run jobs, at most max_jobs at a time; returns the failed ones (in job order)."""
    pending, running, failed = list(jobs), [], []
    try:
        while pending or running:
            while pending and len(running) < max_jobs:
                job = pending.pop(0)
                running.append((job, *_start(job)))
            time.sleep(POLL_SECONDS)
            still = []
            for job, proc, out, started in running:
                if proc.poll() is None:
                    still.append((job, proc, out, started))
                elif _finish(job, proc, out, started) != 0:
                    failed.append(job)
            running = still
    except KeyboardInterrupt:
        for job, proc, out, started in running:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait()
            _finish(job, proc, out, started)
        raise
    return sorted(failed, key=lambda j: j.id)


def main(argv=None):
    parser = build_parser()
    opts, jobs, _, _ = _launch.parse(parser, argv)
    max_jobs = opts.max_jobs_run or os.cpu_count() or 1
    if max_jobs < 1:
        parser.error(f"--max-jobs-run must be >= 1, got {max_jobs}")
    try:
        failed = run_jobs(jobs, max_jobs)
    except KeyboardInterrupt:
        print("run.py: interrupted; running jobs were stopped", file=sys.stderr)
        return 130
    if failed:
        print(_launch.failure_report("run.py", failed, len(jobs)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
