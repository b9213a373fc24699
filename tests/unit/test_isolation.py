"""Kernels of one batch share nothing they could write, and each is held to its own limits.

Real sandboxed zygotes (bubblewrap) and kernels, as grading starts them: kernel A tries to
write everywhere, kernel B looks for what A left; hogs that spread memory over forked
children or shared memory are stopped (with a cgroup, and with the watchdog that replaces
it where cgroups are not writable) while a neighbour goes on; each kernel's cgroup carries
the memory, CPU and process limits; the cgroup v2 set-up is checked on a model of the tree.
"""

import json
import os
from pathlib import Path

import pytest

from autograder.defaults import MAX_PROCESSES
from autograder.model import Cell
from autograder.trusted import limits
from autograder.trusted.runner import Runner
from autograder.trusted.sandbox import SandboxUnavailable, Zygote

MARK = f"planted-by-kernel-a-{os.getpid()}"

WALK = """
import errno, json, os
created, refused, reasons = [], {}, {}
def _try(path, keep=False):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        name = errno.errorcode.get(err.errno, str(err.errno))
        reasons[name] = reasons.get(name, 0) + 1
        if keep:
            refused[path] = name
        if name == "EEXIST":  # the same folder seen twice (/tmp is a folder of the /dev/shm tmpfs)
            created.append(path)
        return
    os.write(fd, b"import os  # a classmate's code\\n")
    os.close(fd)
    created.append(path)
for _root, _dirs, _files in os.walk("/"):
    _dirs[:] = [d for d in _dirs if os.path.join(_root, d) not in ("/proc",)]
    _try(os.path.join(_root, "MARK"), keep=_root in ("/", "/etc", "/dev", "/dev/pts"))
for _path in ("/etc/ld.so.preload", "/MARK.py", "/dev/MARK", "/usr/lib/MARK.so", "/dev/pts/MARK", "/proc/MARK"):
    _try(_path, keep=True)
for _path in ("/dev/null", "/dev/zero"):
    with open(_path, "wb") as _fh:
        _fh.write(b"x")  # device nodes stay usable
print(json.dumps({"created": created, "refused": refused, "reasons": reasons}))
""".replace("MARK", MARK)

SEARCH = """
import json, os
found = []
for _root, _dirs, _files in os.walk("/"):
    _dirs[:] = [d for d in _dirs if os.path.join(_root, d) != "/proc"]
    found += [os.path.join(_root, f) for f in _files + _dirs if "MARK" in f]
print(json.dumps({"found": found, "preload": os.path.exists("/etc/ld.so.preload")}))
""".replace("MARK", MARK)


def cells(*sources):
    return [Cell(i, "solution", src, f"c{i}") for i, src in enumerate(sources)]


def run(kernel, sources, timeout=60.0):
    """Run ``sources`` in ``kernel``: (outcomes in order, notes)."""
    runner = Runner(kernel, timeout, set(), set())
    try:
        outcomes, notes = runner.run(cells(*sources))
    finally:
        runner.close()
    return [outcomes[i] for i in range(len(sources))], notes


@pytest.fixture(scope="module")
def zygote():
    try:
        z = Zygote(sandboxed=True)
    except SandboxUnavailable as err:
        pytest.fail(f"the sandbox is needed here: {err}")
    yield z
    z.close()


def test_nothing_one_kernel_writes_is_visible_to_another(zygote):
    """A walks the whole tree and tries to create a file in every folder, plants
    /etc/ld.so.preload, /dev and / entries; only its private tmpfs takes them (EROFS or EACCES
    everywhere else). B, started while A is still alive, finds none of them."""
    a = zygote.connect()
    a_runner = Runner(a, 120.0, set(), set())
    try:
        outcomes, notes = a_runner.run(cells(WALK))
        assert notes == [] and outcomes[0].error is None, (notes, outcomes[0])
        seen = json.loads(outcomes[0].stdout)
        (b_outcome,), _ = run(zygote.connect(), [SEARCH], timeout=120.0)
    finally:
        a_runner.close()
    private = ("/tmp", "/dev/shm")
    outside = [p for p in seen["created"] if not p.startswith(tuple(d + "/" for d in private))]
    assert outside == [], f"kernel A wrote outside its private tmpfs: {outside}"
    assert any(p.startswith("/tmp/work/") for p in seen["created"])  # its scratch folder is writable
    for path in (
        "/etc/ld.so.preload",
        f"/{MARK}.py",
        f"/dev/{MARK}",
        f"/etc/{MARK}",
        f"/{MARK}",
        f"/dev/pts/{MARK}",
        f"/proc/{MARK}",
    ):
        assert seen["refused"].get(path) in ("EROFS", "EACCES"), (path, seen["refused"].get(path))
    assert set(seen["reasons"]) <= {"EROFS", "EACCES", "EEXIST"} and sum(seen["reasons"].values()) > 10_000, seen[
        "reasons"
    ]
    assert b_outcome.error is None, b_outcome
    assert json.loads(b_outcome.stdout) == {"found": [], "preload": False}


HOGS = {
    # each part stays under RLIMIT_DATA; together they pass the limit
    "forked_children": """
import os, time
_kids = []
for _ in range(4):
    _pid = os.fork()
    if _pid == 0:
        _hog = bytearray(b"x") * (SIZE // 4)
        time.sleep(30)
        os._exit(0)
    _kids.append(_pid)
time.sleep(4)
print("held", len(_kids))
""",
    "memfd": """
import os, time
_fd = os.memfd_create("hog")
for _ in range(SIZE // (8 << 20)):
    os.write(_fd, b"x" * (8 << 20))
time.sleep(4)
print("held")
""",
    "map_shared": """
import mmap, time
_m = mmap.mmap(-1, SIZE, flags=mmap.MAP_SHARED)
for _i in range(0, SIZE, 4096):
    _m[_i] = 1
time.sleep(4)
print("held")
""",
}
LIMIT = 384 << 20


@pytest.fixture(scope="module", params=["cgroup", "watchdog"])
def small_zygote(request):
    z = Zygote(sandboxed=True, memory=LIMIT, cgroups=request.param == "cgroup")
    if request.param == "cgroup":
        assert z.cgroups is not None and "memory" in z.cgroups.controllers(), "no writable memory cgroup here"
    yield z
    z.close()


@pytest.mark.parametrize("hog", sorted(HOGS))
def test_a_kernel_past_its_memory_limit_is_stopped_and_its_neighbour_goes_on(small_zygote, hog, tmp_path):
    """Memory held by forked children or shared memory (memfd, MAP_SHARED) escapes RLIMIT_DATA:
    the kernel's cgroup (or the watchdog) stops the whole kernel; a neighbour kernel of the
    same zygote finishes its work, and the report's note says why the hog stopped."""
    events = tmp_path / "events.txt"
    neighbour = small_zygote.connect()
    n_runner = Runner(neighbour, 60.0, set(), set())
    try:
        n_first, _ = n_runner.run(cells("total = sum(range(10))"))
        hog_kernel = small_zygote.address().with_events(str(events)).connect()
        outcomes, notes = run(hog_kernel, [HOGS[hog].replace("SIZE", str(2 * LIMIT)), "print('after')"])
        n_second, n_notes = n_runner.run([Cell(1, "solution", "print(total)", "c1")])
    finally:
        n_runner.close()
    assert "held" not in outcomes[0].stdout, f"the {hog} hog kept {2 * LIMIT >> 20} MiB"
    assert not outcomes[1].completed and any("kernel died" in n for n in notes), (outcomes, notes)
    assert "memory limit" in events.read_text()
    assert n_notes == [] and n_second[1].stdout == "45\n"


def test_a_cell_that_ends_past_the_memory_limit_is_stopped_before_the_next_cell(tmp_path, monkeypatch):
    """Without a cgroup the watchdog polls; a cell that passes the limit and ends between two looks
    must not slip through: the grader looks after every cell of the kernel's too. The poll is
    switched off here (an hour), so only that look can stop the kernel."""
    monkeypatch.setattr(limits, "POLL_SECONDS", 3600.0)
    events = tmp_path / "events.txt"
    z = Zygote(sandboxed=True, memory=LIMIT, cgroups=False)
    try:
        hog_kernel = z.address().with_events(str(events)).connect()
        quick_hog = HOGS["memfd"].replace("time.sleep(4)\n", "").replace("SIZE", str(2 * LIMIT))
        outcomes, notes = run(hog_kernel, [quick_hog, "print('after')"])
    finally:
        z.close()
    assert outcomes[0].completed and "held" in outcomes[0].stdout  # the cell itself ended in time
    assert not outcomes[1].completed and any("kernel died" in n for n in notes), (outcomes, notes)
    assert "memory limit" in events.read_text()


def test_each_kernel_has_its_own_cgroup_with_the_three_limits(tmp_path):
    """On this machine (root, cgroups writable) a kernel's init process and what it forks sit in
    a group of their own: memory (with swap) at the limit, CPU quota = threads x period, pids.max."""
    z = Zygote(sandboxed=True, memory=LIMIT)
    try:
        assert z.cgroups is not None, "cgroups are writable here (root): they must be used"
        kernel = z.connect(threads=1)
        try:
            group = kernel.group
            assert group is not None and group.applied == {"memory", "cpu", "pids"}
            for controller, folder in group.folders.items():
                assert str(kernel.init_pid) in (folder / "cgroup.procs").read_text().split(), controller
            memory, cpu, pids = (group.folders[c] for c in ("memory", "cpu", "pids"))
            if z.cgroups.version == 1:
                assert int((memory / "memory.limit_in_bytes").read_text()) == LIMIT
                quota = int((cpu / "cpu.cfs_quota_us").read_text())
                assert quota == int((cpu / "cpu.cfs_period_us").read_text())
            else:
                assert int((memory / "memory.max").read_text()) == LIMIT
                assert (cpu / "cpu.max").read_text().split() == ["100000", "100000"]
            assert int((pids / "pids.max").read_text()) == MAX_PROCESSES
            folders = list(group.folders.values())
        finally:
            kernel.close()
        assert not any(f.exists() for f in folders), "a kernel's cgroup outlived it"
        assert "cgroup v1" in z.describe() or "cgroup v2" in z.describe()
    finally:
        z.close()


def fake_tree(tmp_path: Path, procs: list[int]) -> Path:
    """A model of a systemd-delegated cgroup v2 subtree, seen through a fake /proc."""
    mount = tmp_path / "cgroup"
    own = mount / "user.slice" / "run-1.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    (own / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(f"30 20 0:26 / {mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    (proc / "self" / "cgroup").write_text("0::/user.slice/run-1.scope\n")
    return own


def test_cgroup_v2_uses_the_graders_own_delegated_cgroup(tmp_path, monkeypatch):
    """cgroup v2: the grader's own processes move into a leaf, its cgroup enables the three
    controllers for the kernels' groups, and a kernel group gets memory.max, no swap, group OOM,
    cpu.max = threads x period and pids.max. Where another process shares the grader's cgroup,
    v2 is left alone (no writable cgroups: the watchdog's turn)."""
    own = fake_tree(tmp_path, [os.getpid()])
    monkeypatch.setattr(limits, "PROC", tmp_path / "proc")
    written = []
    write = limits._write

    def recording(path, value):
        written.append((path.name, value))
        return write(path, value)

    monkeypatch.setattr(limits, "_write", recording)
    found = limits.discover()
    assert found == limits.Cgroups(2, tuple((c, str(own)) for c in ("memory", "cpu", "pids")))
    assert [v for name, v in written if name == "cgroup.subtree_control"] == ["+memory", "+cpu", "+pids"]
    assert (own / "autograder-main" / "cgroup.procs").read_text() == str(os.getpid())
    group = limits.KernelGroup(found, "autograder-k1", 1 << 30, 2, 256)
    folder = own / "autograder-k1"
    assert group.applied == {"memory", "cpu", "pids"} and set(group.folders.values()) == {folder}
    assert [
        (folder / f).read_text() for f in ("memory.max", "memory.swap.max", "memory.oom.group", "cpu.max", "pids.max")
    ] == [str(1 << 30), "0", "1", "200000 100000", "256"]
    assert group.add(4242) and (folder / "cgroup.procs").read_text() == "4242"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1

    other = fake_tree(tmp_path / "shared", [os.getpid(), 1])
    monkeypatch.setattr(limits, "PROC", tmp_path / "shared" / "proc")
    assert limits.discover() is None and (other / "cgroup.subtree_control").read_text() == "\n"


def test_without_cgroups_the_report_says_what_is_not_bounded():
    text = limits.describe(None, 4 << 30, 1)
    assert "watchdog" in text and "CPU share NOT bounded" in text and "RLIMIT_NPROC" in text
    text = limits.describe(limits.Cgroups(1, (("memory", "/m"), ("cpu", "/c"), ("pids", "/p"))), 4 << 30, 1)
    assert "cgroup v1" in text and "CPU 1 core(s)" in text and "NOT" not in text
