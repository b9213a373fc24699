"""The grader's pieces on a two-part toy assignment (fast: one kernel per case)."""
import csv
import json
from pathlib import Path

import nbformat
import pytest

from autograder.assemble import assemble
from autograder.batch import grade_folder
from autograder.execute import explain
from autograder.parts import read_parts

from toy_assignment import TEST_ADD, grade, make_toy, submission  # noqa: E402


@pytest.fixture
def toy(tmp_path):
    return make_toy(tmp_path)


def test_parts_are_read_in_order_with_points(toy):
    parts = read_parts(nbformat.read(toy, as_version=4))
    assert [(p.grade_id, p.points) for p in parts] == [("add_tests", 2.0), ("mul_tests", 3.0)]


def test_tests_come_from_the_source_and_added_cells_are_not_run(toy):
    def tamper(nb):
        nb.cells[3].source = "pass  # student deleted the test"
        nb.cells.insert(3, nbformat.v4.new_code_cell("raise SystemExit('student cell')"))
    nb, notes, index, flags = assemble(nbformat.read(toy, as_version=4), submission(toy, edit=tamper))
    sources = [c.source for c in nb.cells]
    assert any(s.endswith(TEST_ADD) for s in sources) and "raise SystemExit('student cell')" not in sources
    assert not notes and not flags and index[3] == 3 and nb.cells[3].source.endswith(TEST_ADD)


def test_batch_grades_each_case_as_promised(toy, tmp_path):
    def drop_mul(nb):
        del nb.cells[4]
    code, results, out = grade(toy, tmp_path, {
        "full": submission(toy),
        "half": submission(toy, mul_body="    return abs(a * b)"),
        "missing_cell": submission(toy, edit=drop_mul),
        "corrupt.ipynb": "{ this is not json",
        "essay.pdf": b"%PDF-1.4 not a notebook",
    })
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
    code, notes = __import__("autograder.assemble", fromlist=["x"]).match_solution_cells(
        nbformat.read(toy, as_version=4), sub)
    assert code["add"].endswith("return a + b") and code["mul"].endswith("return a * b")
    assert sum("cell id" in n for n in notes) == 2


def test_retyped_cells_are_matched_by_content_and_markdown_is_turned_back(toy):
    from autograder.assemble import match_solution_cells

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


@pytest.mark.parametrize("name, mul_body, extra_cell", [
    ("always_equal", ALWAYS_EQUAL, ""),
    ("rebinds_helper_name", "    return 0", "check_scalar = lambda *args, **kwargs: 0.0\n"),
    ("patches_helper_module", "    return 0",
     "import coursekit.checks\ncoursekit.checks.check_scalar = lambda *args, **kwargs: 0.0\n"
     "globals()['check_scalar'] = coursekit.checks.check_scalar\n"),
    ("patches_numpy", "    return 0", "import numpy as np\nnp.allclose = lambda *a, **k: True\n"),
])
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
    import os
    from autograder.sandbox import namespaces_available

    if os.geteuid() != 0:
        pytest.skip("the namespace sandbox needs root (or a container that grants namespaces)")
    assert namespaces_available(), "running as root, yet the namespace sandbox does not start"
    sentinel = tmp_path / "instructor_file.txt"
    sentinel.write_text("keep me")
    vandal = (f"import os, shutil\nos.chdir('/')\nos.remove({str(sentinel)!r})\n"
              f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')\n")

    def add_vandal(nb):
        nb.cells[2].source = vandal + nb.cells[2].source
    _, results, out = grade(toy, tmp_path, {"vandal": submission(toy, edit=add_vandal), "victim": submission(toy)})
    assert sentinel.read_text() == "keep me" and not (tmp_path / "planted.txt").exists()
    assert results["vandal"]["parts"][0]["status"] == "failed"   # its own cell failed ...
    assert "Read-only file system" in results["vandal"]["parts"][0]["message"] or \
        results["vandal"]["parts"][0]["message"].startswith("name 'add'")
    assert results["victim"]["score"] == 5                       # ... and nobody else noticed


def _run_cells(tmp_path, sources, cell_timeout=30.0, sandboxed=False):
    from autograder.execute import run

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    completed, notes = run(nb, tmp_path, cell_timeout, sandboxed=sandboxed)
    errors = [[(o.ename, o.evalue) for o in c.outputs if o.output_type == "error"] for c in nb.cells]
    printed = ["".join(o.text for o in c.outputs if o.output_type == "stream") for c in nb.cells]
    return completed, notes, errors, printed


def test_the_kernel_runs_cells_in_one_namespace_and_reports_each(tmp_path):
    """Errors are named per cell, output is kept, magics work, state carries over."""
    completed, notes, errors, printed = _run_cells(tmp_path, [
        "x = 6\nprint('hello')", "assert x == 7, 'x should be 7'", "%time y = x * 7", "print(y)",
        "def broken(:", "import os\nprint(os.getcwd())"])
    assert completed == set(range(6)) and notes == []
    assert errors == [[], [("AssertionError", "x should be 7")], [], [], [("SyntaxError", errors[4][0][1])], []]
    assert printed[0] == "hello\n" and printed[3] == "42\n" and printed[5].strip() == str(tmp_path)


def test_a_cell_past_its_limit_is_interrupted_and_one_ignoring_it_ends_the_kernel(tmp_path):
    completed, notes, errors, _ = _run_cells(tmp_path, [
        "while True:\n    pass", "print('next')",
        "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass",
        "print('never')"], cell_timeout=1.0)
    assert completed == {0, 1} and errors[0] == [("KeyboardInterrupt", "")]
    assert notes == ["a cell ran past 1 s and could not be interrupted; parts that had not run yet score 0"]


def test_exit_or_a_crash_stops_the_kernel_and_keeps_what_ran(tmp_path):
    for stop in ("exit()", "import os\nos._exit(0)", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"):
        completed, notes, _, _ = _run_cells(tmp_path, ["a = 1", stop, "b = 2"])
        assert completed == {0} if "exit()" not in stop else completed == {0, 1}, stop
        assert len(notes) == 1 and notes[0].startswith("the kernel died"), (stop, notes)


def test_sandboxed_kernel_has_no_capabilities_and_sees_only_its_own_processes(tmp_path):
    import os

    from autograder.sandbox import namespaces_available

    if os.geteuid() != 0:
        pytest.skip("the namespace sandbox needs root (or a container that grants namespaces)")
    assert namespaces_available(), "running as root, yet the namespace sandbox does not start"
    completed, notes, errors, printed = _run_cells(tmp_path, [
        "import os\nstatus = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "print(os.getpid(), int(status['CapEff'], 16), int(status['CapBnd'], 16), status['NoNewPrivs'].strip())",
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
        "open('written-here.txt', 'w').write('ok')\nprint(open('written-here.txt').read())"], sandboxed=True)
    assert completed == {0, 1, 2} and notes == [] and errors == [[], [], []], errors
    assert printed[0].split() == ["2", "0", "0", "1"]     # PID 2, no capability, none to regain
    assert printed[1].strip() == "[1, 2]"                 # its relay (PID 1) and itself
    assert printed[2] == "ok\n" and (tmp_path / "written-here.txt").read_text() == "ok"


def test_a_setup_cell_may_bind_a_helper_name_itself(toy, tmp_path):
    """The course's own setup cell importing another ``rel_error`` is not a cheat; rebinding it is."""
    source = nbformat.read(toy, as_version=4)
    source.cells[1].source += "\nfrom coursekit.gradcheck import rel_error"
    source.cells[5].source = "assert rel_error(mul(2.0, 3.0), 6.0) < 1e-12, 'mul(2, 3) should be 6'\n" + source.cells[5].source
    nbformat.write(source, toy)

    def rebind(nb):
        nb.cells[4].source = "rel_error = lambda a, b: 0.0\n" + nb.cells[4].source
    _, results, _ = grade(toy, tmp_path, {"honest": submission(toy),
                                          "cheat": submission(toy, mul_body="    return 5.0", edit=rebind)})
    assert results["honest"]["score"] == 5 and results["honest"]["flags"] == [], results["honest"]
    assert results["cheat"]["score"] == 2 and results["cheat"]["flags"], results["cheat"]
    assert "should be 6" in results["cheat"]["parts"][1]["message"]


def test_a_forged_kernel_report_is_flagged_for_review(toy, tmp_path):
    """Student code shares the kernel process, so it could write the kernel's own reports
    (as it could sign messages with a Jupyter kernel's key): such code is flagged."""
    forge = ("import json, os\n"
             "for _m in [{'done': 4}, {'start': 5}, {'done': 5, 'error': None}, {'start': 6}, {'done': 6}]:\n"
             "    for _fd in range(3, 256):\n"
             "        try:\n            os.write(_fd, (json.dumps(_m) + '\\n').encode())\n"
             "        except OSError:\n            pass\n"
             "os._exit(0)\n")
    _, results, out = grade(toy, tmp_path, {"forger": submission(toy, mul_body="    return 0\n" + forge)})
    flags = results["forger"]["flags"]
    assert any("os.write" in f for f in flags), flags
    assert "MANUAL REVIEW" in (out / "report.txt").read_text()
