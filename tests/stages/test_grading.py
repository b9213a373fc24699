"""Stage e: the grading pipeline on real homework.

For every assignment, one batch holds: the instructor's solution (full marks),
the released student version (0, graded without error), the classic mistakes of
tests/buggy/<assignment>.py (each loses exactly the points of the parts it breaks,
with a message naming the mistake). The first assignment's batch also holds a
submission that loops forever and one that kills its kernel: they lose the affected
points, are named in the report, and cost nobody else. The batches are built in
tests/stages/homework_batches.py and also hold the lying kernels of test_lying_kernel.py.

Mistakes are graded packed (``pack_bugs``): one submission carries at most one mistake
per solution cell, and mistakes whose ``breaks`` overlap never share a submission. A
part that calls an earlier, broken part is graded with a reference version of it, so
a packed submission must fail exactly the union of its mistakes' ``breaks``, lose
exactly those points, and each failed part must name its own mistake. This grades
218 mistakes in about 50 submissions instead of 218. What packing cannot see: a
mistake that would also break a part another mistake of the same submission
breaks anyway. Every mistake breaks its own part only (checked below), so that
part is never another mistake's.
"""

import re
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from homework_batches import ROOT, batch, load_bugs, patched, per_batch, same_batch

from autograder.model import source_notebook
from autograder.parts import is_solution_cell, nbgrader_meta
from autograder.release import assignments


@pytest.fixture(params=per_batch(assignments()))
def graded(request, tmp_path_factory):
    return batch(request.param, tmp_path_factory.getbasetemp())


@pytest.fixture
def first_graded(tmp_path_factory):
    """The batch of the first assignment, which also holds the looping and crashing submissions."""
    return batch(assignments()[0], tmp_path_factory.getbasetemp())


def test_every_submission_gets_a_grade_and_the_exit_code_says_so(graded):
    assert graded["code"] == 0, (graded["out"] / "report.txt").read_text()
    assert all(r["status"] == "graded" for r in graded["results"].values())
    replaced = {s: n for s, r in graded["results"].items() for n in r["notes"] if "graded again" in n}
    if replaced:  # the grade is sound (a new process gave it); the event must not go unseen
        warnings.warn(f"{graded['assignment']}: grading process replaced for {replaced}", stacklevel=2)


def test_solution_scores_full_marks(graded):
    r = graded["results"]["solution"]
    failing = [(p["grade_id"], p["message"]) for p in r["parts"] if p["status"] != "passed" and not p["manual"]]
    assert not failing, failing
    assert r["score"] == r["max_score"] > 0
    manual = [p for p in r["parts"] if p["manual"]]  # written answers: a person grades them
    assert all(p["status"] == "manual" and p["points"] == 0 for p in manual)
    assert r["manual_max"] == sum(p["max_points"] for p in manual)


def test_released_exercise_scores_zero_without_crashing_the_grader(graded):
    r = graded["results"]["released_stub"]
    auto = [p for p in r["parts"] if not p["manual"]]
    assert r["score"] == 0
    assert all(p["status"] == "failed" for p in auto), "every part should run and fail"
    assert all("NotImplementedError" in p["message"] for p in auto)
    assert not r["notes"], r["notes"]


def test_each_mistake_breaks_only_its_own_part(graded):
    """What makes packing sound: a mistake in cell ``c`` breaks (at most) the tests of ``c``."""
    assert len(graded["bugs"]) >= 4
    for bug in graded["bugs"]:
        assert all(part.startswith(bug["cell"]) for part in bug["breaks"]), bug["name"]
    assert max(len(p) for p in graded["packs"]) > 1


def test_each_buggy_submission_loses_exactly_its_parts(graded):
    for i, pack in enumerate(graded["packs"]):
        r = graded["results"][f"bugs_{i:02d}"]
        names = [b["name"] for b in pack]
        breaks = {part: bug for bug in pack for part in bug["breaks"]}
        failed = {p["grade_id"] for p in r["parts"] if p["status"] != "passed" and not p["manual"]}
        wrong = {
            part: breaks[part]["name"] if part in breaks else "no mistake"
            for part in failed.symmetric_difference(breaks)
        }
        assert not wrong, f"submission {names}: parts graded wrong, with the mistake expected there: {wrong}"
        lost = sum(p["max_points"] for p in r["parts"] if p["grade_id"] in breaks)
        assert r["score"] == r["max_score"] - lost, names
        for p in r["parts"]:
            if p["grade_id"] in breaks:
                bug = breaks[p["grade_id"]]
                assert bug["message"].lower() in p["message"].lower(), (
                    f"{bug['name']}: message {p['message']!r} does not mention {bug['message']!r}"
                )


@same_batch(assignments()[0])
def test_an_infinite_loop_costs_only_its_part(first_graded):
    graded = first_graded
    r = graded["results"]["loops_forever"]
    failed = [p["grade_id"] for p in r["parts"] if p["status"] not in ("passed", "manual")]
    assert failed == [[p for p in graded["parts"] if not p.manual][-1].grade_id], failed
    report = (graded["out"] / "report.txt").read_text()
    assert "loops_forever" in report and "time limit" in report


@same_batch(assignments()[0])
def test_a_dead_kernel_costs_the_parts_after_it_and_nobody_else(first_graded):
    graded = first_graded
    source_nb, crash_id = graded["source_nb"], graded["extra"]["crash"]
    crash_index = next(
        i for i, c in enumerate(source_nb.cells) if is_solution_cell(c) and nbgrader_meta(c)["grade_id"] == crash_id
    )
    r = graded["results"]["kills_kernel"]
    for part, result in zip(graded["parts"], r["parts"]):
        expected = "manual" if part.manual else "passed" if part.cell_index < crash_index else "not run"
        assert result["status"] == expected, (part.grade_id, result)
    assert 0 < r["score"] < r["max_score"]
    assert "kills_kernel" in (graded["out"] / "report.txt").read_text()
    assert graded["results"]["solution"]["score"] == graded["results"]["solution"]["max_score"]


def hidden_test_lines(source_nb, assignment: str) -> list[str]:
    """Lines of hidden tests that a student cannot see anywhere in the release."""
    (release,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    visible = {ln.strip() for c in nbformat.read(release, as_version=4).cells for ln in c.source.splitlines()}
    lines = []
    for cell in source_nb.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [ln.strip() for ln in block.splitlines() if len(ln.strip()) >= 12 and ln.strip() not in visible]
    return lines


def test_feedback_shows_every_part_and_never_a_hidden_test_line(graded):
    hidden = hidden_test_lines(graded["source_nb"], graded["assignment"])
    assert hidden, "no hidden tests found"
    files = sorted((graded["out"] / "feedback").glob("*.html"))
    assert len(files) == len(graded["results"])
    for path in files:
        html = path.read_text()
        for part in graded["parts"]:
            assert part.grade_id in html
        leaked = [line for line in hidden if line in html]
        assert not leaked, f"{path.name} leaks hidden test source: {leaked[:3]}"


def test_grades_csv_has_one_column_per_part_and_consistent_totals(graded):
    auto = [p for p in graded["parts"] if not p.manual]
    for student, row in graded["rows"].items():
        total = sum(float(row[p.grade_id]) for p in auto)
        assert float(row["total"]) == pytest.approx(total), student
        assert float(row["max_total"]) == pytest.approx(sum(p.points for p in auto))


def student_check(assignment: str, bug: dict, tmp_path: Path):
    """``python -m autograder check`` on the release with the solution code, ``bug`` applied.

    Returns the finished process and its ``[FAIL]`` lines.
    """
    source_nb = patched(
        nbformat.read(source_notebook(assignment), as_version=4), bug["cell"], bug["find"], bug["replace"]
    )
    fixed = {nbgrader_meta(c)["grade_id"]: c.source for c in source_nb.cells if is_solution_cell(c)}
    (release_path,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    student = nbformat.read(release_path, as_version=4)
    for cell in student.cells:
        if is_solution_cell(cell):
            cell.source = fixed[nbgrader_meta(cell)["grade_id"]]
    path = tmp_path / assignment / f"{assignment}.ipynb"
    path.parent.mkdir()
    nbformat.write(student, path)
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    return done, [line for line in done.stdout.splitlines() if line.startswith("[FAIL]")]


@same_batch("hw2_convolution")
def test_student_check_reports_the_graders_visible_messages(tmp_path):
    """`python -m autograder check` runs the visible tests only and says what the grader says."""
    assignment = "hw2_convolution"
    bug = next(b for b in load_bugs(assignment) if b["cell"] == "corr2d")
    done, failing = student_check(assignment, bug, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert bug["breaks"][0] in failing[0] and bug["message"].lower() in failing[0].lower()
    # parts that build on the broken one say so instead of blaming the student twice
    assert all("first" in line for line in failing[1:]), failing
    graded_batch = batch(assignment, tmp_path)
    graded = graded_batch["results"][graded_batch["submission_of"][bug["name"]]]
    message = next(p["message"] for p in graded["parts"] if p["grade_id"] == bug["breaks"][0])
    assert message in failing[0], "check and the grader disagree on the message"
    (release_path,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    stub = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(release_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert stub.returncode == 1 and "0 of" in stub.stdout


def test_student_check_of_hw1_names_the_part_to_fix_first(tmp_path):
    """hw1's dependent parts fail in the student's copy, as hw2-hw7's do, naming the broken part."""
    bug = next(b for b in load_bugs("hw1_mlp") if b["cell"] == "softmax_cross_entropy")
    done, failing = student_check("hw1_mlp", bug, tmp_path)
    assert done.returncode == 1 and len(failing) == 2, done.stdout + done.stderr
    assert failing[0].startswith("[FAIL] softmax_cross_entropy_tests")
    assert (
        failing[1].startswith("[FAIL] two_layer_loss_tests")
        and "Part 1 (softmax_cross_entropy)" in failing[1]
        and "first" in failing[1]
    ), failing[1]
