"""Where a submission's code runs: a forked process, locked down when the machine allows it.

:func:`start` forks the grading process into a chain of three processes::

    grading process -> relay -> relay -> kernel (runs the student's cells)

The kernel is a *fork*, not a new interpreter: the modules the grading process
has already imported (numpy, torch, IPython: preloaded once per batch, see
:mod:`autograder.batch`) cost it nothing, where a fresh Jupyter kernel spends
seconds importing them for every student.

With Linux namespaces (root, or a container that allows them) the first relay
moves into its own mount namespace, makes every file system read-only except the
scratch folder (``sandbox_mounts.sh``) and starts a PID namespace; the second
relay is that namespace's PID 1 with its own ``/proc``; the kernel then drops
every capability. The kernel cannot delete or rewrite the gradebook, the
submissions, other students' results or the course files, and it cannot see or
signal any other process. Otherwise the chain runs as plain processes (still in a
scratch working directory, with the memory limit). :func:`mode` says which, and
the grades report states it.

The relays pass SIGINT on to the kernel (how a cell past its time limit is
interrupted) and exit with the kernel's status. Every process also inherits the
memory limit (``RLIMIT_DATA``, :func:`limit_memory`): a memory bomb raises
MemoryError in the student's code instead of taking the machine down.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

MOUNTS_SCRIPT = Path(__file__).resolve().parent / "sandbox_mounts.sh"
DEFAULT_MEMORY_LIMIT = 4 << 30

CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
CAPABILITY_VERSION_3 = 0x20080522
EXIT_SETUP_FAILED = 70


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enter_mount_namespace(workdir: Path) -> None:
    """This process gets its own mounts: all read-only except ``workdir`` (see sandbox_mounts.sh)."""
    _check(_libc().unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    subprocess.run(["sh", str(MOUNTS_SCRIPT), str(workdir)], check=True, stdin=subprocess.DEVNULL)


def _mount_proc() -> None:
    """A /proc that shows only this PID namespace (call it from the namespace's PID 1)."""
    _check(_libc().mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """No capability now, none to regain through exec, and no privilege through setuid files."""
    libc = _libc()
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    if ctypes.get_errno() != errno.EINVAL:  # EINVAL: past the last capability, all dropped
        _check(-1, "prctl(PR_CAPBSET_DROP)")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL on kernels without ambient caps
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def _relay(child: int) -> int:
    """Pass SIGINT on to ``child``, reap every process that ends here, return ``child``'s exit code."""
    def forward(signum, frame):
        try:
            os.kill(child, signal.SIGINT)
        except ProcessLookupError:  # it has just ended
            pass

    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return EXIT_SETUP_FAILED
        if pid == child:
            return os.waitstatus_to_exitcode(status) % 256


def _forked(body: Callable[[], int]) -> int:
    """Fork; the child runs ``body`` and exits with its code, never returning here. Returns the child's PID."""
    pid = os.fork()
    if pid:
        return pid
    code = EXIT_SETUP_FAILED
    try:
        code = body()
    except BaseException:  # noqa: BLE001 - a forked child must never unwind into its parent's code
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def start(workdir: Path, sandboxed: bool, kernel: Callable[[], int]) -> int:
    """Fork the chain ``relay -> relay -> kernel`` that runs ``kernel()``; returns the first relay's PID.

    Send SIGINT to that PID to interrupt the kernel; its exit status is the kernel's
    (70 when the sandbox could not be set up). Kill the whole tree with :func:`kill_tree`.
    """
    def pid1() -> int:
        if sandboxed:
            _mount_proc()

        def locked_kernel() -> int:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if sandboxed:
                _drop_capabilities()
            return kernel()
        return _relay(_forked(locked_kernel))

    def outer() -> int:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the relay knows its child
        if sandboxed:
            _enter_mount_namespace(workdir)
            _check(_libc().unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
        return _relay(_forked(pid1))

    if not hasattr(os, "fork"):
        raise RuntimeError("the grader forks its kernels: run it on Linux or macOS (on Windows, in WSL); "
                           "the notebook's own cells run the same visible tests")
    sys.stdout.flush()
    sys.stderr.flush()
    return _forked(outer)


def wait(pid: int) -> int | None:
    """Reap ``pid`` (a child started by :func:`start`); its exit code (None: :func:`kill_tree` reaped it)."""
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return None


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


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Can this machine lock a kernel down? (probed once: a write outside the scratch folder must fail)."""
    if sys.platform != "linux" or not shutil.which("mount"):
        return False
    with tempfile.TemporaryDirectory(prefix="autograde-probe-") as work:
        outside = Path(tempfile.gettempdir()) / f"autograde-probe-{os.getpid()}"

        def probe() -> int:
            try:
                open(outside, "w").close()
            except OSError as err:
                if err.errno != errno.EROFS:
                    return 2
                caps = [ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("CapEff")]
                return 0 if caps and int(caps[0].split()[1], 16) == 0 and os.getpid() == 2 else 3
            return 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(2)
        os.dup2(devnull, 2)  # an unprivileged machine fails loudly in the first relay: not worth showing
        try:
            pid = start(Path(work), True, probe)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
        ok = wait(pid) == 0
        escaped = outside.exists()
        outside.unlink(missing_ok=True)
        return ok and not escaped


def mode() -> str:
    return "namespaces (read-only file systems, own PID space)" if namespaces_available() else "process"


def limit_memory(limit_bytes: int = DEFAULT_MEMORY_LIMIT) -> None:
    """Cap this process's (and its future children's) data segment at ``limit_bytes``."""
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
