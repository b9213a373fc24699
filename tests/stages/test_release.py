"""Stage d: the student versions in exercises/ are exactly what nbgrader generates
from solutions/, they hide solutions and hidden tests, and every notebook's Colab
setup cell matches the repository URL of _config.yml."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.parts import is_solution_cell, is_test_cell, nbgrader_meta
from autograder.release import assignments, diff, generate

ROOT = Path(__file__).resolve().parents[2]


def test_there_are_assignments():
    assert "hw1_mlp" in assignments()


@pytest.fixture(scope="module")
def fresh_generation(tmp_path_factory) -> dict[str, Path]:
    """One nbgrader generation of every assignment (in each test process that needs it)."""
    return generate(assignments(), tmp_path_factory.mktemp("generation"))


@pytest.mark.parametrize("assignment", assignments())
def test_exercises_equal_a_fresh_generation(assignment, fresh_generation):
    problems = diff(assignment, fresh_generation[assignment])
    assert not problems, "\n".join(problems)


def test_a_stale_or_missing_student_version_is_reported(fresh_generation, tmp_path):
    """The comparison above can fail: a changed cell and a missing file are both named."""
    assignment = assignments()[0]
    changed = tmp_path / "changed"
    shutil.copytree(fresh_generation[assignment], changed)
    (notebook,) = changed.glob("*.ipynb")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[-1].source += "\n# edited in solutions/ but not released"
    nbformat.write(nb, notebook)
    (changed / "extra.csv").write_text("a,b\n")
    problems = diff(assignment, changed)
    assert any("differs from a fresh generation" in line and notebook.name in line for line in problems), problems
    assert any("extra.csv is missing" in line for line in problems), problems


@pytest.mark.parametrize("assignment", assignments())
def test_student_version_hides_solutions_and_hidden_tests(assignment):
    (release_path,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    (source_path,) = sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(source_path, as_version=4)
    text = release_path.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{release_path} contains {marker}"
    stubs = [c for c in release.cells if is_solution_cell(c)]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
    source_tests = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if is_test_cell(c)}
    release_tests = {nbgrader_meta(c)["grade_id"]: c.source for c in release.cells if is_test_cell(c)}
    assert release_tests.keys() == source_tests.keys()
    hidden = [gid for gid, src in source_tests.items() if "BEGIN HIDDEN TESTS" in src]
    assert len(hidden) == len(source_tests), f"parts without hidden tests: {set(source_tests) - set(hidden)}"
    assert not any(c.get("outputs") for c in release.cells if c.cell_type == "code")


@pytest.mark.parametrize("assignment", assignments())
def test_nbgrader_validate_flags_the_student_version(assignment, tmp_path):
    """What the student's Validate button reports before anything is written (read through
    the API: the command-line `nbgrader validate` exits 0 even when tests fail). That the
    solution passes is proven once, by the solutions stage (nbval-lax: every cell of the
    solution runs and every assert of its tests holds, which is all Validate checks of it)
    and by the grading stage (full marks); executing it a third time here proved nothing more.

    The kernel talks over Unix sockets in this test's own folder: with TCP, the two workers'
    kernels could pick the same free port at once (seen once: "Address already in use")."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    (release_path,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    sockets = Config({"KernelManager": {"transport": "ipc", "ip": str(tmp_path / "kernel")}})
    stub = Validator(config=sockets).validate(str(release_path))
    assert stub.get("failed"), "the student version validates before anything is written"


def test_nbgrader_extension_is_installed_and_enabled():
    jupyter = str(Path(sys.executable).parent / "jupyter")
    lab = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True)
    text = lab.stdout + lab.stderr
    assert "@jupyter/nbgrader" in text and "enabled" in text.split("@jupyter/nbgrader")[1].splitlines()[0]
    server = subprocess.run([jupyter, "server", "extension", "list"], capture_output=True, text=True)
    text = server.stdout + server.stderr
    assert "nbgrader.server_extensions.validate_assignment" in text


def test_setup_cells_follow_the_repository_url():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync_setup_cells.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + "(run tools/sync_setup_cells.py)"


def test_the_student_edition_gives_nothing_away(tmp_path):
    """What students clone (tools/student_edition.py) holds the book, the exercises and the course
    package, and not one line of a solution or a hidden test (short generic lines excepted by the
    rule of student_edition.generic), nor solutions/, tests/ or the buggy submissions."""
    sys.path.insert(0, str(ROOT / "tools"))
    import student_edition

    edition = student_edition.write_edition(tmp_path / "edition")
    names = {p.name for p in edition.iterdir()}
    assert {"book", "exercises", "coursekit", "autograder", "README.md", "Makefile", "_config.yml"} <= names
    assert not names & {"solutions", "tests", "benchmarks", ".ci", "CONTRIBUTING.md"}
    assert sorted(p.name for p in (edition / "exercises").iterdir()) == assignments()
    secrets = student_edition.secret_lines()
    assert len(secrets) > 300, "the secret lines were not found: the check would prove nothing"
    found = student_edition.leaks(edition)
    assert not found, f"{len(found)} line(s) of solutions or hidden tests in the student edition:\n" + "\n".join(
        found[:20]
    )
    text = (edition / "README.md").read_text()
    assert "## Students" in text and "## Instructors" not in text and "make test" not in text


def test_the_leak_check_finds_a_solution_line_wherever_it_hides(tmp_path):
    """The search above can fail: a solution line pasted into a page, and a hidden-test line in a
    Python file, are both found; a short generic line is not."""
    sys.path.insert(0, str(ROOT / "tools"))
    import student_edition

    secrets = sorted(student_edition.secret_lines())
    edition = tmp_path / "edition"
    (edition / "book").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n    " + secrets[0] + "  \n")])
    nbformat.write(nb, edition / "book" / "page.ipynb")
    (edition / "helper.py").write_text("def f():\n" + "\t" + secrets[-1] + "\nreturn out\n")
    found = student_edition.leaks(edition)
    assert len(found) == 2 and any("page.ipynb" in f for f in found) and any("helper.py" in f for f in found)
