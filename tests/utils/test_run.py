"""utils/run.py: parallel jobs, JOB substitution, log contents, failure report, --max-jobs-run."""

import subprocess

from tests.conftest import ROOT

RUN = ROOT / "utils" / "run.py"


def run(tmp_path, *args):
    return subprocess.run([str(RUN), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)


def test_jobs_substitution_and_logs(tmp_path):
    r = run(tmp_path, "JOB=1:3", "log/echo.JOB.log",
            "echo", "job", "JOB", "out.JOB.txt", "|", "tr", "a-z", "A-Z")
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        lines = (tmp_path / "log" / f"echo.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {j} out.{j}.txt | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert f"JOB {j} OUT.{j}.TXT" in lines
        assert lines[-2].startswith("# Accounting: time=")
        assert lines[-1].startswith("# Ended (code 0) at ")


def test_substitution_leaves_longer_words_alone(tmp_path):
    r = run(tmp_path, "JOB=2:2", "l.JOB.log", "echo", "JOBS", "x_JOB", "--job=JOB")
    assert r.returncode == 0, r.stderr
    assert "JOBS x_2 --job=2" in (tmp_path / "l.2.log").read_text()


def test_single_job_form_and_quoted_argument(tmp_path):
    r = run(tmp_path, "single.log", "printf '%s\\n' \"a b\" > out.txt")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.txt").read_text() == "a b\n"
    r = run(tmp_path, "single2.log", "echo", "two words", "x")
    assert r.returncode == 0
    assert "two words x" in (tmp_path / "single2.log").read_text()


def test_jobs_run_in_parallel(tmp_path):
    # Each job marks itself and then waits for all three marks: it succeeds only if all run at once.
    wait = ("touch b.JOB; for i in $(seq 200); do [ -e b.1 ] && [ -e b.2 ] && [ -e b.3 ] && exit 0; "
            "sleep 0.05; done; exit 1")
    r = run(tmp_path, "--max-jobs-run", "3", "JOB=1:3", "log/p.JOB.log", wait)
    assert r.returncode == 0, r.stderr


def test_max_jobs_run_limits_concurrency(tmp_path):
    cmd = "echo start >> t; sleep 0.1; echo end >> t"
    r = run(tmp_path, "--max-jobs-run=1", "JOB=1:3", "log/s.JOB.log", cmd)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t").read_text().split() == ["start", "end"] * 3


def test_failure_message_and_exit_code(tmp_path):
    r = run(tmp_path, "JOB=1:4", "log/f.JOB.log", "echo output of JOB; [ JOB -lt 3 ]")
    assert r.returncode == 1
    assert "2 of 4 jobs failed, see log/f.3.log" in r.stderr
    assert "output of 3" in r.stderr  # the tail of the first failed log
    assert "failed jobs: 3, 4" in r.stderr
    assert "# Ended (code 1)" in (tmp_path / "log" / "f.4.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "log" / "f.1.log").read_text()


def test_pipefail(tmp_path):
    r = run(tmp_path, "x.log", "false", "|", "cat")
    assert r.returncode == 1
    assert "1 of 1 jobs failed" in r.stderr


def test_usage_errors(tmp_path):
    r = run(tmp_path, "JOB=1:2", "same.log", "true")
    assert r.returncode == 2 and "does not contain JOB" in r.stderr
    r = run(tmp_path, "JOB=3:1", "x.JOB.log", "true")
    assert r.returncode == 2 and "empty" in r.stderr
    r = run(tmp_path, "only.log")
    assert r.returncode == 2 and "expected a log file and a command" in r.stderr
    r = run(tmp_path, "--help")
    assert r.returncode == 0 and "--max-jobs-run" in r.stdout


def test_slurm_options_accepted_and_ignored(tmp_path):
    r = run(tmp_path, "--gpus", "1", "--mem=4G", "--time", "1:00:00", "g.log", "echo", "ok")
    assert r.returncode == 0, r.stderr
    assert "ok" in (tmp_path / "g.log").read_text()
