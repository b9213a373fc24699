"""The zygote: one process per batch that forks a fresh kernel for each submission.

    python -m autograder.kernel.zygote --listen-fd N --preload numpy,torch [--isolate]

It imports the notebook's setup modules once (numpy, torch, IPython: seconds of CPU
that a fresh interpreter would spend again for every student), then waits on a
listening Unix socket. Each connection is one submission: the zygote forks, and the
child builds the submission's own sandbox before any student code exists:

- with ``--isolate`` (the zygote itself runs inside bubblewrap, see
  :mod:`autograder.trusted.sandbox`): new user, mount, PID, network, IPC and UTS namespaces;
  a size-limited tmpfs that holds the scratch folder, ``/tmp`` and ``/dev/shm`` (see
  :func:`isolate`), mounted over the sandbox's read-only ``/tmp`` and ``/dev``; an empty,
  read-only ``/proc`` (no other process is visible) and ``/dev/pts`` (no terminal that
  two kernels could share); then an init process (PID 1 of the new PID
  namespace, which kills everything in it when it dies) and the kernel under it, with
  no capabilities, ``no_new_privs``, the memory and process limits, and not dumpable;
- without it (``--no-sandbox``, or a machine without namespaces): the same two
  processes in their own session, with the memory limit.

The init process first writes one byte on the connection (the grader reads its PID
from the socket's credentials, to interrupt or kill the kernel) and waits for one byte
back (by then the grader has put it into a process-count cgroup where it can), then
forks the kernel, which serves the connection (:func:`autograder.kernel.server.serve`).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import gc
import importlib
import json
import os
import resource
import signal
import socket
import sys
import traceback
from collections.abc import Sequence

from ..defaults import MEMORY_LIMIT, SCRATCH_BYTES

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CAPABILITY_VERSION_3 = 0x20080522
SCRATCH = "/tmp/work"
EXIT_SETUP_FAILED = 70


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc().mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges() -> None:
    """No capability (none to regain through exec), no setuid gain, not dumpable (no ptrace)."""
    libc = _libc()
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    if ctypes.get_errno() not in (errno.EINVAL, errno.EPERM):
        _check(-1, "prctl(PR_CAPBSET_DROP)")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def isolate(scratch_bytes: int, keep: Sequence[str] = ()) -> None:
    """Give this (single-threaded, just forked) process its own namespaces and private, bounded
    temporary storage. Children it forks next are in the new PID namespace.

    One tmpfs of ``scratch_bytes`` is mounted on ``/dev/shm``; its folder ``tmp`` becomes ``/tmp``
    (the scratch folder is ``/tmp/work``). The paths of ``keep`` that lie under ``/tmp`` (a course
    cloned there: its virtual environment and packages) are bound back, read-only, into the new
    ``/tmp``; the rest of the zygote's ``/tmp`` is out of reach. Everything else the process
    sees is read-only (:func:`autograder.trusted.sandbox.bwrap_command`); ``/proc`` and ``/dev/pts``
    become empty read-only folders."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc().unshare(flags), "unshare")
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"{gid} {gid} 1")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_bytes},mode=0700")
    os.mkdir("/dev/shm/tmp", 0o700)
    os.mkdir("/dev/shm/old", 0o700)
    _mount("/tmp", "/dev/shm/old", None, MS_BIND | MS_REC)
    _mount("/dev/shm/tmp", "/tmp", None, MS_BIND)
    for path in keep:
        rel = os.path.relpath(path, "/tmp")
        if rel.startswith("..") or rel == ".":
            continue
        os.makedirs(path, exist_ok=True)
        _mount(os.path.join("/dev/shm/old", rel), path, None, MS_BIND | MS_REC)  # read-only, as bwrap bound it
    _check(_libc().umount2(b"/dev/shm/old", MNT_DETACH), "umount the zygote's /tmp")
    os.rmdir("/dev/shm/old")
    os.mkdir(SCRATCH, 0o700)
    empty = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    _mount("tmpfs", "/proc", "tmpfs", empty, "size=4k,mode=0555")
    if os.path.isdir("/dev/pts"):  # the zygote's devpts is shared by its kernels: a channel between them
        _mount("tmpfs", "/dev/pts", "tmpfs", empty, "size=4k,mode=0555")


def _relay(child: int) -> int:
    """Pass SIGINT on to ``child``; reap everything; return ``child``'s exit code."""

    def forward(signum, frame):
        try:
            os.kill(child, signal.SIGINT)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return EXIT_SETUP_FAILED
        if pid == child:
            return os.waitstatus_to_exitcode(status) % 256


def _forked(body) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = EXIT_SETUP_FAILED
    try:
        code = body()
    except BaseException:  # noqa: BLE001 - a forked child never unwinds into its parent's code
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _kernel(conn: socket.socket, spec: dict, isolated: bool) -> int:
    from . import server

    workdir = SCRATCH if isolated else spec["workdir"]
    os.makedirs(workdir, exist_ok=True)
    log = os.open(os.path.join(workdir, "kernel-output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    keep = conn.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)
    os.chdir(workdir)
    temp = "/tmp" if isolated else workdir
    os.environ.update(
        HOME=workdir,
        TMPDIR=temp,
        MPLCONFIGDIR=os.path.join(workdir, ".mpl"),
        IPYTHONDIR=os.path.join(workdir, ".ipython"),
        MPLBACKEND="Agg",
    )
    import tempfile

    tempfile.tempdir = None
    memory = int(spec.get("memory", MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if spec.get("nproc"):
        resource.setrlimit(resource.RLIMIT_NPROC, (int(spec["nproc"]), int(spec["nproc"])))
    if isolated:
        drop_privileges()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return server.serve(conn, spec.get("threads"))


def _submission(conn: socket.socket, listener: socket.socket, isolated: bool) -> int:
    """The forked child for one connection: read the spec, build the sandbox, start init and kernel."""
    listener.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setsid()
    raw = b""
    while not raw.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk or len(raw) > 1 << 16:
            return EXIT_SETUP_FAILED
        raw += chunk
    spec = json.loads(raw)
    if isolated:
        isolate(int(spec.get("scratch", SCRATCH_BYTES)), [str(p) for p in spec.get("keep", [])])

    def init() -> int:
        os.setpgid(0, 0)  # the kernel and what it starts share this group (killed together)
        conn.send(b"P")  # the grader reads this process's PID from the socket credentials
        if conn.recv(1) != b"G":
            return EXIT_SETUP_FAILED
        return _relay(_forked(lambda: _kernel(conn, spec, isolated)))

    child = _forked(init)
    conn.close()
    os.waitpid(child, 0)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--preload", default="")
    parser.add_argument("--isolate", action="store_true")
    args = parser.parse_args(argv)
    for name in ["IPython.core.interactiveshell", "autograder.kernel.server", "coursekit.harness"] + [
        m for m in args.preload.split(",") if m
    ]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module the kernel cannot import fails there, visibly
            pass
    # The preloaded modules' objects live as long as every kernel: out of the collector's sight,
    # so that the collection after each cell (autograder.kernel.server) scans only the student's objects
    # (100 ms less per cell with torch loaded), and forked kernels share their pages.
    gc.collect()
    gc.freeze()
    listener = socket.socket(fileno=args.listen_fd)
    signal.signal(signal.SIGCHLD, lambda *a: _reap())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("zygote ready", flush=True)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        except OSError:
            return 0
        _forked(lambda: _submission(conn, listener, args.isolate))  # noqa: B023 - runs in the child, at once
        conn.close()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    sys.exit(main())
