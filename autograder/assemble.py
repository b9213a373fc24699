"""The notebook that grading executes for one submission.

It follows the *source* notebook cell by cell: the instructor's setup and test
cells (hidden tests included) come from the source, and only the code of the
solution cells comes from the submission, matched by nbgrader ``grade_id``. So a
student cannot edit or delete a test, and cells a student added are not run.
"""
from __future__ import annotations

import copy

import nbformat

from .parts import is_solution_cell, nbgrader_meta


def solution_cells_by_id(submission_nb) -> dict[str, str]:
    """``grade_id`` -> source of the submission's solution cells (first one wins)."""
    found: dict[str, str] = {}
    for cell in submission_nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid and meta.get("solution") and cell.get("cell_type") == "code" and gid not in found:
            found[gid] = cell.get("source", "")
    return found


def assemble(source_nb, submission_nb) -> tuple[nbformat.NotebookNode, list[str], dict[int, int]]:
    """Return ``(notebook to execute, notes about the submission, index map)``.

    The index map sends a source cell's index to its index in the assembled notebook.

    A solution cell missing from the submission is run as an empty stub (its part
    then fails with a clear message) and noted.
    """
    student = solution_cells_by_id(submission_nb)
    notes = []
    cells = []
    index_map = {}
    for i, cell in enumerate(source_nb.cells):
        if cell.get("cell_type") != "code":
            continue
        new = copy.deepcopy(cell)
        new["outputs"] = []
        new["execution_count"] = None
        if is_solution_cell(cell):
            gid = nbgrader_meta(cell)["grade_id"]
            if gid in student:
                new["source"] = student[gid]
            else:
                notes.append(f"solution cell '{gid}' not found in the submission: graded as not attempted")
                new["source"] = "raise NotImplementedError('this solution cell is missing from the submission')"
        index_map[i] = len(cells)
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source_nb.metadata))
    return nb, notes, index_map
