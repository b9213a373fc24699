"""The grader's pieces on a two-part toy assignment (fast: one kernel per case)."""

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from toy_assignment import TEST_ADD, grade, make_toy, submission

from autograder.batch import grade_folder
from autograder.parts import read_parts
from autograder.trusted.runner import explain


@pytest.fixture
def toy(tmp_path):
    return make_toy(tmp_path)


def test_parts_are_read_in_order_with_points(toy):
    parts = read_parts(nbformat.read(toy, as_version=4))
    assert [(p.grade_id, p.points) for p in parts] == [("add_tests", 2.0), ("mul_tests", 3.0)]


def test_tests_come_from_the_source_and_added_cells_are_not_run(toy):
    from autograder.trusted.assemble import plan

    def tamper(nb):
        nb.cells[3].source = "pass  # student deleted the test"
        nb.cells.insert(3, nbformat.v4.new_code_cell("raise SystemExit('student cell')"))

    work = plan(nbformat.read(toy, as_version=4), submission(toy, edit=tamper))
    kinds = [(c.kind, c.index) for c in work.cells]
    assert kinds == [("setup", 1), ("solution", 2), ("test", 3), ("solution", 4), ("test", 5)]
    assert work.cells[2].source == TEST_ADD and "SystemExit" not in "".join(c.source for c in work.cells)
    assert work.student_names == {"add", "mul"} and work.shared_names == {"math", "check_scalar"}
    assert not work.notes and not work.flags


def test_batch_grades_each_case_as_promised(toy, tmp_path):
    def drop_mul(nb):
        del nb.cells[4]

    code, results, out = grade(
        toy,
        tmp_path,
        {
            "full": submission(toy),
            "half": submission(toy, mul_body="    return abs(a * b)"),
            "missing_cell": submission(toy, edit=drop_mul),
            "corrupt.ipynb": "{ this is not json",
            "essay.pdf": b"%PDF-1.4 not a notebook",
        },
    )
    assert code == 1, "unreadable uploads must show in the exit code"
    assert results["full"]["score"] == 5
    assert results["half"]["score"] == 2
    mul = results["half"]["parts"][1]
    assert mul["status"] == "failed" and mul["message"].startswith("mul on a negative number does not match")
    assert results["missing_cell"]["score"] == 2
    assert any("mul" in n and "not found" in n for n in results["missing_cell"]["notes"])
    for name in ("corrupt", "essay"):
        assert results[name]["status"] == "ungradable" and results[name]["score"] == 0
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert [r["student"] for r in rows] == ["corrupt", "essay", "full", "half", "missing_cell"]
    assert rows[3]["add_tests"] == "2" and rows[3]["mul_tests"] == "0" and rows[3]["total"] == "2"
    report = (out / "report.txt").read_text()
    assert "corrupt" in report and "essay" in report and "full" not in report


def test_feedback_escapes_student_text_and_hides_tests(toy, tmp_path):
    evil = submission(toy, add_body="    raise ValueError('<script>alert(1)</script>')")
    _, results, out = grade(toy, tmp_path, {"evil": evil})
    html = (out / "feedback" / "evil.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "add(-5, 7)" not in html and "BEGIN HIDDEN" not in html


def test_messages_never_include_a_traceback():
    assert explain("AssertionError", "dW is N times too large", 10) == "dW is N times too large"
    assert "NotImplementedError" in explain("NotImplementedError", "", 10)
    assert "Timed out" in explain("KeyboardInterrupt", "", 10)
    assert "hidden check" in explain("AssertionError", "", 10)


def strip_metadata(nb):
    for c in nb.cells:
        c.metadata = {}


def test_stripped_metadata_is_matched_by_cell_id(toy):
    sub = submission(toy, edit=strip_metadata)
    code, notes = __import__("autograder.trusted.assemble", fromlist=["x"]).match_solution_cells(
        nbformat.read(toy, as_version=4), sub
    )
    assert code["add"].endswith("return a + b") and code["mul"].endswith("return a * b")
    assert sum("cell id" in n for n in notes) == 2


def test_retyped_cells_are_matched_by_content_and_markdown_is_turned_back(toy):
    from autograder.trusted.assemble import match_solution_cells

    def damage(nb):
        strip_metadata(nb)
        for c in nb.cells:
            c.pop("id", None)
        mul = nb.cells.pop(4)  # moved to the top, retyped as markdown
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(mul.source))

    source = nbformat.read(toy, as_version=4)
    code, notes = match_solution_cells(source, submission(toy, edit=damage))
    assert code["mul"] == "def mul(a, b):\n    return a * b"
    assert code["add"] == "def add(a, b):\n    return a + b"
    assert any("markdown" in n for n in notes) and sum("content" in n for n in notes) == 2


def test_a_damaged_submission_still_earns_its_points(toy, tmp_path):
    def damage(nb):
        strip_metadata(nb)
        nb.cells.reverse()
        nb.cells.append(nbformat.v4.new_code_cell("def add(a, b):\n    return 0  # added, never run"))

    _, results, out = grade(toy, tmp_path, {"damaged": submission(toy, edit=damage)})
    assert results["damaged"]["score"] == 5
    assert "lost its nbgrader metadata" in (out / "report.txt").read_text()


def test_a_rerun_keeps_recorded_grades_and_regrades_changed_files(toy, tmp_path):
    code, first, out = grade(toy, tmp_path, {"ann": submission(toy), "ben": submission(toy, mul_body="    return 0")})
    assert code == 0 and first["ann"]["score"] == 5 and first["ben"]["score"] == 2
    # interrupted run: ann's record survives, ben's is lost; ben fixes nothing, ann unchanged
    (out / "results" / "ben.json").unlink()
    stamp = (out / "results" / "ann.json").stat().st_mtime_ns
    again = grade_folder("toy", tmp_path / "subs", out, workers=1, cell_timeout=10, progress=False, source=toy)
    assert again == 0
    assert (out / "results" / "ann.json").stat().st_mtime_ns == stamp, "ann was graded twice"
    assert json.loads((out / "results" / "ben.json").read_text())["score"] == 2  # same score again
    nbformat.write(submission(toy), tmp_path / "subs" / "ben.ipynb")  # ben resubmits a fix
    grade_folder("toy", tmp_path / "subs", out, workers=1, cell_timeout=10, progress=False, source=toy)
    assert json.loads((out / "results" / "ben.json").read_text())["score"] == 5
    assert (out / "results" / "ann.json").stat().st_mtime_ns == stamp


def test_a_duplicate_submission_is_graded_once_and_reported(toy, tmp_path):
    import os

    folder = tmp_path / "subs"
    (folder / "cat").mkdir(parents=True)
    nbformat.write(submission(toy, mul_body="    return 0"), folder / "cat.ipynb")
    nbformat.write(submission(toy), folder / "cat" / "toy.ipynb")
    os.utime(folder / "cat.ipynb", (1, 1))  # the older upload
    out = tmp_path / "out"
    assert grade_folder("toy", folder, out, workers=1, cell_timeout=10, progress=False, source=toy) == 0
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert [r["student"] for r in rows] == ["cat"] and rows[0]["total"] == "5"
    assert "duplicate submission" in (out / "report.txt").read_text()


ALWAYS_EQUAL = """
    class Anything(float):
        def __eq__(self, other):
            return True
    return Anything(0)"""


@pytest.mark.parametrize(
    "name, mul_body, extra_cell",
    [
        ("always_equal", ALWAYS_EQUAL, ""),
        ("rebinds_helper_name", "    return 0", "check_scalar = lambda *args, **kwargs: 0.0\n"),
        (
            "patches_helper_module",
            "    return 0",
            "import coursekit.checks\ncoursekit.checks.check_scalar = lambda *args, **kwargs: 0.0\n"
            "globals()['check_scalar'] = coursekit.checks.check_scalar\n",
        ),
        ("patches_numpy", "    return 0", "import numpy as np\nnp.allclose = lambda *a, **k: True\n"),
    ],
)
def test_known_cheats_score_zero_and_are_flagged(toy, tmp_path, name, mul_body, extra_cell):
    def add_cheat(nb):
        nb.cells[4].source = extra_cell + nb.cells[4].source

    _, results, out = grade(toy, tmp_path, {name: submission(toy, mul_body=mul_body, edit=add_cheat)})
    r = results[name]
    assert r["parts"][0]["status"] == "passed" and r["parts"][1]["status"] == "failed", r
    assert r["flags"], "the cheat was not flagged for review"
    row = list(csv.DictReader(open(out / "grades.csv")))[0]
    assert row["review"] and row["total"] == "2"
    assert "MANUAL REVIEW" in (out / "report.txt").read_text()


def test_honest_code_is_not_flagged(toy, tmp_path):
    _, results, _ = grade(toy, tmp_path, {"honest": submission(toy)})
    assert results["honest"]["flags"] == [] and results["honest"]["score"] == 5


def test_kernels_cannot_touch_files_outside_their_scratch_folder(toy, tmp_path):
    sentinel = tmp_path / "instructor_file.txt"
    sentinel.write_text("keep me")
    vandal = (
        f"import os, shutil\nos.chdir('/')\nos.remove({str(sentinel)!r})\n"
        f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')\n"
    )

    def add_vandal(nb):
        nb.cells[2].source = vandal + nb.cells[2].source

    _, results, out = grade(toy, tmp_path, {"vandal": submission(toy, edit=add_vandal), "victim": submission(toy)})
    assert sentinel.read_text() == "keep me" and not (tmp_path / "planted.txt").exists()
    assert results["vandal"]["parts"][0]["status"] == "failed"  # its own cell failed ...
    assert results["vandal"]["parts"][0]["message"].startswith("name 'add'")
    assert results["victim"]["score"] == 5  # ... and nobody else noticed


def _run_cells(tmp_path, sources, cell_timeout=30.0, sandboxed=False, kinds=None, student_names=()):
    """Run ``sources`` as solution cells (in the kernel) or as ``kinds``; returns
    (completed indices, notes, errors per cell, printed output per cell)."""
    from autograder.model import Cell
    from autograder.trusted.runner import Runner
    from autograder.trusted.sandbox import Zygote

    kinds = kinds or ["solution"] * len(sources)
    cells = [Cell(i, kind, src, f"c{i}") for i, (kind, src) in enumerate(zip(kinds, sources))]
    zygote = Zygote(sandboxed=sandboxed)
    try:
        runner = Runner(zygote.connect(workdir=str(tmp_path)), cell_timeout, set(student_names), set())
        try:
            outcomes, notes = runner.run(cells)
        finally:
            runner.close()
    finally:
        zygote.close()
    completed = {i for i, o in outcomes.items() if o.completed}
    errors = [[o.error] if o.error else [] for o in (outcomes[i] for i in range(len(cells)))]
    printed = [outcomes[i].stdout for i in range(len(cells))]
    return completed, notes, errors, printed


def test_the_kernel_runs_cells_in_one_namespace_and_reports_each(tmp_path):
    """Errors are named per cell, output is kept, magics work, state carries over."""
    completed, notes, errors, printed = _run_cells(
        tmp_path,
        [
            "x = 6\nprint('hello')",
            "assert x == 7, 'x should be 7'",
            "%time y = x * 7",
            "print(y)",
            "def broken(:",
            "import os\nprint(os.getcwd())",
        ],
    )
    assert completed == set(range(6)) and notes == []
    assert errors == [[], [("AssertionError", "x should be 7")], [], [], [("SyntaxError", errors[4][0][1])], []]
    assert printed[0] == "hello\n" and printed[3] == "42\n" and printed[5].strip() == str(tmp_path)


def test_a_cell_past_its_limit_is_interrupted_and_one_ignoring_it_ends_the_kernel(tmp_path, monkeypatch):
    from autograder.trusted import runner as execute

    monkeypatch.setattr(execute, "INTERRUPT_GRACE", 2.0)  # the kernel that ignores the interrupt: 2 s, not 10
    completed, notes, errors, _ = _run_cells(
        tmp_path,
        [
            "while True:\n    pass",
            "print('next')",
            "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass",
            "print('never')",
        ],
        cell_timeout=1.0,
    )
    assert completed == {0, 1, 2} and errors[0] == [("KeyboardInterrupt", "")] and errors[3] == []
    assert notes[-1] == "a cell ran past 1 s and could not be interrupted; parts that had not run yet score 0"


def test_exit_or_a_crash_stops_the_kernel_and_keeps_what_ran(tmp_path):
    for stop in ("exit()", "import os\nos._exit(0)", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"):
        completed, notes, _, _ = _run_cells(tmp_path, ["a = 1", stop, "b = 2"])
        assert completed == {0} if "exit()" not in stop else completed == {0, 1}, stop
        assert len(notes) == 1 and notes[0].startswith("the kernel died"), (stop, notes)


def test_a_test_cell_runs_outside_the_kernel_and_talks_to_it_with_data(tmp_path):
    """The test sees the student's function as a proxy; the kernel never sees the test's source."""
    completed, notes, errors, printed = _run_cells(
        tmp_path,
        [
            "import numpy as np",
            "def double(x):\n    return 2 * np.asarray(x)",
            "SECRET = 'hidden-test-marker-4711'",
            "import gc\nfound = any(isinstance(o, str) and 'marker-4711' in o for o in gc.get_objects())\n"
            "def leaked():\n    return found",
            "out = double([1.5, 2.0])\nprint(type(out).__name__, out.tolist(), leaked(), type(double).__name__)",
        ],
        kinds=["setup", "solution", "test", "solution", "test"],
        student_names={"double", "leaked", "found"},
    )
    assert errors == [[]] * 5, errors
    assert printed[4].split() == ["ndarray", "[3.0,", "4.0]", "False", "Remote"]


def test_sandboxed_kernel_sees_no_network_no_course_files_no_processes(tmp_path):
    """Only loopback, none of solutions/, an empty /proc, no capabilities, a bounded scratch."""
    from autograder import COURSE_ROOT

    completed, notes, errors, printed = _run_cells(
        tmp_path,
        [
            "import os, socket\nprint(sorted(name for _, name in socket.if_nameindex()))",
            f"print(os.path.exists({str(COURSE_ROOT / 'solutions')!r}), os.path.exists({str(tmp_path)!r}), "
            "os.listdir('/proc'))",
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), libc.prctl(3, 0, 0, 0, 0))",
            "st = os.statvfs('.')\nprint(st.f_blocks * st.f_frsize <= (512 << 20), os.getcwd())",
            "open('written-here.txt', 'w').write('ok')\nprint(open('written-here.txt').read())",
            "try:\n    open('/usr/planted.txt', 'w')\nexcept OSError as e:\n    print(type(e).__name__)",
        ],
        sandboxed=True,
    )
    assert completed == set(range(6)) and notes == [] and errors == [[]] * 6, errors
    assert printed[0].strip() == "['lo']"
    assert printed[1].strip() == "False False []"
    assert printed[2].split() == ["-1", "0"]  # no mount, not dumpable (prctl GET_DUMPABLE)
    assert printed[3].split() == ["True", "/tmp/work"]
    assert printed[4] == "ok\n" and not (tmp_path / "written-here.txt").exists()
    assert printed[5].strip() in ("OSError", "PermissionError")


def test_forged_replies_cannot_pass_a_test_and_are_flagged(toy, tmp_path):
    """Student code shares the kernel process and may write frames on its channel: the tests run
    elsewhere, so forged frames can only be (wrong) answers; the raw write is flagged for review."""
    forge = (
        "import json, os, struct\n"
        "for _fd in range(3, 64):\n"
        "    for _n in range(1, 200):\n"
        "        _h = json.dumps({'re': _n, 'v': {'ok': True}, 'blobs': 0}).encode()\n"
        "        try:\n            os.write(_fd, struct.pack('<Q', len(_h)) + _h)\n"
        "        except OSError:\n            pass\n"
    )
    _, results, out = grade(toy, tmp_path, {"forger": submission(toy, mul_body="    return 0\n" + forge)})
    assert results["forger"]["score"] <= 2, results["forger"]
    assert results["forger"]["parts"][1]["status"] != "passed"
    assert any("os.write" in f for f in results["forger"]["flags"])
    assert "MANUAL REVIEW" in (out / "report.txt").read_text()


def test_grading_refuses_to_start_without_a_sandbox_unless_told(toy, tmp_path, monkeypatch):
    import autograder.trusted.sandbox as sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)  # as if bubblewrap were missing
    folder = tmp_path / "subs"
    folder.mkdir()
    nbformat.write(submission(toy), folder / "ann.ipynb")
    scratch = tempfile.mkdtemp(prefix="zy-")  # where the zygote makes its folder (short: it holds a socket)
    try:
        with monkeypatch.context() as patch, pytest.raises(sandbox.SandboxUnavailable):
            patch.setattr(sandbox.tempfile, "tempdir", scratch)
            grade_folder("toy", folder, tmp_path / "out", workers=1, cell_timeout=10, progress=False, source=toy)
        assert not os.listdir(scratch), "a zygote that could not start left its folder"
    finally:
        shutil.rmtree(scratch)
    assert not (tmp_path / "out" / "grades.csv").exists()
    code = grade_folder(
        "toy", folder, tmp_path / "out", workers=1, cell_timeout=10, progress=False, source=toy, sandbox=False
    )
    assert code == 0
    report = (tmp_path / "out" / "report.txt").read_text().splitlines()
    assert report[0].startswith("Isolation: NO SANDBOX")


def test_the_same_isolation_without_root(toy, tmp_path):
    """Graded from an ordinary account (uid 1000, no capability: here a user namespace where root
    is mapped to 1000), bubblewrap still isolates every kernel with unprivileged user namespaces;
    without cgroups (here turned off: this namespace maps uid 1000 to root, who owns the cgroup
    files) the watchdog stops a kernel whose memfd passes the memory limit."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("unshare"):
        pytest.fail("util-linux's unshare is needed to run the grader as an ordinary user")
    sentinel = tmp_path / "instructor_file.txt"
    sentinel.write_text("keep me")
    folder = tmp_path / "subs"
    folder.mkdir()
    nbformat.write(submission(toy), folder / "ann.ipynb")
    probe = (
        "    import os, socket\n    if os.path.exists(" + repr(str(sentinel)) + ") or "
        "[n for _, n in socket.if_nameindex()] != ['lo'] or os.listdir('/proc'):\n        return -1\n"
    )
    nbformat.write(submission(toy, add_body=probe + "    return a + b"), folder / "probe.ipynb")
    hog = "import os\n_fd = os.memfd_create('hog')\nfor _ in range(96):\n    os.write(_fd, bytes(8 << 20))\n"
    nbformat.write(
        submission(toy, edit=lambda nb: setattr(nb.cells[2], "source", hog + nb.cells[2].source)), folder / "hog.ipynb"
    )
    script = (
        "import json, os, sys\nfrom pathlib import Path\nfrom autograder.batch import grade_folder\n"
        "print('uid', os.getuid(), flush=True)\n"
        f"code = grade_folder('toy', Path({str(folder)!r}), Path({str(tmp_path / 'out')!r}), workers=1, "
        f"cell_timeout=30, progress=False, source=Path({str(toy)!r}), memory=512 << 20, cgroups=False)\n"
        "print('exit', code)\n"
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "uid 1000" in done.stdout and "exit 0" in done.stdout, done.stdout + done.stderr
    report = (tmp_path / "out" / "report.txt").read_text()
    assert report.startswith("Isolation: sandboxed kernels (bubblewrap"), report
    assert "a watchdog summing its process tree" in report.splitlines()[0] and "memory limit (512 MiB" in report
    scores = {p.stem: json.loads(p.read_text())["score"] for p in (tmp_path / "out" / "results").glob("*.json")}
    assert scores == {"ann": 5, "probe": 5, "hog": 0}, scores


def test_setup_imports_are_what_the_setup_cells_import_and_torch_brings_dynamo():
    """What the batch preloads once (zygote and test server): the setup cells' top-level imports, never
    a test cell's or a student's; with torch, torch._dynamo (imported by the first optimiser, 0.9 s)."""
    from toy_assignment import cell

    from autograder.batch.processes import setup_imports

    def notebook(setup_source):
        return nbformat.v4.new_notebook(
            cells=[
                cell("code", setup_source),
                cell("code", "import scipy", solution=True, grade_id="part"),
                cell("code", "import json", grade=True, locked=True, grade_id="part_tests", points=1),
            ]
        )

    assert setup_imports(notebook("import math\nfrom coursekit.checks import check_scalar")) == [
        "math",
        "coursekit.checks",
    ]
    assert setup_imports(notebook("import numpy as np\nimport torch.nn as nn")) == [
        "numpy",
        "torch.nn",
        "torch._dynamo",
    ]
    assert setup_imports(notebook("import torch\nimport torch._dynamo")) == ["torch", "torch._dynamo"]


@pytest.mark.parametrize("sandboxed", [False, True])
def test_the_chapters_implementations_cannot_be_imported_in_a_kernel(tmp_path, sandboxed):
    """coursekit.chapters solves homework parts: no kernel can import it (the sandbox hides its
    files, and the kernel refuses it where there is no sandbox), and the error says why."""
    from autograder import COURSE_ROOT

    completed, notes, errors, printed = _run_cells(
        tmp_path,
        [
            "from coursekit.chapters.conv import corr2d",
            "import coursekit.chapters.gradcheck",
            f"import os\nprint(sorted(os.listdir({str(COURSE_ROOT / 'coursekit' / 'chapters')!r})))",
            "from coursekit.checks import check_close\nfrom coursekit.gradcheck import gradient_error\nprint('ok')",
        ],
        sandboxed=sandboxed,
    )
    assert completed == set(range(4)), notes
    for error in errors[:2]:
        assert error and error[0][0] in ("ImportError", "ModuleNotFoundError"), error
        assert "cannot be imported while grading" in error[0][1]
    assert ("conv.py" in printed[2]) != sandboxed  # the files themselves are out of a sandboxed kernel's view
    assert printed[3] == "ok\n"
