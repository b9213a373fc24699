"""Where students' code runs: a zygote inside bubblewrap, one sandboxed kernel per submission.

:class:`Zygote` starts, once per batch, ``python -m autograder.zygote`` (see there)
under Debian's bubblewrap (``bwrap``) with:

- a file system view that holds only what a kernel needs, read-only: ``/usr`` and the
  system libraries, a few files of ``/etc``, the Python installation and the course's
  virtual environment, and the two course packages (``coursekit``, ``autograder``).
  ``solutions/``, the submissions, the results and the gradebook are not in it at all;
- no network but its own loopback (``--unshare-net``), its own PID, IPC and UTS
  namespaces, and a user namespace, so it works for an ordinary Linux account
  (unprivileged user namespaces) as well as for root;
- a private ``/tmp``; inside it each submission then gets its own namespaces and a
  tmpfs of :data:`SCRATCH_BYTES` for its scratch folder, ``/tmp`` and ``/dev/shm``.

The zygote forks one kernel per :meth:`Zygote.connect`. Each kernel's process count is
bounded: in a ``pids`` cgroup (with ``pids.max`` = :data:`MAX_PROCESSES`) where the
grader may create one (root), else by ``RLIMIT_NPROC`` in the kernel's own user
namespace. Its memory is bounded by ``RLIMIT_DATA``.

Without bubblewrap (or where the machine refuses user namespaces) :func:`available`
says why, and grading refuses to start unless the instructor asks for
``--no-sandbox``: the kernels are then plain processes.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MEMORY_LIMIT = 4 << 30     # RLIMIT_DATA of a kernel (bytes)
SCRATCH_BYTES = 512 << 20          # tmpfs for a kernel's scratch folder, /tmp and /dev/shm
MAX_PROCESSES = 256                # processes and threads a kernel may run at once
START_LIMIT = 60.0                 # seconds for the zygote (or a kernel) to be up
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",
             "group", "hosts", "fonts", "mime.types", "ssl/certs", "alternatives", "matplotlibrc")


class SandboxUnavailable(RuntimeError):
    """This machine cannot isolate kernels (the message says why)."""


def bwrap_command(python: str, args: list[str]) -> list[str]:
    """The bubblewrap command line that runs ``python args`` in the zygote's sandbox."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    cmd = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
           "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
           "--setenv", "HOME", "/tmp", "--setenv", "PYTHONHASHSEED", "0", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    for var in ("OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        if os.environ.get(var):  # math-library settings of the grading run apply to kernels too
            cmd += ["--setenv", var, os.environ[var]]
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.lexists(path):
            cmd += ["--ro-bind", path, path] if not os.path.islink(path) else ["--symlink", os.readlink(path), path]
    for name in ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # before the binds: a course may live in /tmp
    for path in kept_paths():
        cmd += ["--ro-bind", path, path]
    # the chapters' implementations of homework parts are not in a kernel's view (coursekit/chapters)
    cmd += ["--ro-bind", str(COURSE_ROOT / "autograder" / "blocked_chapters"), str(COURSE_ROOT / "coursekit" / "chapters")]
    return cmd + ["--chdir", "/tmp", python, *args]


def kept_paths() -> list[str]:
    """What a kernel needs besides the system: the Python installation, the virtual environment
    and the two course packages (bound read-only at the same paths)."""
    paths = {str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve()), str(Path(sys.prefix))}
    paths = {p for p in paths if not p.startswith(("/usr/", "/lib"))}
    paths |= {str(COURSE_ROOT / package) for package in ("coursekit", "autograder")}
    return sorted(paths)


class ProcessCgroup:
    """A ``pids`` cgroup that bounds a kernel's process count (needs write access to cgroupfs)."""

    ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")

    def __init__(self, limit: int):
        self.path: Path | None = None
        for root in map(Path, self.ROOTS):
            if not (root / "cgroup.procs").exists():
                continue
            if root.name != "pids" and "pids" not in (root / "cgroup.controllers").read_text(errors="replace"):
                continue
            path = root / f"autograder-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                self.path = path
                return
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass

    def add(self, pid: int) -> bool:
        if self.path is None:
            return False
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
            return True
        except OSError:
            return False

    def close(self) -> None:
        if self.path is None:
            return
        for _ in range(50):
            try:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.path.rmdir()
                break
            except OSError:
                time.sleep(0.02)
        self.path = None


@functools.lru_cache(maxsize=1)
def cgroups_writable() -> bool:
    group = ProcessCgroup(1)
    ok = group.path is not None
    group.close()
    return ok


class KernelProcess:
    """The grader's handle on one kernel: its channel, and its init process held by a pidfd
    (a signal can never reach another process that has reused a dead init's PID)."""

    def __init__(self, sock: socket.socket, init_pid: int, cgroup: ProcessCgroup | None):
        self.sock, self.init_pid, self.cgroup = sock, init_pid, cgroup
        try:
            self.pidfd: int | None = os.pidfd_open(init_pid)
        except (OSError, AttributeError):
            self.pidfd = None

    def alive(self) -> bool:
        if self.pidfd is None:
            return False
        import select
        return not select.select([self.pidfd], [], [], 0)[0]  # readable once the process has exited

    def _signal(self, sig: int, group: bool = False) -> None:
        if not self.alive():
            return
        if group:  # the init process leads the group of the kernel and what it started
            try:
                os.killpg(self.init_pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except (ProcessLookupError, OSError):
            pass

    def interrupt(self) -> None:
        self._signal(signal.SIGINT)  # the init process passes it on to the kernel

    def kill(self) -> None:
        self._signal(signal.SIGKILL, group=True)  # in a PID namespace, killing init ends them all

    def close(self) -> None:
        self.kill()
        try:
            self.sock.close()
        except OSError:
            pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.cgroup is not None:
            self.cgroup.close()


@dataclass(frozen=True)
class ZygoteAddress:
    """Where a zygote listens; :meth:`connect` starts a kernel for one submission."""

    path: str
    sandboxed: bool

    def connect(self, threads: int | None = None, memory: int = DEFAULT_MEMORY_LIMIT,
                workdir: str | None = None) -> KernelProcess:
        """A fresh kernel for one submission (its channel is ready for :mod:`autograder.remote`)."""
        cgroup = ProcessCgroup(MAX_PROCESSES) if self.sandboxed and cgroups_writable() else None
        spec = {"threads": threads, "memory": memory, "scratch": SCRATCH_BYTES, "keep": kept_paths(),
                "nproc": None if (cgroup and cgroup.path) or not self.sandboxed else MAX_PROCESSES,
                "workdir": workdir}
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(START_LIMIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.connect(self.path)
        sock.sendall(json.dumps(spec).encode() + b"\n")
        data, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("3i")))
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[:struct.calcsize("3i")])[0]
        if data != b"P" or not pid:
            sock.close()
            raise RuntimeError("the grading kernel did not start")
        if cgroup is not None and cgroup.path is not None and not cgroup.add(pid):
            cgroup.close()
            cgroup = None
        sock.sendall(b"G")
        sock.settimeout(None)
        return KernelProcess(sock, pid, cgroup)


class Zygote:
    """One zygote process per batch (see the module docstring); :meth:`connect` gives a kernel."""

    def __init__(self, sandboxed: bool, preload: list[str] = (), threads: int | None = None):
        self.sandboxed = sandboxed
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="autograde-zygote-")
        try:
            self._start(preload, threads)
        except BaseException:
            self.close()  # no folder or process outlives a zygote that could not start
            raise

    def _start(self, preload: list[str], threads: int | None) -> None:
        os.chmod(self.dir, 0o700)
        self.address_path = os.path.join(self.dir, "zygote.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:  # the zygote inherits it
            listener.bind(self.address_path)
            listener.listen(64)
            python = str(Path(sys.prefix) / "bin" / "python")
            args = ["-m", "autograder.zygote", "--listen-fd", str(listener.fileno()), "--preload", ",".join(preload)]
            env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
            if threads:
                env.update({v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
            if self.sandboxed:
                cmd = bwrap_command(python, args + ["--isolate"])
                for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MPLBACKEND"):
                    if var in env:
                        cmd[cmd.index("--clearenv") + 1:cmd.index("--clearenv") + 1] = ["--setenv", var, env[var]]
            else:
                cmd = [python, *args]
            self.log = os.path.join(self.dir, "zygote-stderr.txt")
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(cmd, pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=log, env=env,
                                             cwd=self.dir, start_new_session=True)
        line = self.proc.stdout.readline()
        if b"zygote ready" not in line:
            self.proc.wait(timeout=START_LIMIT) if self.proc.poll() is None else None
            err = Path(self.log).read_text(errors="replace")[-2000:]
            raise SandboxUnavailable(f"the kernel sandbox did not start ({err.strip()[-500:] or 'no output'})")

    def address(self) -> "ZygoteAddress":
        """What a (forked) grading process needs to get kernels from this zygote."""
        return ZygoteAddress(self.address_path, self.sandboxed)

    def connect(self, **kwargs) -> KernelProcess:
        return self.address().connect(**kwargs)

    def close(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def memory_note() -> str:
    return (f"memory {DEFAULT_MEMORY_LIMIT >> 30} GiB (RLIMIT_DATA), {MAX_PROCESSES} processes, "
            f"{SCRATCH_BYTES >> 20} MiB of scratch, /tmp and /dev/shm (tmpfs)")


def describe(sandboxed: bool) -> str:
    if sandboxed:
        return ("sandboxed kernels (bubblewrap: read-only view without solutions/ or other submissions, "
                "no network, own PID/IPC namespaces, no capabilities; " + memory_note() + ")")
    return "NO SANDBOX (--no-sandbox): kernels ran as plain processes with the instructor's rights"


def limit_memory(limit_bytes: int = DEFAULT_MEMORY_LIMIT) -> None:
    """Cap this process's (and its future children's) data segment at ``limit_bytes``."""
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def kill_tree(pid: int | None = None) -> None:
    """Kill every process that ``pid`` started, then ``pid``; without ``pid``, what this process started.

    Call it only on a process that has not been reaped: a reaped PID may be reused.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + ([root] if pid is not None else [])
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
