"""The values that flow through the grader, typed.

- :class:`Cell` and :class:`Outcome`: one cell to run, and what it did (the trusted runner's
  currency, :mod:`autograder.trusted.runner`);
- :class:`PartResult`: one graded part, as the student and the grades CSV see it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class PartResult:
    """Outcome of one graded part, as the student and the grades CSV see it."""

    grade_id: str
    max_points: float
    points: float
    status: str  # "passed" | "failed" | "not run" | "manual" (a written answer, graded by a person)
    message: str
    manual: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Cell:
    """One code cell to run: where it runs (``kind``) and its source."""

    index: int            # in the source notebook
    kind: str             # "setup" | "solution" | "test"
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
