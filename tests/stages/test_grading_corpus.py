"""Stage e (continued): a class that breaks batch autograding, built from the real
release of homework 2, graded in one unattended batch.

Every case is a student's notebook: the released student version with the
instructor's solution code filled in (a perfect student), then damaged the way
real submissions are, or carrying a known cheat, or misbehaving at run time; or the
untouched student version (every part a stub) with an ATTACK on the grader appended
to the solution cell of ``make_sobel_conv`` (a part whose tests set no rule on the code:
the rules of coursekit.rules would fail any part whose cell holds the attack's ``exec``),
one per class of attack a student who reads this grader could try. An attack that worked
would turn its stub into points (``breach()`` then defines a correct ``make_sobel_conv``,
worth 2 points; the control case ``attack_control_breaches`` calls it unconditionally and
must score exactly that), so each attack's expected score is 0, and the test also checks
the machine for what it could have left behind.
Each case's failing parts are written down below and its expected score follows
(homework 2 was worth 12 points: corr1d 1, conv1d 1, corr2d 2, conv2d 2, toeplitz_1d 2,
sobel_edge_energy 2, make_sobel_conv 2; later parts add to it), asserted together with
what the report must say. Entries the
grader must not read (symbolic links, a FIFO, an oversized file) are graded 0 as
ungradable and named in the report; entries whose name is not a student id (a formula,
a newline, an ANSI escape, a comma) are not graded at all and appear, escaped, in the
report only. The batch runs with a 1 GiB memory limit per kernel, so that the memory
hogs stop early.

Two smaller batches follow: homework 4's released stub with the attacks that must hold
on any homework (plants on the file system, shared memory, a link to ``solutions/``,
invalid ids), and an honest student graded beside a CPU hog of 200 processes.
"""

import csv
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from autograder.batch import grade_folder
from autograder.model import source_notebook
from autograder.parts import is_solution_cell, is_test_cell, nbgrader_meta, read_parts
from autograder.trusted.sandbox import SandboxUnavailable, Zygote

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "hw2_convolution"
# The grading stage runs in two xdist workers (--dist loadgroup): the tests that read one graded class
# share a worker, which grades that class once.
IN_CLASS = pytest.mark.xdist_group("hw2_class")
IN_HW4_CLASS = pytest.mark.xdist_group("hw4_class")
CELL_TIMEOUT = 10.0  # 50 times the longest cell of hw2's solution; the looping attack costs a worker this long
MEMORY = 1 << 30  # per kernel in the corpus batches (4 GiB by default): the hogs stop at 1 GiB

WRONG_CORR1D = "def corr1d(x, w):\n    return np.zeros(len(x) - len(w) + 1)\n"
TARGET = "make_sobel_conv"  # where the attacks go, and what a breach would score (no rule on its code)
# a wrong layer (zero weights) that only tests whose helpers had been neutered would pass
WRONG_TARGET = (
    "def make_sobel_conv():\n    _conv = nn.Conv2d(1, 2, 3, bias=False)\n"
    "    torch.nn.init.zeros_(_conv.weight)\n    return _conv\n"
)
ALWAYS_EQUAL = (
    "class _Anything:\n    def __eq__(self, other):\n        return True\n\n"
    "    def __ne__(self, other):\n        return False\n\n"
    "def corr1d(x, w):\n    return _Anything()\n"
)

# case -> (failing parts, words the report must contain for this student); its expected score is the
# homework's points less those of the failing parts (see expected_score): 0 for "all", as for every attack
# the parts whose test checks a rule on the code (all but make_sobel_conv and the PyTorch gradients)
RULED_PARTS = {
    f"{part}_tests"
    for part in ("corr1d", "conv1d", "corr2d", "conv2d", "toeplitz_1d", "sobel_edge_energy", "corr1d_backward")
}
EXPECTED = {
    "perfect": (set(), []),
    "stripped_metadata": (set(), ["lost its nbgrader metadata"]),
    "colab_round_trip": (set(), ["matched by its content"]),
    "solution_as_markdown": (set(), ["markdown"]),
    "deleted_test_cells": (set(), []),
    "edited_test_cell": ({"corr1d_tests"}, []),
    "added_cells": (set(), []),
    "reordered_cells": (set(), []),
    "deleted_solution_cell": ({"conv2d_tests"}, ["not found"]),
    "cheat_always_equal": ({"corr1d_tests"}, ["MANUAL REVIEW", "__eq__"]),
    "cheat_rebinds_helper": ({"corr1d_tests"}, ["MANUAL REVIEW", "check_close"]),
    "cheat_patches_numpy": ({"corr1d_tests"}, ["MANUAL REVIEW", "np.allclose"]),
    # a part's rule (loops only) dodged by code that works when it runs (checked: each scored its part's
    # points before the rule read the whole notebook); the rule fails that part, saying why (RULE_DODGES).
    # A module the notebook wrote and imported could rebind anything: every part with a rule fails.
    "cheat_rule_written_module": (RULED_PARTS, []),
    "cheat_rule_import_elsewhere": ({"conv2d_tests"}, []),
    "infinite_loop": ({"toeplitz_1d_tests"}, ["time limit"]),
    "kernel_crash": ("from toeplitz_1d_tests", ["kernel died"]),  # every part from there on
    "kernel_exit": ("from toeplitz_1d_tests", ["kernel died"]),
    "sys_exit": ({"make_sobel_conv_tests"}, []),
    "memory_bomb": ({"toeplitz_1d_tests"}, []),
    "deletes_files": (set(), []),
    "changes_directory": (set(), []),
    "duplicate": (set(), ["duplicate submission"]),
    "not_a_notebook": ("all", ["not a readable notebook"]),
    "corrupt_json": ("all", ["not a readable notebook"]),
    # attacks on the grader, appended to the untouched stubs (see ATTACKS): 0 points each
    **{
        f"attack_{name}": ("all", [])
        for name in (
            "forges_replies",
            "replaces_the_shell",
            "reads_solutions",
            "mutates_helper_in_place",
            "patches_captured_internals",
            "reads_hidden_tests_from_memory",
            "connects_to_loopback",
            "writes_dev_shm_and_tmp",
            "fills_scratch",
            "fork_bomb",
            "reads_other_submissions",
            "fs_plants_code_for_a_classmate",
            "hogs_memory_in_children",
            "hogs_shared_memory",
        )
    },
    # graded after the plant (names in order), with a few seconds to find it: 0 unless it loaded the plant
    "attack_fs_then_loads_planted_code": ("all", []),
    # the control: breach() called unconditionally scores exactly the target part (the attacks' 0 is real)
    "attack_control_breaches": ("all but make_sobel_conv_tests", []),
    # entries the grader does not read: ungradable, named in the report
    "link_to_outside": ("all", ["link_to_outside.ipynb is a symbolic link: not followed"]),
    "link_to_solutions": ("all", ["link_to_solutions.ipynb is a symbolic link: not followed"]),
    "link_inside_folder": ("all", ["link_inside_folder/hw2_convolution.ipynb is a symbolic link"]),
    "link_as_path_component": ("all", ["link_as_path_component/hw2_convolution is a symbolic link"]),
    "fifo": ("all", ["fifo.ipynb is a FIFO (named pipe), not a regular file: not read"]),
    "oversized": ("all", ["oversized.ipynb is larger than 20971520 bytes"]),
}
# each dodge of a rule: the part it dodges, what that part's failure message must name, code put before
# some cells' own (grade_id -> code), and the part's new code
RULE_DODGES = {
    "cheat_rule_written_module": (
        "corr1d",
        "a module that is not installed",
        {
            "corr1d": "import sys as _sys\n"
            "open('/tmp/corrhelp.py', 'w').write('from numpy import correlate as fast\\n')\n"
            "_sys.path.insert(0, '/tmp')\nfrom corrhelp import fast\n",
        },
        "def corr1d(x, w):\n    return fast(np.asarray(x, float), np.asarray(w, float), 'valid')\n",
    ),
    "cheat_rule_import_elsewhere": (  # numpy imported again beside corr1d, under a name conv2d uses
        "conv2d",
        "numpy.lib.stride_tricks.sliding_window_view (cell 'conv2d'",
        {"corr1d": "import numpy as _n2\n"},
        "def conv2d(image, kernel):\n"
        "    image, kernel = np.asarray(image, float), np.asarray(kernel, float)[::-1, ::-1]\n"
        "    windows = _n2.lib.stride_tricks.sliding_window_view(image, kernel.shape)\n"
        "    return np.einsum('ijkl,kl->ij', windows, kernel)\n",
    ),
}
# entries whose name is no student id (each holds a perfect notebook): not graded, escaped in the report
REJECTED = {
    '=HYPERLINK("evil.example","x")': '=HYPERLINK("evil.example","x")',
    "forged\n  perfect [graded] 12": "forged\\n  perfect [graded] 12",
    "\x1b[8mhidden\x1b[0m": "\\x1b[8mhidden\\x1b[0m",
    "smith, john": "smith, john",
    "+cmd|calc": "+cmd|calc",
}
UNGRADABLE = {
    "not_a_notebook",
    "corrupt_json",
    "link_to_outside",
    "link_to_solutions",
    "link_inside_folder",
    "link_as_path_component",
    "fifo",
    "oversized",
}


def _sandbox_works() -> bool:
    try:
        Zygote(sandboxed=True).close()
        return True
    except SandboxUnavailable:
        return False


SANDBOXED = _sandbox_works()
CASES = EXPECTED
# grade_id -> points of the automatically graded parts, in notebook order (written answers await a person)
AUTO_POINTS = {
    p.grade_id: p.points for p in read_parts(nbformat.read(source_notebook(ASSIGNMENT), as_version=4)) if not p.manual
}
FULL = sum(AUTO_POINTS.values())  # 12 points: corr1d 1, conv1d 1, corr2d 2, conv2d 2, toeplitz_1d 2, ...


def failing_parts(failing) -> set[str]:
    """``"all"``, ``"all but <grade_id>"``, ``"from <grade_id>"`` (that part and every later one), or a
    set of grade_ids."""
    if not isinstance(failing, str):
        return set(failing)
    if failing == "all":
        return set(AUTO_POINTS)
    if failing.startswith("all but "):
        return set(AUTO_POINTS) - {failing.split()[-1]}
    ids = list(AUTO_POINTS)
    return set(ids[ids.index(failing.split()[1]) :])


def expected_score(failing: set[str]) -> float:
    return FULL - sum(AUTO_POINTS[g] for g in failing)


MARKER = f"autograder-attack-{os.getpid()}"

# Each attack runs after the stub's own definitions; ``breach()`` marks success by defining a
# correct make_sobel_conv (worth 2 points), so a working attack shows up as a score above 0.
ATTACKS = {
    "forges_replies": """
import os, json, struct
def _frame(header):
    head = json.dumps({**header, "v": {"ok": True}, "blobs": 0}).encode()
    return struct.pack("<Q", len(head)) + head
for _fd in range(3, 64):
    try:
        for _n in range(1, 400):
            os.write(_fd, _frame({"re": _n}))
    except OSError:
        pass
""",
    "replaces_the_shell": """
_ip = get_ipython()
_ip.run_cell = lambda *a, **k: None
_ip.run_code = lambda *a, **k: False
_ip.ex = _ip.ev = lambda *a, **k: None
import builtins
builtins.__import__ = lambda *a, **k: None
""",
    "reads_solutions": """
import os, glob, json
import coursekit
_root = os.path.dirname(os.path.dirname(coursekit.__file__))
for _path in glob.glob(os.path.join(_root, "solutions", "*", "*.ipynb")) + [os.path.join(_root, "solutions/hw2_convolution/hw2_convolution.ipynb")]:
    try:
        for _c in json.load(open(_path))["cells"]:
            if _c.get("metadata", {}).get("nbgrader", {}).get("solution"):
                exec("".join(_c["source"]), globals())
    except Exception:
        pass
""",  # noqa: E501 - an attack, as a student would write it
    "mutates_helper_in_place": """
import coursekit.checks as _c
_c.check_close.__code__ = (lambda *a, **k: 0.0).__code__
_c.check_shape.__code__ = (lambda v, s, n: v).__code__
_c.rel_error.__code__ = (lambda a, b: 0.0).__code__
import numpy as _np
_np.testing.assert_allclose.__code__ = (lambda *a, **k: None).__code__
WRONG_TARGET""",
    "patches_captured_internals": """
import coursekit.checks as _c
_c._abs = lambda x: 0 * x
_c._max = lambda *a, **k: 0.0
_c._isfinite = lambda x: True
WRONG_TARGET""",
    "reads_hidden_tests_from_memory": """
import gc, sys
def _found():
    needles = ("BEGIN HIDDEN TESTS", "default_rng(201)", "_check_1d")
    for _o in gc.get_objects():
        try:
            if isinstance(_o, str) and any(n in _o for n in needles):
                return True
            if isinstance(_o, dict):
                for _v in list(_o.values()):
                    if isinstance(_v, str) and any(n in _v for n in needles):
                        return True
        except Exception:
            pass
    return False
if _found():
    open("/dev/shm/MARKER-hidden", "w").write("leak")
    breach()
""",
    "connects_to_loopback": """
import socket
try:
    _s = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    _s.sendall(b"hello from a student's kernel")
    breach()
except OSError:
    pass
""",
    "writes_dev_shm_and_tmp": """
for _path in ("/dev/shm/MARKER-shm", "/tmp/MARKER-tmp"):
    try:
        open(_path, "w").write("left behind")
    except OSError:
        pass
""",
    "fills_scratch": """
_written = 0
try:
    with open("big.bin", "wb") as _fh:
        for _ in range(32):
            _fh.write(bytes(64 << 20))
            _written += 64 << 20
except OSError:
    pass
if _written >= (1 << 30):
    breach()
""",
    "fork_bomb": """
import os, time
_kids = 0
try:
    for _ in range(1500):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        _kids += 1
except OSError:
    pass
if _kids >= 1000:
    breach()
""",
    "reads_other_submissions": """
import os
try:
    os.listdir(SUBMISSIONS)
    breach()
except OSError:
    pass
""",
    # code planted where a later kernel of the batch would find it (the sandbox's root, /etc, /dev),
    # and an /etc/ld.so.preload that every later process would obey
    "fs_plants_code_for_a_classmate": """
_planted = 0
for _path in PLANTS:
    try:
        with open(_path, "w") as _fh:
            _fh.write(SOLUTION if not _path.endswith("preload") else "/nonexistent/libMARKER.so\\n")
        _planted += 1
    except OSError:
        pass
if _planted:
    breach()
""",
    "fs_then_loads_planted_code": """
import os, time
_found, _until = None, time.time() + 3
while _found is None and time.time() < _until:
    _found = next((p for p in PLANTS if os.path.exists(p) and not p.endswith("preload")), None)
    time.sleep(0.1)
if _found:
    exec(open(_found).read(), globals())   # a classmate's solution
if os.path.exists("/etc/ld.so.preload"):
    breach()
""",
    # 4 x 320 MiB in forked children: each under RLIMIT_DATA, together past the kernel's 1 GiB
    "hogs_memory_in_children": """
import os, time
_ends = []
for _ in range(4):
    _r, _w = os.pipe()
    if os.fork() == 0:
        _hog = bytearray(b"x") * (320 << 20)
        os.write(_w, b"1")
        time.sleep(60)
        os._exit(0)
    os.close(_w)
    _ends.append(_r)
if sum(len(os.read(_r, 1)) for _r in _ends) == 4:
    breach()
""",
    "hogs_shared_memory": """
import mmap
_m = mmap.mmap(-1, 1280 << 20, flags=mmap.MAP_SHARED)
for _i in range(0, len(_m), 4096):
    _m[_i] = 1
breach()
""",
}
ATTACKS["control_breaches"] = "breach()\n"
PLANTS = ["/solution_MARKER.py", "/etc/solution_MARKER.py", "/dev/solution_MARKER.py", "/etc/ld.so.preload"]


def solution_code(assignment: str, grade_id: str) -> str:
    source = nbformat.read(source_notebook(assignment), as_version=4)
    return next(c.source for c in source.cells if is_solution_cell(c) and nbgrader_meta(c)["grade_id"] == grade_id)


def attack_source(name: str, port: int, submissions: Path, attacks: dict = ATTACKS, solution: str | None = None) -> str:
    """The attack ``name``, after a ``breach()`` that defines a correct target part (``solution``,
    by default hw2's make_sobel_conv)."""
    solution = solution or solution_code(ASSIGNMENT, TARGET)
    body = (
        attacks[name]
        .replace("WRONG_TARGET", WRONG_TARGET)
        .replace("PLANTS", repr(PLANTS))
        .replace("SOLUTION", repr(solution))
        .replace("MARKER", MARKER)
        .replace("PORT", str(port))
        .replace("SUBMISSIONS", repr(str(submissions)))
    )
    return f"\ndef breach():\n    exec({solution!r}, globals())\n" + body


def report_block(report: str, student: str) -> str:
    """The lines report.txt gives one student (header and its notes)."""
    lines = report.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"  {student} ["):
            block = [line]
            for nxt in lines[i + 1 :]:
                if not nxt.startswith("    "):
                    break
                block.append(nxt)
            return "\n".join(block)
    return ""


def perfect_student():
    """The release notebook with the solution code in its solution cells."""
    source = nbformat.read(source_notebook(ASSIGNMENT), as_version=4)
    code = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if is_solution_cell(c)}
    (release,) = sorted((ROOT / "exercises" / ASSIGNMENT).glob("*.ipynb"))
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        if is_solution_cell(cell):
            cell.source = code[nbgrader_meta(cell)["grade_id"]]
    return nb


def cell_of(nb, grade_id):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def prepend(nb, grade_id, code):
    cell = cell_of(nb, grade_id)
    cell.source = code + cell.source
    return nb


def released_stub():
    (release,) = sorted((ROOT / "exercises" / ASSIGNMENT).glob("*.ipynb"))
    return nbformat.read(release, as_version=4)


def build_class(folder: Path, protected: list[Path], port: int = 0) -> None:
    def save(name, nb):
        nbformat.write(nb, folder / f"{name}.ipynb")

    save("perfect", perfect_student())

    nb = perfect_student()
    for c in nb.cells:
        c.metadata = {}
    save("stripped_metadata", nb)

    nb = perfect_student()  # Colab: metadata and cell ids gone, outputs cleared
    nb.cells = [
        nbformat.v4.new_code_cell(c.source) if c.cell_type == "code" else nbformat.v4.new_markdown_cell(c.source)
        for c in nb.cells
    ]
    for c in nb.cells:
        c.pop("id", None)
    nb.nbformat_minor = 4
    save("colab_round_trip", nb)

    nb = perfect_student()
    i = nb.cells.index(cell_of(nb, "corr2d"))
    nb.cells[i] = nbformat.v4.new_markdown_cell(nb.cells[i].source, metadata=nb.cells[i].metadata)
    save("solution_as_markdown", nb)

    nb = perfect_student()
    nb.cells = [c for c in nb.cells if not is_test_cell(c)]
    save("deleted_test_cells", nb)

    nb = perfect_student()
    cell_of(nb, "corr1d").source = WRONG_CORR1D
    cell_of(nb, "corr1d_tests").source = "print('all tests pass, promise')"
    save("edited_test_cell", nb)

    nb = perfect_student()
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise SystemExit('my scratch cell')"))
    nb.cells.append(nbformat.v4.new_code_cell("def corr2d(image, kernel):\n    return 0"))
    save("added_cells", nb)

    nb = perfect_student()
    nb.cells.reverse()
    save("reordered_cells", nb)

    nb = perfect_student()
    nb.cells.remove(cell_of(nb, "conv2d"))
    save("deleted_solution_cell", nb)

    nb = perfect_student()
    cell_of(nb, "corr1d").source = ALWAYS_EQUAL
    save("cheat_always_equal", nb)

    nb = perfect_student()
    cell_of(nb, "corr1d").source = WRONG_CORR1D + "check_close = lambda *args, **kwargs: 0.0\n"
    save("cheat_rebinds_helper", nb)

    nb = perfect_student()
    cell_of(nb, "corr1d").source = (
        WRONG_CORR1D + "np.allclose = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "import coursekit.checks\ncoursekit.checks.check_close = lambda *a, **k: 0.0\n"
    )
    save("cheat_patches_numpy", nb)

    for case, (part, _, before, code_of_part) in RULE_DODGES.items():
        nb = perfect_student()
        cell_of(nb, part).source = code_of_part
        for grade_id, code in before.items():
            prepend(nb, grade_id, code)
        save(case, nb)

    save("infinite_loop", prepend(perfect_student(), "toeplitz_1d", "while True:\n    pass\n"))
    save(
        "kernel_crash",
        prepend(perfect_student(), "toeplitz_1d", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
    )
    save("kernel_exit", prepend(perfect_student(), "toeplitz_1d", "import os\nos._exit(3)\n"))
    save("sys_exit", prepend(perfect_student(), "make_sobel_conv", "import sys\nsys.exit(0)\n"))
    save(
        "memory_bomb",
        prepend(
            perfect_student(),
            "toeplitz_1d",
            "def _bomb():\n    hog = []\n    while True:\n        hog.append(bytes(10**8))\n_bomb()\n",
        ),
    )
    targets = ", ".join(repr(str(p)) for p in protected)
    assert SANDBOXED, "the grading tests need the bubblewrap sandbox (make setup installs bubblewrap)"
    save(
        "deletes_files",
        prepend(
            perfect_student(),
            "corr1d",
            f"import os, shutil\nfor _p in [{targets}]:\n"
            "    shutil.rmtree(_p, ignore_errors=True)\n"
            "    try:\n        os.remove(_p)\n    except OSError:\n        pass\n",
        ),
    )
    for name in ATTACKS:
        nb = released_stub()
        cell = cell_of(nb, TARGET)
        cell.source = cell.source + attack_source(name, port, folder)
        save(f"attack_{name}", nb)
    for name in REJECTED:
        save(name, perfect_student())
    save("changes_directory", prepend(perfect_student(), "corr1d", "import os\nos.chdir('/')\n"))
    unreadable_entries(folder, ROOT / "solutions" / ASSIGNMENT, perfect_student())

    nbformat.write(perfect_student(), folder / "duplicate.ipynb")
    stub = (ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    (folder / "duplicate").mkdir()
    (folder / "duplicate" / f"{ASSIGNMENT}.ipynb").write_bytes(stub)
    os.utime(folder / "duplicate" / f"{ASSIGNMENT}.ipynb", (1, 1))  # the older upload

    (folder / "not_a_notebook.pdf").write_bytes(b"%PDF-1.4\n% an essay, not a notebook\n")
    (folder / "corrupt_json.ipynb").write_text(json.dumps(nbformat.v4.new_notebook())[:-20])


def unreadable_entries(folder: Path, solutions: Path, perfect) -> None:
    """Symbolic links (to a file outside, to solutions/, inside a student's folder, as a folder of the
    path), a FIFO and an oversized file: each would score if the grader read it."""
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    nbformat.write(perfect, outside / "perfect_copy.ipynb")
    (folder / "link_to_outside.ipynb").symlink_to(outside / "perfect_copy.ipynb")
    (folder / "link_to_solutions.ipynb").symlink_to(solutions / f"{solutions.name}.ipynb")
    (folder / "link_inside_folder").mkdir()
    (folder / "link_inside_folder" / f"{solutions.name}.ipynb").symlink_to(solutions / f"{solutions.name}.ipynb")
    (folder / "link_as_path_component").mkdir()
    (folder / "link_as_path_component" / solutions.name).symlink_to(solutions)
    os.mkfifo(folder / "fifo.ipynb")
    text = nbformat.writes(perfect)
    (folder / "oversized.ipynb").write_text(text[:-2] + " " * (21 << 20) + text[-2:])


class Listener:
    """A TCP server on the grading machine's 127.0.0.1 that counts connections (none may come)."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port, self.connections, self.stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def subreaper(on: bool) -> None:
    """Make this process adopt its orphaned descendants (Linux prctl PR_SET_CHILD_SUBREAPER)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    import psutil

    base = tmp_path_factory.mktemp("class")
    subs, out = base / "submissions", base / "graded"
    subs.mkdir()
    instructor_file = base / "instructor_notes.txt"
    instructor_file.write_text("do not delete")
    listener = Listener()
    build_class(subs, protected=[out, subs, instructor_file, base / "gradebook.db"], port=listener.port)
    # every process the batch starts stays our descendant: one that escapes its parent (a
    # double fork) is adopted by this process, the subreaper, and is listed below if it lives on
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    subreaper(True)
    start = time.perf_counter()
    try:
        code = grade_folder(
            ASSIGNMENT,
            subs,
            out,
            workers=2,
            cell_timeout=CELL_TIMEOUT,
            progress=False,
            db_url=f"sqlite:///{base / 'gradebook.db'}",
            memory=MEMORY,
        )
    finally:
        listener.close()
        subreaper(False)
    seconds = time.perf_counter() - start
    # the session's multiprocessing servers (started by the batch's pool, kept for the session)
    from multiprocessing import forkserver, resource_tracker

    servers = {
        getattr(forkserver._forkserver, "_forkserver_pid", None),
        getattr(resource_tracker._resource_tracker, "_pid", None),
    }
    survivors = [
        " ".join(p.cmdline()[:4])
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before | servers and p.status() != psutil.STATUS_ZOMBIE
    ]
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return dict(
        code=code,
        results=results,
        out=out,
        subs=subs,
        base=base,
        seconds=seconds,
        instructor_file=instructor_file,
        connections=listener.connections,
        survivors=survivors,
    )


@IN_CLASS
def test_the_corpus_is_the_one_written_down(graded_class):
    assert set(graded_class["results"]) == set(CASES)
    named = {g for failing, _ in CASES.values() if isinstance(failing, set) for g in failing}
    assert named <= set(AUTO_POINTS) and FULL >= 12


@IN_CLASS
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_gets_its_expected_score(graded_class, case):
    failing, report_words = CASES[case]
    r = graded_class["results"][case]
    failing = failing_parts(failing)
    assert r["score"] == expected_score(failing), (
        case,
        [(p["grade_id"], p["status"], p["message"][:120]) for p in r["parts"]],
        r["notes"],
    )
    failed = {p["grade_id"] for p in r["parts"] if p["status"] != "passed" and not p.get("manual")}
    assert failed == failing
    student_block = report_block((graded_class["out"] / "report.txt").read_text(), case)
    for words in report_words:
        assert words in student_block, f"report.txt does not say {words!r} for {case}"


@IN_CLASS
def test_a_dodged_rule_fails_on_the_rule_itself(graded_class):
    """Each dodge scores 0 for its part because the rule found it, not because its code broke."""
    for case, (grade_id, words, _, _) in RULE_DODGES.items():
        (part,) = [p for p in graded_class["results"][case]["parts"] if p["grade_id"] == f"{grade_id}_tests"]
        assert "must " in part["message"] and words in part["message"], (case, part)


@IN_CLASS
def test_known_cheats_are_flagged_for_review(graded_class):
    """The static scan is a flag for a person, never a defence: the classic cheats are flagged,
    honest work is not (attacks may or may not be: their scores above say they gained nothing)."""
    flagged = {case for case, r in graded_class["results"].items() if r.get("flags")}
    assert {"cheat_always_equal", "cheat_rebinds_helper", "cheat_patches_numpy"} <= flagged
    assert not flagged & {c for c in CASES if not c.startswith(("cheat_", "attack_"))}
    rows = {r["student"]: r for r in csv.DictReader(open(graded_class["out"] / "grades.csv"))}
    assert all(bool(rows[c]["review"]) == (c in flagged) for c in rows)


@IN_CLASS
def test_the_batch_finished_and_its_exit_code_names_the_unreadable_uploads(graded_class):
    assert graded_class["code"] == 1
    unreadable = {c for c, r in graded_class["results"].items() if r["status"] != "graded"}
    assert unreadable == UNGRADABLE


@IN_CLASS
def test_nothing_a_submission_did_touched_the_instructor_or_other_students(graded_class):
    assert SANDBOXED
    assert graded_class["instructor_file"].read_text() == "do not delete"
    assert (graded_class["subs"] / "perfect.ipynb").exists()
    assert (graded_class["base"] / "gradebook.db").exists()
    rows = list(csv.DictReader(open(graded_class["out"] / "grades.csv")))
    assert len(rows) == len(CASES)


@IN_CLASS
def test_grading_twice_gives_the_same_scores(graded_class, tmp_path):
    cases = ["perfect", "edited_test_cell", "cheat_rebinds_helper", "kernel_crash", "colab_round_trip"]
    subs = tmp_path / "subs"
    subs.mkdir()
    for case in cases:
        (subs / f"{case}.ipynb").write_bytes((graded_class["subs"] / f"{case}.ipynb").read_bytes())
    again = tmp_path / "again"
    grade_folder(ASSIGNMENT, subs, again, workers=2, cell_timeout=CELL_TIMEOUT, progress=False)
    for case in cases:
        first = graded_class["results"][case]
        second = json.loads((again / "results" / f"{case}.json").read_text())
        assert [p["points"] for p in second["parts"]] == [p["points"] for p in first["parts"]], case


@IN_CLASS
def test_reconciled_notebooks_restore_the_release(graded_class):
    """reconciled/<student>.ipynb: the release's cells, metadata, tests and order, the student's code."""
    (release_path,) = sorted((ROOT / "exercises" / ASSIGNMENT).glob("*.ipynb"))
    release = nbformat.read(release_path, as_version=4)
    perfect = perfect_student()
    want_ids = [nbgrader_meta(c).get("grade_id") for c in release.cells]
    want_code = {nbgrader_meta(c)["grade_id"]: c.source for c in perfect.cells if is_solution_cell(c)}
    for case in (
        "stripped_metadata",
        "colab_round_trip",
        "solution_as_markdown",
        "deleted_test_cells",
        "reordered_cells",
        "added_cells",
    ):
        nb = nbformat.read(graded_class["out"] / "reconciled" / f"{case}.ipynb", as_version=4)
        assert [nbgrader_meta(c).get("grade_id") for c in nb.cells[: len(release.cells)]] == want_ids, case
        got_code = {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if is_solution_cell(c)}
        assert got_code == want_code, case
        assert [c.source for c in nb.cells if is_test_cell(c)] == [c.source for c in release.cells if is_test_cell(c)]
    added = nbformat.read(graded_class["out"] / "reconciled" / "added_cells.ipynb", as_version=4)
    tail = [c.source for c in added.cells[len(release.cells) :]]
    assert tail[0].startswith("## Cells you added") and "raise SystemExit('my scratch cell')" in tail


@IN_CLASS
def test_attacks_left_nothing_behind_on_the_grading_machine(graded_class):
    """No connection reached the machine's loopback, no file landed in its /dev/shm or /tmp, no
    forked process outlived its kernel, and the report says how kernels were isolated first."""
    assert graded_class["connections"] == 0
    for leftover in (f"/dev/shm/{MARKER}-shm", f"/dev/shm/{MARKER}-hidden", f"/tmp/{MARKER}-tmp"):
        assert not os.path.exists(leftover), leftover
    assert graded_class["survivors"] == [], f"processes outlived the batch: {graded_class['survivors']}"
    first = (graded_class["out"] / "report.txt").read_text().splitlines()[0]
    assert first.startswith("Isolation: sandboxed kernels (bubblewrap"), first


@IN_CLASS
def test_entries_that_are_no_student_id_are_named_escaped_and_never_graded(graded_class):
    """A formula, a newline that would forge another student's line, an ANSI escape that would hide
    its own, a comma that would split a CSV row: none is graded, each is named (escaped) in the report."""
    report = (graded_class["out"] / "report.txt").read_text()
    for shown in REJECTED.values():
        assert f'  - entry "{shown}.ipynb": not a valid student id' in report, shown
    assert not any(name in json.dumps(r) for name in REJECTED for r in graded_class["results"].values())
    assert not list((graded_class["out"] / "feedback").glob("*[,\n\x1b=+]*"))


def allowed_report_line(line: str) -> bool:
    """Every line of report.txt starts with the grader's own words (or a graded student's id)."""
    return line.startswith(
        (
            "Isolation: sandboxed kernels (bubblewrap",
            "Assignment ",
            "Awaiting manual grading",
            "Not graded",
            "Needs attention:",
            '  - entry "',
            "    - ",
        )
    ) or any(line.startswith(f"  {case} [") for case in CASES)


@pytest.mark.parametrize(
    "batch", [pytest.param("graded_class", marks=IN_CLASS), pytest.param("hw4_class", marks=IN_HW4_CLASS)]
)
def test_no_output_can_be_forged(batch, request):
    """report.txt: every line the grader's, no control character, one header per student at most;
    grades.csv and nbgrader_export.csv: one row per graded student, no cell a spreadsheet would run."""
    graded = request.getfixturevalue(batch)
    out, cases = graded["out"], set(graded["results"])
    report = (out / "report.txt").read_text()
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", report)
    assert all(
        allowed_report_line(line) or line.startswith(tuple(f"  {c} [" for c in cases)) for line in report.splitlines()
    ), report
    headers = [line.split(" [")[0].strip() for line in report.splitlines() if re.match(r"  [A-Za-z0-9][^ ]* \[", line)]
    assert len(headers) == len(set(headers)) and set(headers) <= cases
    for name in ("grades.csv", "nbgrader_export.csv"):
        rows = list(csv.reader(open(out / name, newline="")))
        ids = [r[0 if name == "grades.csv" else 3] for r in rows[1:]]
        assert sorted(ids) == sorted(cases), name
        assert len({len(r) for r in rows}) == 1
        assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for r in rows for c in r), name


@IN_CLASS
def test_links_fifos_and_oversized_files_gave_nothing_away(graded_class):
    """No solution reached reconciled/ or autograded/ through a link, and the plants are nowhere."""
    out = graded_class["out"]
    for case in UNGRADABLE - {"not_a_notebook", "corrupt_json"}:
        assert not (out / "reconciled" / f"{case}.ipynb").exists(), case
        assert not (out / "autograded" / case).exists(), case
    assert (out / "autograded" / "perfect" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
    assert graded_class["results"]["attack_hogs_memory_in_children"]["notes"][-1].startswith(
        "the kernel went past its memory limit (1 GiB"
    )


# ---------------------------------------------------------------- homework 4: the same attacks hold

HW4 = "hw4_pooling"
HW4_FULL = sum(p.points for p in read_parts(nbformat.read(source_notebook(HW4), as_version=4)) if not p.manual)
HW4_FIRST = read_parts(nbformat.read(source_notebook(HW4), as_version=4))[0]  # pool_output_size_tests, 1 point
HW4_CASES = {  # case -> (expected score, words of the report); hw4 was worth 15 points
    "perfect": (HW4_FULL, []),
    "attack_control_breaches": (HW4_FIRST.points, []),  # breach() works: the attacks' 0 is real
    "attack_fs_plants_code_for_a_classmate": (0, []),
    "attack_fs_then_loads_planted_code": (0, []),
    "attack_hogs_memfd": (0, ["memory limit"]),
    "link_to_solutions": (0, ["link_to_solutions.ipynb is a symbolic link: not followed"]),
}
HW4_REJECTED = {"evil\r\n  perfect [graded] 15": "evil\\r\\n  perfect [graded] 15"}
HW4_ATTACKS = {
    **{k: ATTACKS[k] for k in ("fs_plants_code_for_a_classmate", "fs_then_loads_planted_code", "control_breaches")},
    "hogs_memfd": """
import os
_fd = os.memfd_create("hog")
for _ in range(160):
    os.write(_fd, b"x" * (8 << 20))
breach()
""",
}


@pytest.fixture(scope="module")
def hw4_class(tmp_path_factory):
    """Homework 4's released stub with the attacks appended to its first part (worth 1 point)."""
    base = tmp_path_factory.mktemp("hw4")
    subs, out = base / "submissions", base / "graded"
    subs.mkdir()
    source = nbformat.read(source_notebook(HW4), as_version=4)
    code = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if is_solution_cell(c)}
    (release,) = sorted((ROOT / "exercises" / HW4).glob("*.ipynb"))
    first = next(nbgrader_meta(c)["grade_id"] for c in source.cells if is_solution_cell(c))
    perfect = source  # the instructor's notebook itself (as in the grading stage): full marks
    nbformat.write(perfect, subs / "perfect.ipynb")
    for name in HW4_ATTACKS:
        nb = nbformat.read(release, as_version=4)
        cell = cell_of(nb, first)
        cell.source += attack_source(name, 0, subs, HW4_ATTACKS, code[first])
        nbformat.write(nb, subs / f"attack_{name}.ipynb")
    (subs / "link_to_solutions.ipynb").symlink_to(ROOT / "solutions" / HW4 / f"{HW4}.ipynb")
    for name in HW4_REJECTED:
        nbformat.write(perfect, subs / f"{name}.ipynb")
    exit_code = grade_folder(
        HW4,
        subs,
        out,
        workers=2,
        cell_timeout=CELL_TIMEOUT,
        progress=False,
        db_url=f"sqlite:///{base / 'gradebook.db'}",
        memory=MEMORY,
    )
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return dict(code=exit_code, results=results, out=out)


@IN_HW4_CLASS
@pytest.mark.parametrize("case", sorted(HW4_CASES))
def test_hw4_each_case_gets_its_expected_score(hw4_class, case):
    score, words = HW4_CASES[case]
    r = hw4_class["results"][case]
    assert r["score"] == score, (case, [(p["grade_id"], p["status"]) for p in r["parts"]], r["notes"])
    block = report_block((hw4_class["out"] / "report.txt").read_text(), case)
    assert all(w in block for w in words), (case, block)


@IN_HW4_CLASS
def test_hw4_rejects_the_forged_id_and_says_so(hw4_class):
    assert set(hw4_class["results"]) == set(HW4_CASES) and hw4_class["code"] == 1
    report = (hw4_class["out"] / "report.txt").read_text()
    for shown in HW4_REJECTED.values():
        assert f'  - entry "{shown}.ipynb": not a valid student id' in report


# ---------------------------------------------------------------- a neighbour that takes the CPU

# 200 processes busy for 10 s, each in a session of its own (a scheduler autogroup each, where the kernel
# has them), started by a shell (fast: no copy of the kernel's memory); the hog's own kernel lives that long
CPU_HOG = """
import subprocess, time
subprocess.Popen(["/bin/sh", "-c", "for i in $(seq 200); do setsid bash -c 'while [ $SECONDS -lt 10 ]; do :; done' & done"])
time.sleep(2)
"""  # noqa: E501 - a student cell
NEIGHBOUR_TIMEOUT = 5.0  # 25 times the longest cell of hw2's solution; the hog runs twice as long


def test_an_honest_student_graded_beside_a_cpu_hog_gets_full_marks(tmp_path):
    """200 busy processes in one kernel take only that kernel's share of the CPU (its cgroup's quota:
    the cores its threads were given): the honest student graded at the same time, on the other
    worker, loses nothing to the time limit."""
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(perfect_student(), subs / "honest.ipynb")
    nbformat.write(prepend(released_stub(), "corr1d", CPU_HOG), subs / "hog.ipynb")
    code = grade_folder(ASSIGNMENT, subs, tmp_path / "out", workers=2, cell_timeout=NEIGHBOUR_TIMEOUT, progress=False)
    honest = json.loads((tmp_path / "out" / "results" / "honest.json").read_text())
    hog = json.loads((tmp_path / "out" / "results" / "hog.json").read_text())
    assert honest["score"] == FULL, [(p["grade_id"], p["status"], p["message"][:80]) for p in honest["parts"]]
    assert not honest["notes"] and code == 0 and hog["score"] == 0
    first = (tmp_path / "out" / "report.txt").read_text().splitlines()[0]
    assert "CPU 1 core(s) per kernel (cgroup" in first, first
