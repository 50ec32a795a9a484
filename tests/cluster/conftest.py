"""A private one-node Slurm cluster for the tests of this folder (session scope).

munged, slurmctld and slurmd run as root with their own key, socket, config, state, spool, pid and
log files under a temporary folder, on free ports, with the local CPUs (over-subscribed to 4, so
a throttled array has something to throttle) and no accounting storage (`sacct` answers "accounting
storage is disabled", as on many small clusters). The tests reach it through `SLURM_CONF`, which
`cluster.env` sets. Every daemon started here is stopped by pid at the end.

Where Slurm or munge is not installed, or the tests do not run as root, every test of this folder
skips with one line saying how to enable them (`sudo tools/install_system_packages.sh`).
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

ENABLE = "sudo tools/install_system_packages.sh (installs slurm-wlm and munge), then run the tests as root"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
NODE_CPUS = 4  # more than a CI machine's 2 cores: SlurmdParameters=config_overrides lets slurmd accept it
START_TIMEOUT_S = 30
SLURM_VARS = ("SLURM_", "SBATCH_", "SQUEUE_", "SRUN_")  # a job's own settings, not handed on
TIMEOUT_JOB_SECONDS = 300  # how long the time-limit task would run if Slurm did not stop it


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


@dataclass
class Cluster:
    """A running private cluster: its folder, its slurm.conf, and the environment that reaches it."""

    dir: Path
    conf: Path
    env: dict
    node: str
    pids: dict = field(default_factory=dict)
    background: dict = field(default_factory=dict)  # name -> (Popen, info) started early, awaited by tests

    def run(self, *cmd, check=True, timeout=30):
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}"
        return r

    def queue(self):
        """Job ids still pending or running (squeue's default states)."""
        return self.run("squeue", "-h", "-o", "%i").stdout.split()

    def logs(self, lines=15):
        out = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            p = self.dir / name
            if p.is_file():
                tail = p.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(out)


def _missing():
    gone = [d for d in DAEMONS if _which(d) is None] + [c for c in CLIENTS if shutil.which(c) is None]
    if gone:
        return f"Slurm tests skipped: {', '.join(gone)} not installed; to enable: {ENABLE}"
    if os.geteuid() != 0:
        return f"Slurm tests skipped: the private cluster's daemons need root; to enable: {ENABLE}"
    return None


def _write_config(d, node, ports, munge_socket):
    mem_mb = 1024
    conf = d / "slurm.conf"
    conf.write_text(f"""# Written by tests/cluster/conftest.py: a private one-node cluster.
ClusterName=nnsptest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=2
OverTimeLimit=0
MinJobAge=60
InactiveLimit=0
MessageTimeout=5
NodeName={node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
""")
    (d / "cgroup.conf").write_text("CgroupAutomount=no\n")
    return conf


def _start_munge(d):
    key = d / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = d / "munge" / "munge.socket"
    sock.parent.mkdir(mode=0o755)
    subprocess.run([_which("munged"), f"--socket={sock}", f"--key-file={key}", f"--pid-file={d}/munged.pid",
                    f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed", "--force"],
                   check=True, capture_output=True, text=True, timeout=30)
    return sock


def _read_pid(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.05)
    return None


def _node_idle(cluster):
    r = cluster.run("sinfo", "-h", "-n", cluster.node, "-o", "%t", check=False, timeout=10)
    return r.returncode == 0 and r.stdout.strip() == "idle"


def _stop(pids):
    for name in reversed(list(pids)):
        try:
            os.kill(pids[name], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for name in reversed(list(pids)):
        while time.monotonic() < deadline:
            try:
                os.kill(pids[name], 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pids[name], signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A started private Slurm cluster (or a skip saying how to get one)."""
    why = _missing()
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("slurm")
    d.chmod(0o755)
    for sub in ("state", "spool"):
        (d / sub).mkdir()
    node = socket.gethostname().split(".")[0]
    pids = {}
    c = None
    try:
        sock = _start_munge(d)
        pids["munged"] = _read_pid(d / "munged.pid")
        conf = _write_config(d, node, (free_port(), free_port()), sock)
        # a test run inside a Slurm job must not hand that job's settings on
        env = {k: v for k, v in os.environ.items() if not k.startswith(SLURM_VARS)}
        env["SLURM_CONF"] = str(conf)
        c = Cluster(d, conf, env, node, pids)
        # -i: ignore saved state (a clean cluster); daemons fork, write their pid file, and log there
        subprocess.run([_which("slurmctld"), "-i"], env=env, check=True, capture_output=True, timeout=30)
        pids["slurmctld"] = _read_pid(d / "slurmctld.pid")
        subprocess.run([_which("slurmd"), "-N", node], env=env, check=True, capture_output=True, timeout=30)
        pids["slurmd"] = _read_pid(d / "slurmd.pid")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _node_idle(c):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the node is not idle after {START_TIMEOUT_S} s")
            time.sleep(0.2)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        err = getattr(e, "stderr", b"") or b""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        _stop({k: v for k, v in pids.items() if v})
        logs = c.logs() if c else ""
        pytest.skip(f"the private Slurm cluster failed to start: {e} {err.strip()}\n{logs}")
    # Slurm's shortest time limit is 1 minute and slurmctld checks limits every 30 s: the task over
    # its limit is submitted now, and test_time_limit_reported_as_timeout awaits it last.
    work = tmp_path_factory.mktemp("timeout_run")
    proc = slurm_py(c, "--time", "1", "JOB=1:2", "log/over.JOB.log",
                    f"[ JOB -eq 1 ] || sleep {TIMEOUT_JOB_SECONDS}", cwd=work, poll=0.5, popen=True)
    c.background["timeout"] = (proc, work)
    try:
        yield c
    finally:
        for proc, _ in c.background.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        jobs = c.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
        if jobs:
            c.run("scancel", *sorted(set(jobs)), check=False)
        _stop({k: v for k, v in pids.items() if v})


SLURM_PY = ROOT / "utils" / "slurm.py"


def slurm_py(cluster, *args, cwd, poll=0.2, popen=False, **kwargs):
    """utils/slurm.py args against the private cluster (fast polls); run to the end, or a Popen."""
    cmd = [str(SLURM_PY), "--poll-interval", str(poll), "--status-wait", "5", *args]
    if popen:
        return subprocess.Popen(cmd, cwd=cwd, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **kwargs)
    return subprocess.run(cmd, cwd=cwd, env=cluster.env, capture_output=True, text=True, timeout=120,
                          **kwargs)
