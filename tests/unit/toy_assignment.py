"""A two-part toy assignment for fast tests of the grader (one kernel per case)."""

import json
from pathlib import Path

import nbformat

from autograder.batch import grade_folder

META = {"schema_version": 3, "locked": False, "solution": False, "grade": False}


def cell(kind, source, **nbgrader):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    meta = {"nbgrader": dict(META, **nbgrader)} if nbgrader else {}
    return make(source, metadata=meta)


SOLUTION_ADD = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
SOLUTION_MUL = "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION"
TEST_ADD = (
    "assert add(1, 2) == 3, 'add(1, 2) should be 3'\n### BEGIN HIDDEN TESTS\n"
    "assert add(-5, 7) == 2, 'add fails on a negative number'\n### END HIDDEN TESTS"
)
TEST_MUL = (
    "check_scalar(mul(2, 3), 6, 'mul(2, 3)')\n### BEGIN HIDDEN TESTS\n"
    "check_scalar(mul(-2, 4), -8, 'mul on a negative number')\n### END HIDDEN TESTS"
)


ANSWER = "Addition is commutative.\n### BEGIN SOLUTION\nBecause a + b = b + a.\n### END SOLUTION"


def make_toy(tmp_path, answer: bool = False):
    """The toy source notebook (``answer``: with a written answer worth 4 points, graded by a person)."""
    source = nbformat.v4.new_notebook(
        cells=[
            cell("markdown", "# Toy"),
            cell("code", "import math\nfrom coursekit.checks import check_scalar"),
            cell("code", SOLUTION_ADD, solution=True, grade_id="add"),
            cell("code", TEST_ADD, grade=True, locked=True, grade_id="add_tests", points=2),
            cell("code", SOLUTION_MUL, solution=True, grade_id="mul"),
            cell("code", TEST_MUL, grade=True, locked=True, grade_id="mul_tests", points=3),
        ]
    )
    if answer:
        source.cells.append(cell("markdown", ANSWER, solution=True, grade=True, grade_id="explain", points=4))
    source.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "toy.ipynb"
    nbformat.write(source, path)
    return path


def make_release(source_path, folder):
    """The student version of a toy source: stubs in the solution cells, no hidden tests, no answer."""
    import re

    nb = nbformat.read(source_path, as_version=4)
    for c in nb.cells:
        c.source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", c.source, flags=re.S)
        stub = "YOUR ANSWER HERE" if c.cell_type == "markdown" else "    raise NotImplementedError()"
        c.source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION", stub, c.source, flags=re.S)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / source_path.name)
    return folder / source_path.name


def submission(source_path, add_body="    return a + b", mul_body="    return a * b", edit=None):
    nb = nbformat.read(source_path, as_version=4)
    nb.cells[2].source = "def add(a, b):\n" + add_body
    nb.cells[4].source = "def mul(a, b):\n" + mul_body
    if edit:
        edit(nb)
    return nb


def grade(toy, tmp_path, subs: dict, db_url=None, workers=2, **options) -> tuple[int, dict, Path]:
    folder = tmp_path / "subs"
    folder.mkdir()
    for name, content in subs.items():
        if isinstance(content, (str, bytes)):
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        else:
            nbformat.write(content, folder / f"{name}.ipynb")
    out = tmp_path / "out"
    code = grade_folder(
        "toy", folder, out, workers=workers, cell_timeout=10, progress=False, source=toy, db_url=db_url, **options
    )
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return code, results, out
