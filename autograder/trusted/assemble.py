"""What grading runs for one submission, and the submission restored onto the release.

It follows the *source* notebook cell by cell: the instructor's setup and test
cells (hidden tests included) come from the source, and only the code of the
solution cells comes from the submission (see :func:`plan`; tests run in the trusted
process, the student's code in the sandboxed kernel, :mod:`autograder.trusted.runner`). So a
student cannot edit or delete a test, cells a student added are not run, and cells moved out of order are graded
in the source's order.

Submissions get damaged on the way (editors and Colab round trips strip cell
metadata, cells are retyped or turned into markdown). Each solution cell of the
source is found in the submission by, in turn:

1. its nbgrader ``grade_id``;
2. its cell ``id`` (nbformat >= 4.5 keeps it when metadata is lost);
3. its content: the lines the release gave the student around the stub (the
   ``def`` line, the docstring), whichever unmatched code cell holds most of them.

Every repair is reported in the notes.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

import nbformat

from coursekit import rules

from ..model import Cell
from ..parts import is_answer_cell, is_solution_cell, is_test_cell, nbgrader_meta
from .review import scan

_SOLUTION_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION.*?### END SOLUTION[^\n]*\n?", re.S | re.M)
MIN_CONTENT_SCORE = 0.5


def anchor_lines(source_cell_text: str) -> list[str]:
    """Lines of a solution cell that the student version keeps verbatim (outside the solution block)."""
    kept = _SOLUTION_BLOCK.sub("", source_cell_text)
    return [ln.strip() for ln in kept.splitlines() if len(ln.strip()) >= 4]


def _content_score(anchors: list[str], text: str) -> float:
    if not anchors:
        return 0.0
    lines = {ln.strip() for ln in text.splitlines()}
    return sum(a in lines for a in anchors) / len(anchors)


def match_solution_cells(source_nb, submission_nb) -> tuple[dict[str, str], list[str]]:
    """``grade_id`` -> the submission's code for each solution cell of the source, and repair notes."""
    found, notes = _match(source_nb, submission_nb)
    answers = {nbgrader_meta(c)["grade_id"] for c in source_nb.cells if is_answer_cell(c)}
    code: dict[str, str] = {}
    for gid, k in found.items():
        if gid in answers:  # a written answer: read by a person, never run
            continue
        cell = submission_nb.cells[k]
        if cell.get("cell_type") != "code":
            notes.append(f"cell '{gid}' had been turned into a {cell.get('cell_type')} cell: graded as code")
        code[gid] = cell.get("source", "")
    return code, notes


def _match(source_nb, submission_nb) -> tuple[dict[str, int], list[str]]:
    """``grade_id`` -> index of the submission cell holding that solution (or written answer),
    and repair notes."""
    wanted = [(i, c) for i, c in enumerate(source_nb.cells) if is_solution_cell(c) or is_answer_cell(c)]
    cells = submission_nb.cells
    used: set[int] = set()
    found: dict[str, int] = {}
    notes: list[str] = []

    for _, src in wanted:  # 1. by grade_id (the last copy wins, as it would in the student's kernel)
        gid = nbgrader_meta(src)["grade_id"]
        hits = [k for k, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") == gid and not is_test_cell(c)]
        if hits:
            found[gid] = hits[-1]
            used.update(hits)
            if len(hits) > 1:
                notes.append(f"cell '{gid}' appears {len(hits)} times: the last copy was graded")

    for _, src in wanted:  # 2. by cell id
        gid = nbgrader_meta(src)["grade_id"]
        if gid in found or not src.get("id"):
            continue
        hits = [k for k, c in enumerate(cells) if k not in used and c.get("id") == src.get("id")]
        if hits:
            found[gid] = hits[0]
            used.add(hits[0])
            notes.append(f"cell '{gid}' had lost its nbgrader metadata: matched by its cell id")

    for pos, src in wanted:  # 3. by content, nearest position breaking ties
        gid = nbgrader_meta(src)["grade_id"]
        if gid in found:
            continue
        anchors = anchor_lines(src.source)
        scored = [
            (_content_score(anchors, c.get("source", "")), -abs(k - pos), k)
            for k, c in enumerate(cells)
            if k not in used and not is_test_cell(c)
        ]
        scored = [s for s in scored if s[0] >= MIN_CONTENT_SCORE]
        if scored:
            k = max(scored)[2]
            found[gid] = k
            used.add(k)
            notes.append(f"cell '{gid}' had lost its nbgrader metadata: matched by its content")

    return found, notes


def reconcile(release_nb, source_nb, submission_nb) -> nbformat.NotebookNode:
    """The submission restored onto the release: every cell, metadata and test of the student
    version, with the student's code in the solution cells; cells the student added follow at
    the end, under a heading (they are kept, not graded)."""
    found, _ = _match(source_nb, submission_nb)
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        gid = nbgrader_meta(cell).get("grade_id")
        if (is_solution_cell(cell) or is_answer_cell(cell)) and gid in found:
            cell["source"] = submission_nb.cells[found[gid]].get("source", "")
    known = {c.get("source", "").strip() for c in release_nb.cells} | {
        c.get("source", "").strip() for c in source_nb.cells
    }
    used = set(found.values())
    added = [
        copy.deepcopy(c)
        for k, c in enumerate(submission_nb.cells)
        if k not in used
        and c.get("source", "").strip()
        and c.get("source", "").strip() not in known
        and not is_test_cell(c)
        and not nbgrader_meta(c).get("grade_id")
    ]
    if added:
        nb.cells.append(nbformat.v4.new_markdown_cell("## Cells you added (kept here, not graded)"))
        for cell in added:
            cell.get("metadata", {}).pop("nbgrader", None)
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
            nb.cells.append(cell)
    return nb


def bound_names(code: str, imports: bool = True) -> set[str]:
    """Names that ``code`` binds at its top level (functions, classes, assignments, and imports
    unless ``imports`` is false); none for code that does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return rules.bound_names(tree, imports=imports)


@dataclass
class Plan:
    """What grading runs for one submission (see :func:`plan`); ``student_sources`` (the
    submission's code by solution cell) and ``setup_sources`` are what :mod:`coursekit.rules`
    reads."""

    cells: list[Cell]
    notes: list[str]
    flags: list[str]
    student_names: set[str]
    shared_names: set[str]
    student_sources: dict[str, str]
    setup_sources: list[str]


def plan(source_nb, submission_nb) -> Plan:
    """The cells to run for ``submission_nb``, in the source notebook's order.

    Setup and test cells come from the source (hidden tests included); only the code
    of the solution cells comes from the submission. A solution cell that cannot be
    found runs as a stub that raises (its part then fails with a clear message) and is
    noted. ``student_names`` are the names the source's solution cells define (the test
    cells find them in the student's kernel); ``shared_names`` those of its setup cells.
    Review flags are the known-cheat patterns found in the student's code
    (:func:`autograder.trusted.review.scan`): a flag for a person to look at, never a defence.
    """
    student, notes = match_solution_cells(source_nb, submission_nb)
    flags = [f"cell '{gid}' {flag}" for gid, code in student.items() for flag in scan(code)]
    cells: list[Cell] = []
    student_names: set[str] = set()
    shared_names: set[str] = set()
    for i, cell in enumerate(source_nb.cells):
        if cell.get("cell_type") != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        if is_solution_cell(cell):
            student_names |= bound_names(cell.source, imports=False)
            if gid in student:
                code = student[gid]
            else:
                notes.append(f"cell '{gid}' was not found in the submission: graded as not attempted")
                code = "raise NotImplementedError('this solution cell is missing from the submission')"
            cells.append(Cell(i, "solution", code, gid))
        elif is_test_cell(cell):
            cells.append(Cell(i, "test", cell.source, gid))
        else:
            shared_names |= bound_names(cell.source)
            cells.append(Cell(i, "setup", cell.source, gid))
    return Plan(
        cells,
        notes,
        flags,
        student_names - shared_names,
        shared_names,
        {c.grade_id: c.source for c in cells if c.kind == "solution" and c.grade_id},
        [c.source for c in cells if c.kind == "setup"],
    )
