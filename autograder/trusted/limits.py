"""Per-kernel resource limits: one cgroup per submission, or a watchdog where there is none.

Where the grader may write cgroups, each kernel gets its own group (:class:`KernelGroup`)
with

- ``memory``: every process of the kernel together, shared memory included (tmpfs and
  ``/dev/shm`` pages, ``memfd``, ``MAP_SHARED``), swap too where the controller counts it;
  past the limit the kernel is stopped (all of it: :class:`Watchdog`);
- ``cpu``: as many cores as the threads the kernel was given (CFS quota = threads x period,
  cgroup v2 ``cpu.max``), so a neighbour cannot take more than its share;
- ``pids``: at most :data:`MAX_PROCESSES` processes and threads.

Both layouts are supported (:func:`discover`): cgroup v1 (one hierarchy per controller, as
root) and cgroup v2 (the unified tree: the grader's own cgroup when it is writable, e.g.
a systemd-delegated scope, ``systemd-run --user --scope -p Delegate=yes ...``). Groups are
made under the grader's own cgroup, never elsewhere.

Without writable cgroups the kernel keeps ``RLIMIT_NPROC`` in its own user namespace
(:mod:`autograder.kernel.zygote`) and a :class:`Watchdog` thread of the trusted side sums the
memory of the kernel's whole process tree (anonymous and shared pages, memfds held open,
its private tmpfs) and kills the kernel past the limit. It cannot bound the CPU share.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..defaults import MAX_PROCESSES

CPU_PERIOD_US = 100_000  # CFS period for the CPU quota
POLL_SECONDS = 0.1  # how often the watchdog looks at a kernel
PROC = Path("/proc")  # (tests point these at a fake tree)
CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class Cgroups:
    """Where kernels' groups go: ``version`` 1 or 2, and controller -> parent folder."""

    version: int
    parents: tuple[tuple[str, str], ...]

    def parent(self, controller: str) -> Path | None:
        return next((Path(p) for c, p in self.parents if c == controller), None)

    def controllers(self) -> list[str]:
        return [c for c, _ in self.parents]


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root in the hierarchy, fstype, super options) of each cgroup mount."""
    found = []
    for line in (PROC / "self" / "mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append((fields[4].replace("\\040", " "), fields[3], tail[0], set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """controller (``""`` for the unified tree) -> this process's cgroup path, from /proc/self/cgroup."""
    own = {}
    for line in (PROC / "self" / "cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path
    return own


def _inside(mount: str, root: str, path: str) -> Path | None:
    rel = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
    return None if rel.startswith("..") else Path(mount) / rel if rel not in ("", ".") else Path(mount)


def _probe(parent: Path) -> bool:
    """Whether a group can be made (and removed) under ``parent``."""
    probe = parent / f"autograder-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        probe.rmdir()
    except OSError:
        pass
    return True


def discover() -> Cgroups | None:
    """The cgroups this process may make kernel groups in, or None (see the module docstring).

    For cgroup v2 this also moves the grader's own processes into a leaf group, so that its
    cgroup may enable controllers for the kernels' groups (a cgroup v2 rule); where other
    processes share it, v2 is not used."""
    try:
        mounts, own = _mounts(), _own_paths()
    except (OSError, ValueError):
        return None
    v1 = []
    for controller in CONTROLLERS:
        for mount, root, fstype, options in mounts:
            if fstype == "cgroup" and controller in options and controller in own:
                parent = _inside(mount, root, own[controller])
                if parent is not None and _probe(parent):
                    v1.append((controller, str(parent)))
                break
    if "memory" in dict(v1):
        return Cgroups(1, tuple(v1))
    for mount, root, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            parent = _inside(mount, root, own[""])
            if parent is not None:
                found = _prepare_v2(parent, is_root=own[""] == "/")
                if found:
                    return found
    return Cgroups(1, tuple(v1)) if v1 else None


def _prepare_v2(parent: Path, is_root: bool = False) -> Cgroups | None:
    """``parent`` (the grader's own cgroup) made ready for kernels' groups: controllers enabled for
    its children, after moving the grader's processes into a leaf (not needed in the root cgroup)."""
    try:
        available = (parent / "cgroup.controllers").read_text().split()
    except OSError:
        return None
    wanted = [c for c in CONTROLLERS if c in available]
    control = parent / "cgroup.subtree_control"
    if "memory" not in wanted or not os.access(control, os.W_OK):
        return None
    already = control.read_text().split()
    enabled = [c for c in wanted if c in already]
    if len(enabled) < len(wanted):
        if not is_root and not _move_own_processes(parent):
            return None
        # one at a time: a controller that cannot be enabled (cpu, with realtime tasks) is left out
        enabled = [c for c in wanted if c in already or _write(control, f"+{c}")]
    if "memory" not in enabled:
        return None
    return Cgroups(2, tuple((c, str(parent)) for c in enabled)) if _probe(parent) else None


def _move_own_processes(parent: Path) -> bool:
    """Move this process and its descendants from ``parent`` into ``parent/autograder-main``;
    False when other processes live there too (their cgroup is not ours to rearrange)."""
    import psutil

    ours = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    try:
        procs = {int(p) for p in (parent / "cgroup.procs").read_text().split()}
    except OSError:
        return False
    if not procs <= ours:
        return False
    leaf = parent / "autograder-main"
    try:
        leaf.mkdir(exist_ok=True)
        for pid in procs:
            try:
                (leaf / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                pass
    except OSError:
        return False
    return True


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


class KernelGroup:
    """One kernel's cgroup (one folder per v1 hierarchy, one folder in v2)."""

    def __init__(self, cgroups: Cgroups, name: str, memory: int, cpus: float | None, processes: int):
        self.cgroups, self.folders, self.applied = cgroups, {}, set()
        made: set[Path] = set()
        for controller in cgroups.controllers():
            parent = cgroups.parent(controller)
            assert parent is not None  # controllers() are those with a parent
            folder = parent / name
            if folder not in made:
                try:
                    folder.mkdir()
                except OSError:
                    continue
                made.add(folder)
            self.folders[controller] = folder
        for controller, folder in self.folders.items():
            if self._apply(controller, folder, memory, cpus, processes):
                self.applied.add(controller)

    def _apply(self, controller: str, folder: Path, memory: int, cpus: float | None, processes: int) -> bool:
        v2 = self.cgroups.version == 2
        if controller == "memory":
            if v2:
                _write(folder / "memory.swap.max", "0")
                _write(folder / "memory.oom.group", "1")
                return _write(folder / "memory.max", str(memory))
            ok = _write(folder / "memory.limit_in_bytes", str(memory))
            _write(folder / "memory.memsw.limit_in_bytes", str(memory))  # memory + swap: no swap beyond it
            return ok
        if controller == "cpu":
            if cpus is None:
                return False
            quota = max(1000, int(cpus * CPU_PERIOD_US))
            if v2:
                return _write(folder / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return _write(folder / "cpu.cfs_period_us", str(CPU_PERIOD_US)) and _write(
                folder / "cpu.cfs_quota_us", str(quota)
            )
        if controller == "pids":
            return _write(folder / "pids.max", str(processes))
        return False

    def add(self, pid: int) -> bool:
        """Put ``pid`` (the kernel's init process, before it forks the kernel) into every folder."""
        ok = bool(self.folders)
        for folder in dict.fromkeys(self.folders.values()):
            ok = _write(folder / "cgroup.procs", str(pid)) and ok
        return ok

    def oom_kills(self) -> int:
        """How many processes the kernel's memory limit has killed so far."""
        folder = self.folders.get("memory")
        if folder is None:
            return 0
        name = "memory.events" if self.cgroups.version == 2 else "memory.oom_control"
        try:
            for line in (folder / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def close(self) -> None:
        """Kill what is left in the group and remove its folders."""
        for folder in dict.fromkeys(self.folders.values()):
            remove_group(folder)
        self.folders = {}


def remove_group(folder: Path) -> None:
    for _ in range(100):
        try:
            for pid in (folder / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def sweep(cgroups: Cgroups | None, prefix: str) -> None:
    """Remove groups named ``prefix*`` left by grading processes that were killed."""
    if cgroups is None:
        return
    for parent in {p for c in cgroups.controllers() if (p := cgroups.parent(c)) is not None}:
        for folder in parent.glob(prefix + "*"):
            remove_group(folder)


# --------------------------------------------------------------------------- the watchdog


def _rollup(pid: int) -> int:
    """Bytes of anonymous and shared memory (proportional set size) and swap of one process."""
    total = 0
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Pss_Anon", "Pss_Shmem", "SwapPss"):
                total += int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return total


def _held_files(pid: int, seen: set) -> int:
    """Bytes of unlinked files (memfds, deleted tmpfs files) that ``pid`` holds open."""
    import stat

    total = 0
    try:
        fds = os.listdir(PROC / str(pid) / "fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            st = os.stat(PROC / str(pid) / "fd" / fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 0 and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def tree_memory(init_pid: int, private_tmpfs: bool) -> int:
    """Memory of ``init_pid`` and every process under it: anonymous and shared pages
    (proportional: pages shared with the zygote count for their share), unlinked files
    held open (memfd), and the kernel's private tmpfs (``private_tmpfs``)."""
    import psutil

    try:
        pids = [init_pid] + [p.pid for p in psutil.Process(init_pid).children(recursive=True)]
    except psutil.Error:
        return 0
    seen: set = set()
    total = sum(_rollup(pid) + _held_files(pid, seen) for pid in pids)
    if private_tmpfs:
        try:
            st = os.statvfs(PROC / str(init_pid) / "root" / "dev" / "shm")
            total += (st.f_blocks - st.f_bfree) * st.f_frsize
        except OSError:
            pass
    return total


class Watchdog(threading.Thread):
    """Stops a kernel that goes past its memory limit: in a cgroup, the moment the limit has
    killed one of its processes (the rest follows); without one, when :func:`tree_memory`
    exceeds it. :attr:`tripped` then says why, for the report."""

    def __init__(self, kernel, limit: int, group: KernelGroup | None, private_tmpfs: bool):
        super().__init__(daemon=True, name="kernel-watchdog")
        self.kernel, self.limit, self.group, self.private_tmpfs = kernel, limit, group, private_tmpfs
        self.done, self.tripped = threading.Event(), ""

    def over(self) -> bool:
        if self.group is not None and "memory" in self.group.applied:
            return self.group.oom_kills() > 0
        return tree_memory(self.kernel.init_pid, self.private_tmpfs) > self.limit

    def trip(self) -> None:
        self.tripped = (
            f"the kernel went past its memory limit ({format_bytes(self.limit)} for all "
            "its processes together, shared memory included) and was stopped"
        )

    def check(self) -> None:
        """Look now, as the thread does every POLL_SECONDS: the grader calls it after each cell of
        the kernel's, so a cell that ends past the limit is stopped before its tests run, however
        quickly it ended."""
        if not self.tripped and self.over():
            self.trip()
            self.kernel.kill()

    def run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            self.check()
            if self.tripped:
                return

    def stop(self) -> None:
        """Stop watching; a group's limit that killed a process since the last look still counts."""
        self.done.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        if not self.tripped and self.group is not None and "memory" in self.group.applied and self.over():
            self.trip()


def format_bytes(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 else f"{n / (1 << 20):g} MiB"


def describe(cgroups: Cgroups | None, memory: int, cpus: float | None) -> str:
    """Which limits kernels get, in words (the first line of report.txt uses it)."""
    have = set(cgroups.controllers()) if cgroups else set()
    where = f"cgroup v{cgroups.version}" if cgroups else ""
    parts = [
        f"memory {format_bytes(memory)} for all of a kernel's processes, shared memory included ("
        + (f"{where}" if "memory" in have else "a watchdog summing its process tree: no cgroup")
        + ")"
    ]
    if "cpu" in have:
        parts.append(
            f"CPU {cpus:g} core(s) per kernel ({where})"
            if cpus
            else f"CPU: a group per kernel, no quota (no thread count given) ({where})"
        )
    else:
        parts.append("CPU share NOT bounded (no writable cpu cgroup)")
    parts.append(
        f"{MAX_PROCESSES} processes ("
        + (where if "pids" in have else "RLIMIT_NPROC in the kernel's user namespace")
        + ")"
    )
    return ", ".join(parts)
