"""The values that flow through the grader, typed.

One value in, one value out:

- :class:`Assignment`: a homework as the grader sees it, its source notebook parsed once per
  batch (its release too, where there is one), its graded parts;
- :class:`SubmissionResult`: what grading one submission gave, built by the grading process
  (:func:`autograder.trusted.grade.grade_submission`) or, when there is nothing to grade, by
  :meth:`SubmissionResult.ungradable`; stored as ``results/<student>.json``
  (:meth:`SubmissionResult.to_json`) and read by every writer of grades: grades.csv, the
  report, the feedback pages, the gradebook, ``python -m autograder check``.

And the trusted runner's currency (:mod:`autograder.trusted.runner`): :class:`Cell`, one cell to
run, and :class:`Outcome`, what it did; :class:`PartResult`, one graded part of a result.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import EXERCISES, SOLUTIONS
from .parts import Part, read_parts


class AssignmentNotFound(ValueError):
    """The assignment's folder does not hold exactly one source notebook (the message says so)."""


def source_notebook(assignment: str) -> Path:
    """The instructor's notebook of ``assignment`` (exactly one per assignment folder)."""
    found = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    if len(found) != 1:
        raise AssignmentNotFound(f"expected one notebook in {SOLUTIONS / assignment}, found {len(found)}")
    return found[0]


def release_notebook(assignment: str) -> Path | None:
    """The student version of ``assignment`` in ``exercises/`` (the source's name), if it exists."""
    path = EXERCISES / assignment / source_notebook(assignment).name
    return path if path.exists() else None


@dataclass(frozen=True)
class Assignment:
    """A homework: its name, its source notebook (``solutions/``, hidden tests included) and,
    where there is one, its release (``exercises/``), each read once; its graded parts."""

    name: str
    source_path: Path
    source: nbformat.NotebookNode
    parts: tuple[Part, ...]
    release_path: Path | None = None
    release: nbformat.NotebookNode | None = None
    source_fingerprint: str = ""

    @classmethod
    def load(
        cls, name: str, source_path: Path | None = None, release_path: Path | None = None, with_release: bool = True
    ) -> Assignment:
        """``name``'s notebooks: ``source_path`` (default: the one in ``solutions/<name>/``) and, unless
        not ``with_release``, ``release_path`` (default: ``exercises/<name>/`` with the source's file
        name; none if missing)."""
        source_path = source_path or source_notebook(name)
        release_path = release_path or EXERCISES / name / source_path.name
        data = source_path.read_bytes()
        source = nbformat.reads(data.decode("utf-8"), as_version=4)
        has_release = with_release and release_path.exists()
        return cls(
            name,
            source_path,
            source,
            tuple(read_parts(source)),
            release_path if has_release else None,
            nbformat.read(release_path, as_version=4) if has_release else None,
            fingerprint(data),
        )

    @property
    def part_ids(self) -> list[str]:
        return [p.grade_id for p in self.parts]

    @property
    def code_cells(self) -> int:
        return sum(c.cell_type == "code" for c in self.source.cells)


def fingerprint(data: bytes | None) -> str:
    """SHA-256 of a file's bytes ('' when there is none): a re-run regrades changed files only."""
    return hashlib.sha256(data).hexdigest() if data is not None else ""


@dataclass
class PartResult:
    """Outcome of one graded part, as the student and the grades CSV see it."""

    grade_id: str
    max_points: float
    points: float
    status: str  # "passed" | "failed" | "not run" | "manual" (a written answer, graded by a person)
    message: str
    manual: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SubmissionResult:
    """What grading one submission gave: ``status`` ("graded", or "ungradable" when nothing could
    be run), a result per part, notes for the report and the student, review flags; the batch adds
    which file was graded and the fingerprints that let a re-run keep the grade."""

    status: str
    parts: list[PartResult]
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    submission: str | None = None
    fingerprint: str | None = None
    source_fingerprint: str | None = None

    @property
    def score(self) -> float:
        return sum(p.points for p in self.parts if not p.manual)

    @property
    def max_score(self) -> float:
        return sum(p.max_points for p in self.parts if not p.manual)

    @property
    def manual_max(self) -> float:
        """Points of the written answers, which a person grades."""
        return sum(p.max_points for p in self.parts if p.manual)

    @classmethod
    def ungradable(
        cls, parts: tuple[Part, ...] | list[Part], note: str, status: str = "ungradable", message: str | None = None
    ) -> SubmissionResult:
        """Every part at zero (``message``, by default ``note``: what went wrong); a written answer
        still awaits a person."""
        return cls(
            status,
            [
                PartResult(
                    p.grade_id,
                    p.points,
                    0.0,
                    "manual" if p.manual else "not run",
                    note if message is None else message,
                    manual=p.manual,
                )
                for p in parts
            ],
            [note],
        )

    def to_json(self) -> dict[str, Any]:
        """The record of ``results/<student>.json`` (a dict for :func:`json.dumps`)."""
        out: dict[str, Any] = {
            "status": self.status,
            "flags": self.flags,
            "parts": [p.to_dict() for p in self.parts],
            "score": self.score,
            "max_score": self.max_score,
            "manual_max": self.manual_max,
            "notes": self.notes,
            "seconds": self.seconds,
        }
        for key in ("submission", "fingerprint", "source_fingerprint"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmissionResult:
        """The result recorded by :meth:`to_json` (KeyError or TypeError when it is not one)."""
        parts = [
            PartResult(
                str(p["grade_id"]),
                float(p["max_points"]),
                float(p["points"]),
                str(p["status"]),
                str(p["message"]),
                bool(p.get("manual", False)),
            )
            for p in data["parts"]
        ]
        return cls(
            str(data["status"]),
            parts,
            [str(n) for n in data["notes"]],
            [str(f) for f in data.get("flags", [])],
            float(data.get("seconds", 0.0)),
            data.get("submission"),
            data.get("fingerprint"),
            data.get("source_fingerprint"),
        )


@dataclass
class Cell:
    """One code cell to run: where it runs (``kind``) and its source."""

    index: int  # in the source notebook
    kind: str  # "setup" | "solution" | "test"
    source: str
    grade_id: str | None = None


@dataclass
class Outcome:
    """What a cell did: ``completed`` (ran to its end or raised), its error and output."""

    completed: bool = False
    error: tuple[str, str] | None = None
    stdout: str = ""
    notes: list[str] = field(default_factory=list)
    hidden_input: bool = False  # the error is the student's own, raised on a hidden test's input
