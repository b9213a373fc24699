"""Grades into nbgrader's gradebook (SQLite by default, PostgreSQL through a URL).

Only the batch's main thread writes, one submission at a time, as results come
in from the worker processes: concurrent workers never open the database, so
SQLite never reports "database is locked" and no grade is lost to a race. The
gradebook then serves nbgrader's own tools (formgrader, ``nbgrader export``);
:func:`export_csv` writes nbgrader's CSV export itself, safely quoted.

URLs: ``sqlite:////abs/path/gradebook.db`` or
``postgresql://user:password@127.0.0.1:5432/dbname``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from ..model import Assignment, SubmissionResult


def normalise_url(db_url: str) -> str:
    """``postgresql://`` means the psycopg2 driver this course installs (SQLAlchemy 2.1 would pick psycopg 3)."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + db_url.split("://", 1)[1]
    return db_url


class GradebookWriter:
    """Keeps one gradebook connection for a batch; :meth:`record` stores one student's grades.

    The assignment's cells are mirrored as nbgrader's own ``generate_assignment`` would:
    a grade cell per graded part (``cell_type`` "code" for tests, "markdown" for a written
    answer) and a solution cell per cell a student writes in, so that nbgrader's formgrader
    can show a submission (with :func:`autograder.batch.folder.write_reconciled`'s
    ``autograded/`` copy) and a person can grade its written answers."""

    def __init__(self, db_url: str, assignment: Assignment) -> None:
        if db_url.startswith("sqlite:///"):
            Path(db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.assignment, self.notebook = assignment.name, assignment.source_path.stem
        ensure_alembic_on_path()
        self.gb = Gradebook(normalise_url(db_url))
        self.gb.update_or_create_assignment(self.assignment)
        self.gb.update_or_create_notebook(self.notebook, self.assignment)
        self.graded, self.solutions = graded_cells(assignment.source)
        for name, (points, cell_type) in self.graded.items():
            self.gb.update_or_create_grade_cell(
                name, self.notebook, self.assignment, max_score=points, cell_type=cell_type
            )
        for name in self.solutions:
            self.gb.update_or_create_solution_cell(name, self.notebook, self.assignment)

    def record(self, student: str, result: SubmissionResult) -> None:
        """Store ``result``: auto scores for tested parts, a written answer left to a person
        (``needs_manual_grade``, no auto score; a score a person already gave is kept)."""
        self.gb.update_or_create_student(student)
        self.gb.update_or_create_submission(self.assignment, student)
        submitted = self.gb.find_submission_notebook(self.notebook, self.assignment, student)
        self._complete(submitted)
        review = bool(result.flags) or result.status != "graded"
        for part in result.parts:
            grade = self.gb.find_grade(part.grade_id, self.notebook, self.assignment, student)
            if part.manual:
                grade.auto_score = None
                grade.needs_manual_grade = grade.manual_score is None
            else:
                grade.auto_score = float(part.points)
                grade.needs_manual_grade = review
        self.gb.db.commit()

    def _complete(self, submitted) -> None:
        """Grade and comment rows for cells added to the assignment after this submission was made."""
        from nbgrader.api import Comment, Grade

        have_grades = {g.cell.name for g in submitted.grades}
        have_comments = {c.cell.name for c in submitted.comments}
        for cell in submitted.notebook.grade_cells:
            if cell.name not in have_grades:
                self.gb.db.add(Grade(cell_id=cell.id, notebook=submitted))
        for cell in submitted.notebook.solution_cells:
            if cell.name not in have_comments:
                self.gb.db.add(Comment(cell_id=cell.id, notebook=submitted))
        self.gb.db.flush()

    def close(self) -> None:
        self.gb.close()


def graded_cells(source_nb) -> tuple[dict[str, tuple[float, str]], list[str]]:
    """The source notebook's graded cells (grade_id -> (points, cell type)) and the grade_ids of
    its solution cells (code a student writes, and written answers)."""
    from ..parts import nbgrader_meta

    graded, solutions = {}, []
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("grade_id"):
            continue
        if meta.get("grade"):
            graded[meta["grade_id"]] = (float(meta.get("points", 0)), cell.cell_type)
        if meta.get("solution"):
            solutions.append(meta["grade_id"])
    return graded, solutions


EXPORT_COLUMNS = [
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
TEXT_COLUMNS = {"assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email"}


def export_csv(db_url: str, to: Path) -> None:
    """The gradebook as nbgrader's CSV export plugin writes it (same columns, every assignment
    and student), through Python's csv writer with spreadsheet-safe text cells; students in the
    order of their ids (nbgrader's order is by name, and ours have none: the order they were
    recorded, which a batch graded in parallel does not fix)."""
    import csv

    from nbgrader.api import MissingEntry

    from .outputs import cell

    ensure_alembic_on_path()
    with Gradebook(normalise_url(db_url)) as gb, open(to, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        for assignment in gb.assignments:
            for student in sorted(gb.students, key=lambda s: s.id):  # not in the order graded
                row = {
                    "assignment": assignment.name,
                    "duedate": assignment.duedate,
                    "student_id": student.id,
                    "last_name": student.last_name,
                    "first_name": student.first_name,
                    "email": student.email,
                    "max_score": assignment.max_score,
                }
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                else:
                    penalty = sub.late_submission_penalty
                    row.update(
                        timestamp=sub.timestamp,
                        raw_score=sub.score,
                        late_submission_penalty=penalty,
                        score=max(0.0, sub.score - (penalty or 0.0)),
                    )
                values = ["" if row[k] is None else str(row[k]) for k in EXPORT_COLUMNS]
                writer.writerow([cell(v) if k in TEXT_COLUMNS else v for k, v in zip(EXPORT_COLUMNS, values)])


def ensure_alembic_on_path() -> None:
    """nbgrader runs the ``alembic`` executable by name: put this interpreter's bin/ on PATH."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def default_url() -> str:
    from .. import COURSE_ROOT

    return "sqlite:///" + str(COURSE_ROOT / "grading" / "gradebook.db")
