"""Where students' code runs: a zygote inside bubblewrap, one sandboxed kernel per submission.

:class:`Zygote` starts, once per batch, ``python -m autograder.kernel.zygote`` (see there)
under Debian's bubblewrap (``bwrap``) with:

- a file system view that holds only what a kernel needs, all of it read-only: ``/usr``
  and the system libraries, a few files of ``/etc``, the Python installation and the
  course's virtual environment, the two course packages (``coursekit``, ``autograder``),
  and bubblewrap's own root and ``/dev`` (its few device nodes) remounted read-only, so
  that nothing a kernel writes outside its private tmpfs can reach a later kernel.
  ``solutions/``, the submissions, the results and the gradebook are not in it at all;
- no network but its own loopback (``--unshare-net``), its own PID, IPC and UTS
  namespaces, and a user namespace, so it works for an ordinary Linux account
  (unprivileged user namespaces) as well as for root;
- a private ``/tmp``; inside it each submission then gets its own namespaces and a
  tmpfs of :data:`SCRATCH_BYTES` for its scratch folder, ``/tmp`` and ``/dev/shm``.

The zygote forks one kernel per :meth:`Zygote.connect`. Each kernel gets its own cgroup
(memory with its children and shared memory, CPU share, process count) where the grader
may write cgroups, else ``RLIMIT_NPROC`` and a memory watchdog: see :mod:`autograder.trusted.limits`.
``RLIMIT_DATA`` bounds each of its processes too.

Without bubblewrap (or where the machine refuses user namespaces) :func:`available`
says why, and grading refuses to start unless the instructor asks for
``--no-sandbox``: the kernels are then plain processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import COURSE_ROOT
from ..defaults import MAX_PROCESSES, MEMORY_LIMIT, SCRATCH_BYTES, START_LIMIT, THREAD_VARIABLES
from . import limits

ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
    "group",
    "hosts",
    "fonts",
    "mime.types",
    "ssl/certs",
    "alternatives",
    "matplotlibrc",
)


class SandboxUnavailable(RuntimeError):
    """This machine cannot isolate kernels (the message says why)."""


class KernelDidNotStart(RuntimeError):
    """The zygote did not give a kernel, or the kernel did not say it was ready."""


def bwrap_command(python: str, args: list[str]) -> list[str]:
    """The bubblewrap command line that runs ``python args`` in the zygote's sandbox."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    cmd = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "PYTHONHASHSEED",
        "0",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
    ]
    for var in ("OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        if os.environ.get(var):  # math-library settings of the grading run apply to kernels too
            cmd += ["--setenv", var, os.environ[var]]
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.lexists(path):
            cmd += ["--ro-bind", path, path] if not os.path.islink(path) else ["--symlink", os.readlink(path), path]
    for name in ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # bwrap's /dev: its few device nodes, read-only (a kernel mounts its own tmpfs on /dev/shm)
    cmd += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    cmd += ["--tmpfs", "/tmp"]  # before the binds: a course may live in /tmp
    for path in kept_paths():
        cmd += ["--ro-bind", path, path]
    # the chapters' implementations of homework parts are not in a kernel's view (coursekit/chapters)
    cmd += [
        "--ro-bind",
        str(COURSE_ROOT / "autograder" / "kernel" / "blocked_chapters"),
        str(COURSE_ROOT / "coursekit" / "chapters"),
    ]
    # bwrap's root (a tmpfs holding the mount points, /etc ...) read-only: no kernel leaves a file there
    cmd += ["--remount-ro", "/"]
    return cmd + ["--chdir", "/tmp", python, *args]


def kept_paths() -> list[str]:
    """What a kernel needs besides the system: the Python installation, the virtual environment
    and the two course packages (bound read-only at the same paths)."""
    paths = {str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve()), str(Path(sys.prefix))}
    paths = {p for p in paths if not p.startswith(("/usr/", "/lib"))}
    paths |= {str(COURSE_ROOT / package) for package in ("coursekit", "autograder")}
    return sorted(paths)


class KernelProcess:
    """The grader's handle on one kernel: its channel, and its init process held by a pidfd
    (a signal can never reach another process that has reused a dead init's PID)."""

    def __init__(
        self, sock: socket.socket, init_pid: int, group: limits.KernelGroup | None = None, events: str | None = None
    ):
        self.sock, self.init_pid, self.group, self.events = sock, init_pid, group, events
        self.watchdog: limits.Watchdog | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(init_pid)
        except (OSError, AttributeError):
            self.pidfd = None

    def watch(self, memory: int, private_tmpfs: bool) -> None:
        """Stop this kernel past ``memory`` bytes (:class:`autograder.trusted.limits.Watchdog`)."""
        self.watchdog = limits.Watchdog(self, memory, self.group, private_tmpfs)
        self.watchdog.start()

    def check_limits(self) -> None:
        """Stop the kernel now if it is past its memory limit (between cells; the watchdog also polls)."""
        if self.watchdog is not None:
            self.watchdog.check()

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
        if self.pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except (ProcessLookupError, OSError):
            pass

    def interrupt(self) -> None:
        self._signal(signal.SIGINT)  # the init process passes it on to the kernel

    def kill(self) -> None:
        self._signal(signal.SIGKILL, group=True)  # in a PID namespace, killing init ends them all

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            if self.watchdog.tripped and self.events:  # the grader adds it to the submission's notes
                with open(self.events, "a") as fh:
                    fh.write(self.watchdog.tripped + "\n")
        self.kill()
        try:
            self.sock.close()
        except OSError:
            pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.group is not None:
            self.group.close()


@dataclass(frozen=True)
class ZygoteAddress:
    """Where a zygote listens; :meth:`connect` starts a kernel for one submission.

    ``cgroups`` (where kernels' groups go, :func:`autograder.trusted.limits.discover`) and ``token``
    (their names' prefix) come from the batch; ``events`` is a file where a kernel's handle
    writes what the report must say (a kernel stopped at its memory limit)."""

    path: str
    sandboxed: bool
    cgroups: limits.Cgroups | None = None
    token: str = "autograder-"
    memory: int = MEMORY_LIMIT
    events: str | None = None

    def with_events(self, events: str) -> ZygoteAddress:
        return dataclasses.replace(self, events=events)

    def connect(
        self, threads: int | None = None, memory: int | None = None, workdir: str | None = None
    ) -> KernelProcess:
        """A fresh kernel for one submission (its channel is ready for :mod:`autograder.trusted.remote`)."""
        memory = memory or self.memory
        group = None
        if self.sandboxed and self.cgroups is not None:
            group = limits.KernelGroup(self.cgroups, self.token + uuid.uuid4().hex[:12], memory, threads, MAX_PROCESSES)
        spec = {
            "threads": threads,
            "memory": memory,
            "scratch": SCRATCH_BYTES,
            "keep": kept_paths(),
            "nproc": None if (group and "pids" in group.applied) or not self.sandboxed else MAX_PROCESSES,
            "workdir": workdir,
        }
        try:
            sock, pid = self._start(spec)
        except BaseException:
            if group is not None:
                group.close()
            raise
        if group is not None and not group.add(pid):
            group.close()
            group = None
            if spec["nproc"] is None:  # no RLIMIT_NPROC was asked for: never a kernel without a bound
                os.kill(pid, signal.SIGKILL)
                sock.close()
                raise KernelDidNotStart("the grading kernel could not be put into its cgroup")
        sock.sendall(b"G")
        sock.settimeout(None)
        kernel = KernelProcess(sock, pid, group, self.events)
        if self.sandboxed:
            kernel.watch(memory, private_tmpfs=True)
        return kernel

    def _start(self, spec: dict) -> tuple[socket.socket, int]:
        """Ask the zygote for a kernel; its init process's PID comes with the socket's credentials."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(START_LIMIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.connect(self.path)
        sock.sendall(json.dumps(spec).encode() + b"\n")
        data, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("3i")))
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
        if data != b"P" or not pid:
            sock.close()
            raise KernelDidNotStart("the grading kernel did not start")
        return sock, pid


class Zygote:
    """One zygote process per batch (see the module docstring); :meth:`connect` gives a kernel."""

    def __init__(
        self,
        *,
        sandboxed: bool,
        preload: Sequence[str] = (),
        threads: int | None = None,
        cgroups: bool = True,
        memory: int = MEMORY_LIMIT,
    ) -> None:
        self.sandboxed, self.memory, self.threads = sandboxed, memory, threads
        self.proc: subprocess.Popen[bytes] | None = None
        # kernels' cgroups (sandboxed grading only); without them, RLIMIT_NPROC and a watchdog
        self.cgroups = limits.discover() if sandboxed and cgroups else None
        self.token = f"autograder-{uuid.uuid4().hex[:8]}-"
        self.dir = tempfile.mkdtemp(prefix="autograde-zygote-")
        try:
            self._start(preload, threads)
        except BaseException:
            self.close()  # no folder or process outlives a zygote that could not start
            raise

    def _start(self, preload: Sequence[str], threads: int | None) -> None:
        os.chmod(self.dir, 0o700)
        self.address_path = os.path.join(self.dir, "zygote.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:  # the zygote inherits it
            listener.bind(self.address_path)
            listener.listen(64)
            python = str(Path(sys.prefix) / "bin" / "python")
            args = [
                "-m",
                "autograder.kernel.zygote",
                "--listen-fd",
                str(listener.fileno()),
                "--preload",
                ",".join(preload),
            ]
            env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
            if threads:
                env.update({v: str(threads) for v in THREAD_VARIABLES})
            if self.sandboxed:
                cmd = bwrap_command(python, args + ["--isolate"])
                for var in (*THREAD_VARIABLES, "MPLBACKEND"):
                    if var in env:
                        cmd[cmd.index("--clearenv") + 1 : cmd.index("--clearenv") + 1] = ["--setenv", var, env[var]]
            else:
                cmd = [python, *args]
            self.log = os.path.join(self.dir, "zygote-stderr.txt")
            with open(self.log, "wb") as log:
                self.proc = proc = subprocess.Popen(
                    cmd,
                    pass_fds=[listener.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=env,
                    cwd=self.dir,
                    start_new_session=True,
                )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"zygote ready" not in line:
            if proc.poll() is None:
                proc.wait(timeout=START_LIMIT)
            err = Path(self.log).read_text(errors="replace")[-2000:]
            raise SandboxUnavailable(f"the kernel sandbox did not start ({err.strip()[-500:] or 'no output'})")

    def address(self) -> ZygoteAddress:
        """What a (forked) grading process needs to get kernels from this zygote."""
        return ZygoteAddress(self.address_path, self.sandboxed, self.cgroups, self.token, self.memory)

    def connect(self, **kwargs) -> KernelProcess:
        return self.address().connect(**kwargs)

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        limits.sweep(getattr(self, "cgroups", None), getattr(self, "token", "-"))  # groups of killed graders
        shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self) -> str:
        """The isolation and limits of this batch's kernels, in words (report.txt's first line)."""
        return describe(self.sandboxed, self.cgroups, self.memory, self.threads)


def describe(
    sandboxed: bool, cgroups: limits.Cgroups | None = None, memory: int = MEMORY_LIMIT, threads: int | None = None
) -> str:
    if sandboxed:
        return (
            "sandboxed kernels (bubblewrap: read-only view without solutions/ or other submissions, "
            "no network, own PID/IPC namespaces, no capabilities; "
            f"{limits.describe(cgroups, memory, threads)}; {SCRATCH_BYTES >> 20} MiB of private scratch, "
            "/tmp and /dev/shm (tmpfs))"
        )
    return "NO SANDBOX (--no-sandbox): kernels ran as plain processes with the instructor's rights"
