"""Grades into nbgrader's gradebook (SQLite by default, PostgreSQL through a URL).

Only the batch's main thread writes, one submission at a time, as results come
in from the worker processes: concurrent workers never open the database, so
SQLite never reports "database is locked" and no grade is lost to a race. The
gradebook then serves nbgrader's own tools (formgrader, ``nbgrader export``).

URLs: ``sqlite:////abs/path/gradebook.db`` or
``postgresql://user:password@127.0.0.1:5432/dbname``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from .parts import Part

CONFIG_DIR = Path(__file__).resolve().parent


def normalise_url(db_url: str) -> str:
    """``postgresql://`` means the psycopg2 driver this course installs (SQLAlchemy 2.1 would pick psycopg 3)."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + db_url.split("://", 1)[1]
    return db_url


class GradebookWriter:
    """Keeps one gradebook connection for a batch; :meth:`record` stores one student's grades."""

    def __init__(self, db_url: str, assignment: str, notebook: str, parts: list[Part]):
        if db_url.startswith("sqlite:///"):
            Path(db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.assignment, self.notebook = assignment, notebook
        ensure_alembic_on_path()
        self.gb = Gradebook(normalise_url(db_url))
        self.gb.update_or_create_assignment(assignment)
        self.gb.update_or_create_notebook(notebook, assignment)
        for part in parts:
            self.gb.update_or_create_grade_cell(part.grade_id, notebook, assignment,
                                                max_score=part.points, cell_type="code")

    def record(self, student: str, result: dict) -> None:
        self.gb.update_or_create_student(student)
        self.gb.update_or_create_submission(self.assignment, student)
        for part in result["parts"]:
            grade = self.gb.find_grade(part["grade_id"], self.notebook, self.assignment, student)
            grade.auto_score = float(part["points"])
            grade.needs_manual_grade = bool(result.get("flags")) or result["status"] != "graded"
        self.gb.db.commit()

    def scores(self) -> dict[str, float]:
        """Total score per student of this assignment, read back from the database."""
        return {s.student.id: float(s.score) for s in self.gb.assignment_submissions(self.assignment)}

    def close(self) -> None:
        self.gb.close()


def ensure_alembic_on_path() -> None:
    """nbgrader runs the ``alembic`` executable by name: put this interpreter's bin/ on PATH."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def default_url() -> str:
    from . import COURSE_ROOT

    return "sqlite:///" + str(COURSE_ROOT / "grading" / "gradebook.db")


def nbgrader_export(db_url: str, to: Path) -> None:
    """Run ``nbgrader export`` (its CSV plugin) on the gradebook at ``db_url``."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "nbgrader", "export", f"--CourseDirectory.db_url={normalise_url(db_url)}",
           f"--CsvExportPlugin.to={to}"]
    done = subprocess.run(cmd, cwd=CONFIG_DIR, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not Path(to).exists():
        raise RuntimeError(f"nbgrader export failed:\n{done.stdout}\n{done.stderr}")
