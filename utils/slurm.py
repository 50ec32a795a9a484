#!/usr/bin/env python3
"""Run a command as N jobs on a Slurm cluster: the interface of utils/run.py, one `sbatch --array`.

    utils/slurm.py [options] JOB=1:N logdir/name.JOB.log command args ...
    utils/slurm.py [options] logdir/name.log command args ...

Submits one job array (task k is JOB=k), waits for it with `squeue`, and exits like run.py: 0 when
every task exited 0, else 1 with "K of N jobs failed, see <log>" and the end of that log. Each
task writes its log (command, start time, host, exit status) and an exit-status file under
logdir/q/, next to the generated batch scripts and Slurm's own output (logdir/q/name.<k>.out).
A task that never wrote its status (time limit, out of memory, cancelled, node failure) is
reported with its state from `sacct`, or from `scontrol show job` where accounting is disabled.
Ctrl-C, SIGTERM or SIGHUP cancels the array with `scancel` (inside a recipe, so does the death of
run.sh).
The commands run in the current folder with the current environment (sbatch's default).
"""

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _launch  # noqa: E402  (lives next to this script; the launchers need no install)

_WAIT_STATES = {"", "COMPLETED", "FAILED", "COMPLETING", "RUNNING"}  # status file may still be on its way


def build_parser():
    p = argparse.ArgumentParser(
        prog="slurm.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] [JOB=1:N] logdir/name.JOB.log command ...",
    )
    _launch.add_common_options(p)
    p.add_argument("--partition", help="Slurm partition (sbatch --partition)")
    p.add_argument("--time", help="time limit per task, e.g. 4:00:00 (sbatch --time)")
    p.add_argument("--gpus", "--gpu", dest="gpus", help="GPUs per task (sbatch --gres=gpu:N); 0 for none")
    p.add_argument("--mem", help="memory per task, e.g. 8G (sbatch --mem)")
    p.add_argument("--num-threads", "--cpus-per-task", dest="cpus",
                   help="CPUs per task (sbatch --cpus-per-task)")
    p.add_argument("--account", help="Slurm account to charge (sbatch --account)")
    p.add_argument("--sbatch-args", default="", help="more sbatch options, as one quoted string")
    p.add_argument("--poll-interval", type=float, default=10.0, help="seconds between squeue polls")
    p.add_argument("--status-wait", type=float, default=60.0,
                   help="seconds to wait for a finished task's status file (shared file systems lag)")
    return p


def _sbatch_options(opts):
    out = []
    for flag, value in (("--partition", opts.partition), ("--time", opts.time), ("--mem", opts.mem),
                        ("--cpus-per-task", opts.cpus), ("--account", opts.account)):
        if value:
            out.append(f"{flag}={value}")
    if opts.gpus and opts.gpus != "0":
        out.append(f"--gres=gpu:{opts.gpus}")
    return out + shlex.split(opts.sbatch_args)


def _task_script(job, status):
    q = shlex.quote
    return f"""#!/bin/bash
# Written by utils/slurm.py: one task of a job array.
log={q(str(job.log))}
status={q(str(status))}
mkdir -p "$(dirname "$log")"
{{
  printf '# %s\\n' {q(job.command)}
  echo "# Started at $(date)"
  echo "# Slurm job ${{SLURM_ARRAY_JOB_ID:-?}} task ${{SLURM_ARRAY_TASK_ID:-?}} on $(hostname)"
}} > "$log"
start=$(date +%s)
bash -o pipefail -c {q(job.command)} >> "$log" 2>&1 < /dev/null
rc=$?
secs=$(( $(date +%s) - start ))
echo "# Accounting: time=$secs threads=1" >> "$log"
echo "# Ended (code $rc) at $(date), elapsed time $secs seconds" >> "$log"
echo "$rc" > "$status.tmp" && mv -f "$status.tmp" "$status"
exit "$rc"
"""


def write_scripts(jobs, qdir, name):
    """Write one script per task and the array script that picks the task's; returns status paths."""
    qdir.mkdir(parents=True, exist_ok=True)
    status = {}
    for job in jobs:
        status[job.id] = qdir / f"{name}.{job.id}.status"
        status[job.id].unlink(missing_ok=True)  # a stale one from an earlier run would look like success
        (qdir / f"{name}.{job.id}.sh").write_text(_task_script(job, status[job.id]), encoding="utf-8")
    array = (f"#!/bin/bash\ncd {shlex.quote(os.getcwd())} || exit 1\n"
             f'exec bash {shlex.quote(str(qdir / name))}."$SLURM_ARRAY_TASK_ID".sh\n')
    (qdir / f"{name}.sh").write_text(array, encoding="utf-8")
    return status


def _run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise SystemExit(f"slurm.py: `{cmd[0]}` not found on PATH; is this a Slurm login node? "
                         f"Use utils/run.py to run locally (cmd.sh)") from None


def submit(jobs, qdir, name, opts):
    ids = [j.id for j in jobs]
    array = f"{ids[0]}-{ids[-1]}" + (f"%{opts.max_jobs_run}" if opts.max_jobs_run else "")
    cmd = ["sbatch", "--parsable", f"--array={array}", f"--job-name={name}",
           f"--output={qdir / name}.%a.out", *_sbatch_options(opts), str(qdir / f"{name}.sh")]
    proc = _run(cmd)
    job_id = proc.stdout.strip().split(";")[0]
    if proc.returncode != 0 or not job_id.isdigit():
        why = proc.stderr.strip() or proc.stdout.strip()
        raise SystemExit(f"slurm.py: sbatch failed (exit {proc.returncode}): {why}\n"
                         f"command: {shlex.join(cmd)}")
    return job_id


def wait(job_id, poll):
    """Poll squeue until no task of the array is pending or running."""
    errors = 0
    while True:
        proc = _run(["squeue", "-h", "-j", job_id, "-o", "%i"])
        if proc.returncode == 0:
            errors = 0
            if not proc.stdout.strip():
                return
        elif "Invalid job id" in proc.stderr:  # finished and already purged from the queue
            return
        else:
            errors += 1
            if errors >= 10:
                raise SystemExit(f"slurm.py: squeue keeps failing for job {job_id}: {proc.stderr.strip()}")
        time.sleep(poll)


def sacct_states(job_id):
    """{task id: Slurm state} from sacct; empty when accounting is unavailable ("Slurm accounting
    storage is disabled" on clusters without slurmdbd)."""
    proc = _run(["sacct", "-n", "-P", "-j", job_id, "--format=JobID,State"])
    states = {}
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        m = re.match(rf"^{job_id}_(\d+)\|(\S+)", line.strip())
        if m:
            states[int(m.group(1))] = m.group(2).split()[0]
    return states


def scontrol_states(job_id):
    """{task id: Slurm state} from `scontrol -o show job` (one line per task, `ArrayTaskId=3 ...
    JobState=TIMEOUT Reason=TimeLimit`): slurmctld keeps finished jobs for MinJobAge (300 s by
    default), so this works where accounting does not. Empty when the job is gone or unreadable."""
    proc = _run(["scontrol", "-o", "show", "job", job_id])
    states = {}
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        task, state = fields.get("ArrayTaskId", ""), fields.get("JobState", "")
        if fields.get("ArrayJobId") == job_id and task.isdigit() and state:  # "3-5": still pending
            states[int(task)] = state
    return states


def task_states(job_id):
    """{task id: Slurm state}: sacct where accounting exists, else scontrol."""
    return sacct_states(job_id) or scontrol_states(job_id)


def collect(jobs, status, job_id, opts):
    """Exit code per job (None: the task never wrote one) and the Slurm states of those."""
    codes = {j.id: None for j in jobs}
    deadline = time.time() + opts.status_wait
    states = {}
    while True:
        for jid, path in status.items():
            if codes[jid] is None and path.is_file():
                text = path.read_text().strip()
                codes[jid] = int(text) if text.lstrip("-").isdigit() else 1
        missing = [j for j, c in codes.items() if c is None]
        if not missing:
            return codes, states
        states = task_states(job_id)
        if time.time() >= deadline or all(states.get(j, "") not in _WAIT_STATES for j in missing):
            return codes, states
        time.sleep(min(opts.poll_interval, 2.0))


def main(argv=None):
    parser = build_parser()
    opts, jobs, log_template, var = _launch.parse(parser, argv)
    if opts.max_jobs_run is not None and opts.max_jobs_run < 1:
        parser.error(f"--max-jobs-run must be >= 1, got {opts.max_jobs_run}")
    name = re.sub(r"\.log$", "", Path(log_template).name)
    if var:
        name = re.sub(rf"[._-]?{var}(?![A-Za-z0-9])", "", name)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "job"
    logdir = jobs[0].log.parent
    qdir = logdir / "q"
    status = write_scripts(jobs, qdir, name)
    job_id = submit(jobs, qdir, name, opts)
    print(f"slurm.py: submitted {len(jobs)} task(s) as Slurm job {job_id}; logs: {logdir}",
          file=sys.stderr)
    try:
        _launch.stop_on_signals()
        wait(job_id, opts.poll_interval)
    except (KeyboardInterrupt, _launch.Stopped) as e:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # let scancel finish
            signal.signal(sig, signal.SIG_IGN)
        _run(["scancel", job_id])
        why = "interrupted" if isinstance(e, KeyboardInterrupt) else f"stopped by {e}"
        print(f"slurm.py: {why}; cancelled Slurm job {job_id}", file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 128 + int(e.signum)
    codes, states = collect(jobs, status, job_id, opts)
    failed = [j for j in jobs if codes[j.id] != 0]
    if failed:
        lost = [j for j in failed if codes[j.id] is None]
        note = ""
        if lost:
            desc = ", ".join(f"{j.id} ({states.get(j.id) or 'state unknown'})" for j in lost[:10])
            note = (f"slurm.py: tasks that ended without an exit status (time limit, memory, node "
                    f"failure?): {desc}; Slurm's output is in {qdir}/{name}.<task>.out")
        print(_launch.failure_report("slurm.py", failed, len(jobs), note), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
