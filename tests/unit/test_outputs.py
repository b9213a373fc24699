"""The batch's outputs cannot be forged by what a student writes, and they show written answers
(manually graded parts) as awaiting a person: in grades.csv, the feedback, the report, and in
nbgrader's gradebook and autograded/ layout, where nbgrader's formgrader finds them."""

import csv
import re

import nbformat
import pytest
from toy_assignment import grade, make_release, make_toy, submission

from autograder.batch.feedback import render
from autograder.batch.gradebook import export_csv
from autograder.batch.ingest import Rejected
from autograder.batch.outputs import clean, write_grades, write_report
from autograder.model import PartResult, SubmissionResult

FORGERY = "ok\n  mallory [graded] 5/5\r\x1b[2K\x1b[1A\tfake\u2028\u2029\x85\u202e end"


def result(score=0.0, notes=(), flags=(), status="graded", message="msg"):
    return SubmissionResult(status, [PartResult("add_tests", 5.0, score, "failed", message)], list(notes), list(flags))


def test_clean_escapes_every_control_character():
    assert clean(FORGERY) == ("ok\\n  mallory [graded] 5/5\\r\\x1b[2K\\x1b[1A\\tfake\\u2028\\u2029\\x85\\u202e end")
    assert clean("a\nb", keep="\n") == "a\nb" and clean("plain é ü 中") == "plain é ü 中"


def test_student_text_can_neither_forge_a_report_entry_nor_hide_a_flag(tmp_path):
    """A note (e.g. a file name in the student's folder) and a flag full of newlines and ANSI codes
    stay on their own indented lines; a rejected entry's name too; no raw control character remains."""
    results = {
        "eve": result(notes=[f"duplicate submission: graded eve/{FORGERY}.ipynb"], flags=[FORGERY]),
        "mallory": result(score=0.0, status="ungradable", notes=["No notebook"]),
    }
    write_report(
        tmp_path / "report.txt", "toy", results, [Rejected(f"=cmd|{FORGERY}.ipynb", "not a valid id")], "test isolation"
    )
    text = (tmp_path / "report.txt").read_text()
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202e]", text), repr(text)
    headers = [ln for ln in text.splitlines() if re.match(r"  \S+ \[", ln)]
    assert headers == ["  eve [graded] 0/5", "  mallory [ungradable] 0/5"]
    allowed = (
        "Isolation: ",
        "Assignment toy",
        "Not graded",
        "Needs attention:",
        '  - entry "',
        "  eve [",
        "  mallory [",
        "    - ",
    )
    assert all(ln.startswith(allowed) for ln in text.splitlines()), text


def test_grades_csv_has_one_row_per_student_and_no_formula(tmp_path):
    results = {"eve": result(flags=['=HYPERLINK("x")', "@SUM(1)"], status="+graded"), "zed": result(score=5.0)}
    write_grades(tmp_path / "grades.csv", results, ["add_tests"])
    rows = list(csv.reader(open(tmp_path / "grades.csv", newline="")))
    assert [r[0] for r in rows] == ["student", "eve", "zed"] and len({len(r) for r in rows}) == 1
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for r in rows for c in r)


def test_feedback_lets_no_control_character_through():
    html = render("eve", "toy", result(message="\x1b[2Jcleared\u202eevil\nnext line", notes=[FORGERY]))
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202e]", html)
    assert "\\x1b[2Jcleared\\u202eevil<br>next line" in html


def answered(nb):
    nb.cells[6].source = "Addition is commutative.\nBecause the order of a and b does not matter."


@pytest.fixture
def graded_with_answers(tmp_path):
    toy = make_toy(tmp_path, answer=True)
    release = make_release(toy, tmp_path / "release")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    code, results, out = grade(
        toy,
        tmp_path,
        {"ann": submission(toy, edit=answered), "ben": submission(toy, mul_body="    return 0", edit=answered)},
        db_url=url,
        release=release,
    )
    return dict(toy=toy, release=release, url=url, code=code, results=results, out=out, tmp=tmp_path)


def test_written_answers_await_manual_grading_in_every_output(graded_with_answers):
    g = graded_with_answers
    assert g["code"] == 0
    ann = g["results"]["ann"]
    if not any(p.get("manual") for p in ann["parts"]):
        pytest.fail("the grader does not report written answers as manual parts yet (autograder.parts)")
    assert ann["score"] == 5 and ann["max_score"] == 5 and ann["manual_max"] == 4
    rows = {r["student"]: r for r in csv.DictReader(open(g["out"] / "grades.csv"))}
    assert list(rows["ann"]) == [
        "student",
        "add_tests",
        "mul_tests",
        "explain",
        "total",
        "max_total",
        "awaiting_manual",
        "status",
        "review",
    ]
    assert (rows["ann"]["explain"], rows["ann"]["total"], rows["ann"]["awaiting_manual"]) == ("", "5", "4")
    assert (rows["ben"]["mul_tests"], rows["ben"]["total"]) == ("0", "2")
    assert (
        "explain</td><td>&ndash; / 4</td><td class='manual'>awaiting manual grading"
        in (g["out"] / "feedback" / "ann.html").read_text()
    )
    report = (g["out"] / "report.txt").read_text().splitlines()
    assert report[2] == (
        "Awaiting manual grading (written answers; grade them in nbgrader's formgrader): explain (4 points)."
    )
    assert sum("explain" in line for line in report) == 1


def test_formgrader_finds_each_submission_and_its_written_answer(graded_with_answers):
    """nbgrader's own API, as formgrader uses it: each submission is autograded, needs manual grading,
    its notebook is in autograded/, and formgrader's GetGrades finds a grade and a comment for every
    graded and solution cell of it; a person's grade survives a re-run and shows in the export."""
    from nbgrader.api import Gradebook
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import GetGrades

    g = graded_with_answers
    api = NbGraderAPI(coursedir=CourseDirectory(root=str(g["out"]), db_url=g["url"]))
    subs = {s["student"]: s for s in api.get_submissions("toy")}
    assert set(subs) == {"ann", "ben"} and all(s["autograded"] and s["needs_manual_grade"] for s in subs.values())
    assert (subs["ann"]["code_score"], subs["ann"]["max_written_score"]) == (5.0, 4.0)
    assert {s["student"] for s in api.get_notebook_submissions("toy", "toy")} == {"ann", "ben"}
    nb = nbformat.read(g["out"] / "autograded" / "ann" / "toy" / "toy.ipynb", as_version=4)
    assert "order of a and b" in nb.cells[6].source
    resources = {"nbgrader": {"notebook": "toy", "assignment": "toy", "student": "ann", "db_url": g["url"]}}
    nb, resources = GetGrades().preprocess(nb, resources)
    assert resources["nbgrader"]["score"] == 5.0 and resources["nbgrader"]["max_score"] == 9.0
    with Gradebook(g["url"]) as gb:
        written = gb.find_grade("explain", "toy", "toy", "ann")
        assert written.cell.cell_type == "markdown" and written.needs_manual_grade and written.auto_score is None
        assert gb.find_grade("add_tests", "toy", "toy", "ann").auto_score == 2.0
        written.manual_score = 3.5  # a person grades it in formgrader
        gb.db.commit()
    again = grade_again(g)
    assert again == 0
    with Gradebook(g["url"]) as gb:
        written = gb.find_grade("explain", "toy", "toy", "ann")
        assert written.manual_score == 3.5 and not written.needs_manual_grade
    export_csv(g["url"], g["tmp"] / "export.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(g["tmp"] / "export.csv"))}
    assert (rows["ann"]["raw_score"], rows["ann"]["max_score"], rows["ben"]["raw_score"]) == ("8.5", "9.0", "2.0")


def grade_again(g) -> int:
    from autograder.batch import grade_folder

    return grade_folder(
        "toy",
        g["tmp"] / "subs",
        g["out"],
        workers=1,
        cell_timeout=10,
        progress=False,
        source=g["toy"],
        db_url=g["url"],
        release=g["release"],
    )


def test_the_export_is_nbgraders_csv_with_nothing_forgeable(tmp_path):
    """Names a person typed into the gradebook (or anything else in it) with commas, newlines and
    formulas stay in their cells: one row per student, no cell a spreadsheet would run."""
    from nbgrader.api import Gradebook

    from autograder.batch.gradebook import ensure_alembic_on_path

    ensure_alembic_on_path()
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("hw")
        gb.add_student("s1", first_name="=cmd|' /C calc'!A0", last_name="Doe,\nfake,row,1.0", email="+1@x")
        gb.add_student("s2", first_name="Ann", last_name="\x1b[31mRed")
    export_csv(url, tmp_path / "export.csv")
    rows = list(csv.reader(open(tmp_path / "export.csv", newline="")))
    assert rows[0] == [
        "assignment",
        "duedate",
        "timestamp",
        "student_id",
        "last_name",
        "first_name",
        "email",
        "raw_score",
        "late_submission_penalty",
        "score",
        "max_score",
    ]
    assert sorted(r[3] for r in rows[1:]) == ["s1", "s2"] and all(len(r) == 11 for r in rows)
    by_id = {r[3]: r for r in rows[1:]}
    assert by_id["s1"][4:7] == ["Doe,\\nfake,row,1.0", "'=cmd|' /C calc'!A0", "'+1@x"]
    assert by_id["s2"][4] == "\\x1b[31mRed"
