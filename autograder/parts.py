"""Graded parts of an nbgrader source notebook.

A part is one autograded test cell (nbgrader ``grade: true`` on a code cell), or one
written answer that a person grades (nbgrader's "manually graded answer": a markdown cell
with ``solution: true`` and ``grade: true``); its ``grade_id`` names it and ``points``
weighs it. Solution cells (``solution: true`` on a code cell) hold the student's code for
the parts.
"""

from __future__ import annotations

from dataclasses import dataclass


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata, or ``{}``."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_solution_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution")) and cell.get("cell_type") == "code"


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def is_answer_cell(cell) -> bool:
    """A written answer that a person grades (markdown, ``solution`` and ``grade``)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and bool(meta.get("solution")) and cell.get("cell_type") == "markdown"


@dataclass(frozen=True)
class Part:
    """One graded cell: ``grade_id``, its ``points``, its index in the source notebook, and whether a
    person grades it (``manual``: a written answer) or its tests do."""

    grade_id: str
    points: float
    cell_index: int
    manual: bool = False


def read_parts(source_nb) -> list[Part]:
    """The graded parts of a source notebook, in notebook order."""
    parts = []
    for i, cell in enumerate(source_nb.cells):
        if is_test_cell(cell) or is_answer_cell(cell):
            meta = nbgrader_meta(cell)
            parts.append(Part(meta["grade_id"], float(meta.get("points", 0)), i, is_answer_cell(cell)))
    ids = [p.grade_id for p in parts]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate grade_id among test cells: {ids}")
    return parts
