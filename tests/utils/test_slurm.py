"""utils/slurm.py against fake sbatch/squeue/sacct scripts on PATH (no cluster needed)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

SLURM = ROOT / "utils" / "slurm.py"

FAKES = {
    # Records its arguments, runs every array task in turn (except those in $FAKE_SKIP), prints an id.
    "sbatch": r"""#!/bin/bash
echo "$@" >> "$FAKE_DIR/sbatch.args"
if [ -n "${FAKE_SBATCH_FAIL:-}" ]; then echo "sbatch: error: invalid partition" >&2; exit 1; fi
script="${!#}"
array=""
for a in "$@"; do case "$a" in --array=*) array="${a#--array=}" ;; esac; done
range="${array%%\%*}"
for ((i=${range%-*}; i<=${range#*-}; i++)); do
  case " ${FAKE_SKIP:-} " in *" $i "*) continue ;; esac
  SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$i bash "$script" > /dev/null 2>&1
done
echo "4242;cluster"
""",
    # Reports a running task for the first two polls, then an empty queue.
    "squeue": r"""#!/bin/bash
echo "$@" >> "$FAKE_DIR/squeue.args"
n=$(cat "$FAKE_DIR/squeue.n" 2>/dev/null || echo 0)
echo $((n + 1)) > "$FAKE_DIR/squeue.n"
if [ "$n" -lt 2 ]; then echo "4242_1"; fi
""",
    "sacct": r"""#!/bin/bash
printf '4242_1|COMPLETED\n4242_1.batch|COMPLETED\n4242_3|TIMEOUT\n'
""",
    "scancel": "#!/bin/bash\necho \"$@\" >> \"$FAKE_DIR/scancel.args\"\n",
}


@pytest.fixture
def slurm(tmp_path):
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name, text in FAKES.items():
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()

    def call(*args, **env):
        e = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}", FAKE_DIR=str(tmp_path), **env)
        return subprocess.run([str(SLURM), "--poll-interval", "0.01", "--status-wait", "0.2", *args],
                              capture_output=True, text=True, cwd=work, env=e, timeout=60)

    call.dir, call.work = tmp_path, work
    return call


def test_array_submitted_and_waited_for(slurm):
    r = slurm("--partition", "cpu", "--time=1:00:00", "--mem", "4G", "--gpus", "1", "--max-jobs-run", "2",
              "JOB=1:3", "exp/log/feat.JOB.log", "echo", "task", "JOB", "|", "tr", "a-z", "A-Z")
    assert r.returncode == 0, r.stderr
    args = (slurm.dir / "sbatch.args").read_text().split()
    for want in ("--parsable", "--array=1-3%2", "--job-name=feat", "--partition=cpu", "--time=1:00:00",
                 "--mem=4G", "--gres=gpu:1"):
        assert want in args
    assert args[-1].endswith("exp/log/q/feat.sh")
    assert (slurm.dir / "squeue.n").read_text().strip() == "3"  # polled until the queue was empty
    assert "-j 4242" in (slurm.dir / "squeue.args").read_text()
    for j in (1, 2, 3):
        lines = (slurm.work / "exp" / "log" / f"feat.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo task {j} | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert f"TASK {j}" in lines
        assert lines[-1].startswith("# Ended (code 0)")


def test_failed_task_reported_with_log_tail(slurm):
    r = slurm("JOB=1:3", "log/x.JOB.log", "echo out JOB; [ JOB -ne 2 ]")
    assert r.returncode == 1
    assert "1 of 3 jobs failed, see log/x.2.log" in r.stderr
    assert "out 2" in r.stderr


def test_task_without_status_reports_slurm_state(slurm):
    r = slurm("JOB=1:3", "log/y.JOB.log", "true", FAKE_SKIP="3")
    assert r.returncode == 1
    assert "1 of 3 jobs failed, see log/y.3.log" in r.stderr
    assert "3 (TIMEOUT)" in r.stderr


def test_single_job_form(slurm):
    r = slurm("exp/train.log", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert "--array=1-1" in (slurm.dir / "sbatch.args").read_text()
    assert "hello" in (slurm.work / "exp" / "train.log").read_text()


def test_stale_status_does_not_count(slurm):
    assert slurm("JOB=1:2", "log/z.JOB.log", "true").returncode == 0
    r = slurm("JOB=1:2", "log/z.JOB.log", "true", FAKE_SKIP="1 2")
    assert r.returncode == 1
    assert "2 of 2 jobs failed" in r.stderr


def test_sbatch_failure_is_reported(slurm):
    r = slurm("--partition", "nope", "x.log", "true", FAKE_SBATCH_FAIL="1")
    assert r.returncode == 1
    assert "sbatch failed" in r.stderr and "invalid partition" in r.stderr


def test_no_sbatch_on_path(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH without sbatch, whether or not a real Slurm is installed
    bin_dir.mkdir()
    os.symlink(shutil.which("bash"), bin_dir / "bash")
    os.symlink(os.path.realpath(sys.executable), bin_dir / "python3")  # the interpreter itself, not a shim
    env = dict(os.environ, PATH=str(bin_dir))
    r = subprocess.run([str(SLURM), "x.log", "true"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 1
    assert "sbatch` not found on PATH" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_cancels_the_array(slurm, sig):
    """SIGTERM/SIGHUP to slurm.py (a killed recipe) cancel the array instead of leaving it running."""
    forever = slurm.dir / "fakebin" / "squeue"
    forever.write_text('#!/bin/bash\ntouch "$FAKE_DIR/waiting"\necho "4242_1"\n')  # never finishes
    env = dict(os.environ, PATH=f"{slurm.dir / 'fakebin'}:{os.environ['PATH']}", FAKE_DIR=str(slurm.dir))
    p = subprocess.Popen([str(SLURM), "--poll-interval", "0.05", "x.log", "true"], cwd=slurm.work, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(400):
            if (slurm.dir / "waiting").exists():
                break
            time.sleep(0.05)
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + int(sig), err
    assert (slurm.dir / "scancel.args").read_text().split() == ["4242"]
    assert f"stopped by {signal.Signals(sig).name}; cancelled Slurm job 4242" in err
