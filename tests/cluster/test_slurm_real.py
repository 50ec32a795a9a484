"""utils/slurm.py against a real Slurm (the private one-node cluster of conftest.py, no accounting)."""

import re
import signal
import time

import pytest

from tests.cluster.conftest import TIMEOUT_JOB_SECONDS, slurm_py


def _intervals(work, n):
    """(start, end) of each task, as the tasks wrote them."""
    out = []
    for k in range(1, n + 1):
        start, end = (work / f"t.{k}.times").read_text().split()
        out.append((float(start), float(end)))
    return out


def _most_at_once(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_array_throttled_by_max_jobs_run(cluster, tmp_path):
    """4 tasks with --max-jobs-run 2 on a node with 4 CPUs: never more than 2 run at once (and 2 do)."""
    r = slurm_py(cluster, "--max-jobs-run", "2", "JOB=1:4", "log/feat.JOB.log",
                 "s=$(date +%s.%N); echo task JOB; sleep 1.5; echo $s $(date +%s.%N) > t.JOB.times",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"submitted 4 task\(s\) as Slurm job \d+", r.stderr)
    assert _most_at_once(_intervals(tmp_path, 4)) == 2
    for k in range(1, 5):
        lines = (tmp_path / "log" / f"feat.{k}.log").read_text().splitlines()
        assert re.match(rf"# Slurm job \d+ task {k} on {cluster.node}", lines[2]), lines
        assert f"task {k}" in lines
        assert lines[-1].startswith("# Ended (code 0)")
    assert sorted(p.name for p in (tmp_path / "log" / "q").glob("feat.*.out")) == [
        f"feat.{k}.out" for k in range(1, 5)]


def test_single_job_and_failing_task(cluster, tmp_path):
    """The single-job form, then an array whose task 2 exits 3: reported with its log's tail."""
    r = slurm_py(cluster, "exp/train.log", "echo", "hello", "from", "slurm", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "exp" / "train.log").read_text()
    assert "hello from slurm" in log and "# Ended (code 0)" in log
    r = slurm_py(cluster, "JOB=1:2", "log/x.JOB.log", "echo out JOB; [ JOB -ne 2 ] || exit 3", cwd=tmp_path)
    assert r.returncode == 1
    assert "1 of 2 jobs failed, see log/x.2.log" in r.stderr
    assert "out 2" in r.stderr and "# Ended (code 3)" in r.stderr


def _submitted_id(proc):
    line = proc.stderr.readline()
    m = re.search(r"as Slurm job (\d+)", line)
    assert m, line
    return m.group(1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_signal_cancels_the_jobs(cluster, tmp_path, sig):
    """Ctrl-C or SIGTERM to slurm.py while its tasks run: scancel, and squeue shows none left.
    slurm.py starts with SIGINT ignored, as a recipe's `${cmd} ... &` under a non-interactive shell
    starts it: the interrupt must still stop the jobs."""
    proc = slurm_py(cluster, "JOB=1:2", "log/long.JOB.log", "echo started JOB; sleep 300", cwd=tmp_path,
                    popen=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        job = _submitted_id(proc)
        deadline = time.monotonic() + 30
        while "RUNNING" not in cluster.run("squeue", "-h", "-j", job, "-o", "%T", check=False).stdout:
            assert time.monotonic() < deadline, "the tasks never started"
            time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)  # scancel and the queue check: slow when CI is busy
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert f"cancelled Slurm job {job}" in err
    deadline = time.monotonic() + 30  # cancelled tasks are COMPLETING for up to KillWait (slower when busy)
    while job in " ".join(cluster.queue()).replace("_", " ").split():
        assert time.monotonic() < deadline, cluster.run("squeue", "-j", job, check=False).stdout
        time.sleep(0.2)
    assert "state=CANCELLED" in cluster.run("scontrol", "-o", "show", "job", job).stdout.replace(
        "JobState", "state")


def test_time_limit_reported_as_timeout(cluster):
    """Task 2 of an array with --time 1 sleeps past it: Slurm kills it, and without accounting
    (sacct: "accounting storage is disabled") slurm.py still names its state, from scontrol."""
    assert cluster.run("sacct", "-j", "1", check=False).returncode != 0  # no accounting here
    proc, work = cluster.background["timeout"]
    _, err = proc.communicate(timeout=TIMEOUT_JOB_SECONDS)
    assert proc.returncode == 1, err
    assert "1 of 2 jobs failed, see log/over.2.log" in err
    assert "2 (TIMEOUT)" in err
    assert "# Ended (code 0)" in (work / "log" / "over.1.log").read_text()
