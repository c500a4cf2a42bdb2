"""A real single-node SLURM for the tests: munged, slurmctld and slurmd from the Debian packages.

`SlurmCluster.start()` writes slurm.conf (from slurm.conf.in) to the standard path
/etc/slurm/slurm.conf -- the executor plugin's inner `srun` does not keep SLURM_CONF, so a config
elsewhere is lost inside jobs -- starts its own munged (own key and socket) and the two SLURM daemons
on free ports, and waits for the node to be idle. `stop()` ends exactly those processes and puts
back whatever /etc/slurm held before. A file lock serialises test runs on one machine.

`unavailable_reason()` says why SLURM cannot run here (None when it can).
"""

import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ETC = Path("/etc/slurm")
MARKER = "vocalsep-test-cluster"
PROGRAMS = ["munged", "munge", "slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue", "scontrol", "sinfo"]
LOCK = Path(tempfile.gettempdir()) / "vocalsep-slurm-test.lock"


def which(program):
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")


def unavailable_reason():
    """Why a SLURM cannot be started here, or None."""
    missing = [p for p in PROGRAMS if not which(p)]
    if missing:
        return (f"SLURM programs not installed: {', '.join(missing)} "
                "(Debian: apt-get install slurmctld slurmd slurm-client munge; install.sh does it as root)")
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs; these tests run as an ordinary user"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmError(RuntimeError):
    """The cluster did not come up; the message holds the daemons' logs."""


class SlurmCluster:
    """One node (this machine, 127.0.0.1) with partitions `cpu` (default) and `gpu` (one GPU).

    The node claims 32 cores and 64 GB (more than the machine has, on purpose): room for every
    song's group job (8 threads each in profiles/slurm) and the single jobs at once, as on a cluster.
    """

    def __init__(self, cpus=32, memory_mb=64000):
        self.cpus, self.memory_mb = cpus, memory_mb
        self.state = None
        self.procs = {}
        self.saved = {}
        self._lock = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout=60):
        self._lock = open(LOCK, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another test run on this machine waits here
        try:
            self.state = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))  # short: socket paths
            self.state.chmod(0o711)
            for sub in ("ctld", "spool"):
                (self.state / sub).mkdir()
            self._start_munge()
            self._write_config()
            self._spawn("slurmctld", [which("slurmctld"), "-D", "-i"])
            self._wait(lambda: self._run("scontrol", "ping").stdout.find("UP") >= 0, timeout, "slurmctld answers")
            self._spawn("slurmd", [which("slurmd"), "-D", "-N", self.host])
            self._wait(self._node_idle, timeout, "the node is idle")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for path, content in self.saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.saved = {}
        if self.state:
            shutil.rmtree(self.state, ignore_errors=True)
            self.state = None
        if self._lock:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- pieces ----------------------------------------------------------------------------------
    @property
    def host(self):
        return socket.gethostname().split(".")[0]

    @property
    def munge_socket(self):
        return self.state / "munge.socket"

    def _start_munge(self):
        key = self.state / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._spawn("munged", [
            which("munged"), "--foreground", "--force", f"--socket={self.munge_socket}",
            f"--key-file={key}", f"--pid-file={self.state / 'munged.pid'}",
            f"--log-file={self.state / 'munged.log'}", f"--seed-file={self.state / 'munge.seed'}",
        ])

        def munge_works():
            cred = subprocess.run([which("munge"), "-n", "-S", str(self.munge_socket)], capture_output=True)
            return cred.returncode == 0 and subprocess.run(
                [which("unmunge"), "-S", str(self.munge_socket)], input=cred.stdout, capture_output=True
            ).returncode == 0

        self._wait(munge_works, 20, "munged answers")

    def _write_config(self):
        text = (HERE / "slurm.conf.in").read_text().format(
            host=self.host, ctld_port=free_port(), slurmd_port=free_port(), munge_socket=self.munge_socket,
            state=self.state, cpus=self.cpus, memory_mb=self.memory_mb,
        )
        gres = f"# {MARKER}\nNodeName={self.host} Name=gpu File=/dev/null\n"  # a stand-in GPU: scheduling only
        ETC.mkdir(parents=True, exist_ok=True)
        for name, content in (("slurm.conf", text), ("gres.conf", gres)):
            path = ETC / name
            old = path.read_bytes() if path.exists() else None
            if old is not None and MARKER.encode() in old:
                old = None  # a leftover of a killed test run: remove it afterwards
            self.saved[path] = old
            path.write_text(content)

    def _spawn(self, name, cmd):
        log = open(self.state / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _run(self, program, *args):
        return subprocess.run([which(program), *args], capture_output=True, text=True)

    def _node_idle(self):
        out = self._run("sinfo", "-h", "-N", "-o", "%T").stdout.split()
        if any(s.startswith(("inval", "drain")) for s in out):
            self._run("scontrol", "update", f"nodename={self.host}", "state=resume")
        return bool(out) and all(s == "idle" for s in out)

    def _wait(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise SlurmError(f"{', '.join(dead)} exited while waiting until {what}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise SlurmError(f"timed out waiting until {what}:\n{self.logs()}")

    def logs(self, lines=15):
        """The last lines of every daemon's log, for failure messages."""
        parts = []
        for path in sorted(self.state.glob("*.log")) + sorted(self.state.glob("*.out")) if self.state else []:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)


def submitted_jobs(output):
    """{SLURM job id: its log folder, "group_<group>_<rules>" or "rule_<rule>"} of the jobs the executor
    plugin submitted."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*?/slurm_logs/((?:group|rule)_[^/]+)/", output)
    return dict(found)
