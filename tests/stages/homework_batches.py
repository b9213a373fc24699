"""The graded batch of each homework, built once per test session and shared by the stages.

One batch per assignment holds: the instructor's solution, the released student version,
the classic mistakes of tests/buggy/<assignment>.py packed into a few submissions
(``pack_bugs``), the lying kernels of tests/stages/liars.py (every mode, and the attacks
tailored to this homework), and in the first assignment's batch a submission that loops
forever and one that kills its kernel. Grading them together costs one sandbox start per
homework; tests/stages/test_grading.py and test_lying_kernel.py read the results.

The grading stage runs its tests in two pytest-xdist workers (``--dist loadgroup``): every test
that reads a homework's batch is in that homework's group (:func:`per_batch`, :func:`same_batch`),
so one worker grades the batch once and runs them all, while the other grades another.
"""

import csv
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from liars import MODES, TAILORED, liar_notebook, liar_on, tailored_notebook

from autograder.batch import grade_folder
from autograder.model import source_notebook
from autograder.parts import is_solution_cell, nbgrader_meta, read_parts
from autograder.release import assignments

ROOT = Path(__file__).resolve().parents[2]
# Seconds per cell: ten times the slowest cell of the assignment's solution here, at least 20 (the
# looping submission of the first assignment costs one worker this long).
CELL_TIMEOUT = {"hw5_lenet5": 60.0}
DEFAULT_CELL_TIMEOUT = 20.0
LOOP_CELL = "while True:\n    pass\n"
CRASH_CELL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
LIAR_CHECK = "hw2_convolution"  # its batch also grades the solution with a liar installed


def same_batch(assignment: str) -> pytest.MarkDecorator:
    """Runs a test in the xdist worker that grades ``assignment``'s batch (one group per batch)."""
    return pytest.mark.xdist_group(assignment)


def per_batch(names: list[str], assignment_of=lambda name: name) -> list:
    """Parameters ``names``, each in the group of its assignment's batch (``assignment_of(name)``)."""
    return [pytest.param(name, marks=same_batch(assignment_of(name))) for name in names]


def load_bugs(assignment: str) -> list[dict]:
    path = ROOT / "tests" / "buggy" / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"buggy_{assignment}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BUGS


def pack_bugs(bugs: list[dict]) -> list[list[dict]]:
    """Greedy packing: each mistake joins the first submission with no mistake in its cell or its parts."""
    packs: list[list[dict]] = []
    for bug in bugs:
        for pack in packs:
            if all(b["cell"] != bug["cell"] and not set(b["breaks"]) & set(bug["breaks"]) for b in pack):
                pack.append(bug)
                break
        else:
            packs.append([bug])
    return packs


def patched_many(source_nb, bugs: list[dict]):
    """``source_nb`` with every mistake of ``bugs`` applied (at most one per solution cell)."""
    nb = source_nb
    for bug in bugs:
        nb = patched(nb, bug["cell"], bug["find"], bug["replace"])
    return nb


def patched(source_nb, grade_id: str, find: str | None = None, replace: str = "", prepend: str = ""):
    nb = nbformat.from_dict(json.loads(json.dumps(source_nb)))
    hits = [c for c in nb.cells if is_solution_cell(c) and nbgrader_meta(c).get("grade_id") == grade_id]
    assert len(hits) == 1, f"no single solution cell {grade_id!r}"
    cell = hits[0]
    if find is not None:
        assert cell.source.count(find) == 1, f"{find!r} must occur once in cell {grade_id!r}"
        cell.source = cell.source.replace(find, replace)
    cell.source = prepend + cell.source
    return nb


def solution_ids(source_nb) -> list[str]:
    return [nbgrader_meta(c)["grade_id"] for c in source_nb.cells if is_solution_cell(c)]


_BATCHES: dict[str, dict] = {}


def batch(assignment: str, tmp_root: Path) -> dict:
    """Build the corpus of ``assignment``, grade it once, return everything a test needs.

    Keys: ``results`` (student -> result JSON), ``rows`` (grades.csv), ``out`` (the output
    folder), ``bugs`` and ``packs`` (the mistakes, and which share a submission: ``bugs_<k>``),
    ``submission_of`` (mistake name -> student), ``liars`` (the lying kernels' students),
    ``extra`` (the looping and crashing cells), ``source_nb``, ``parts``, ``code`` (exit code).
    """
    if assignment in _BATCHES:
        return _BATCHES[assignment]
    source_path = source_notebook(assignment)
    source_nb = nbformat.read(source_path, as_version=4)
    subs = tmp_root / assignment / "submissions"
    subs.mkdir(parents=True)
    nbformat.write(source_nb, subs / "solution.ipynb")
    (release,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    (subs / "released_stub.ipynb").write_bytes(release.read_bytes())
    bugs = load_bugs(assignment)
    packs = pack_bugs(bugs)
    for i, pack in enumerate(packs):
        nbformat.write(patched_many(source_nb, pack), subs / f"bugs_{i:02d}.ipynb")
    cases = [case for case in TAILORED if TAILORED[case][0] == assignment]
    liars = [f"liar_{mode}" for mode in MODES] + [f"tailored_{case}" for case in cases]
    for mode in MODES:
        nbformat.write(liar_notebook(assignment, mode), subs / f"liar_{mode}.ipynb")
    for case in cases:
        nbformat.write(tailored_notebook(case), subs / f"tailored_{case}.ipynb")
    extra = {}
    if assignment == LIAR_CHECK:
        nbformat.write(liar_on(source_nb), subs / "liar_on_solution.ipynb")
    if assignment == assignments()[0]:
        ids = solution_ids(source_nb)
        extra = {"loop": ids[-1], "crash": ids[len(ids) // 2]}
        nbformat.write(patched(source_nb, extra["loop"], prepend=LOOP_CELL), subs / "loops_forever.ipynb")
        nbformat.write(patched(source_nb, extra["crash"], prepend=CRASH_CELL), subs / "kills_kernel.ipynb")
    out = tmp_root / assignment / "graded"
    code = grade_folder(
        assignment,
        subs,
        out,
        workers=2,
        cell_timeout=CELL_TIMEOUT.get(assignment, DEFAULT_CELL_TIMEOUT),
        progress=False,
    )
    with open(out / "grades.csv") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    _BATCHES[assignment] = dict(
        assignment=assignment,
        code=code,
        rows=rows,
        results=results,
        out=out,
        bugs=bugs,
        extra=extra,
        source_nb=source_nb,
        parts=read_parts(source_nb),
        packs=packs,
        liars=liars,
        submission_of={b["name"]: f"bugs_{i:02d}" for i, p in enumerate(packs) for b in p},
    )
    return _BATCHES[assignment]
