"""Stage d: the student versions in exercises/ are exactly what nbgrader generates
from solutions/, they hide solutions and hidden tests, and every notebook's Colab
setup cell matches the repository URL of _config.yml."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.parts import is_solution_cell, is_test_cell, nbgrader_meta
from autograder.release import assignments, diff

ROOT = Path(__file__).resolve().parents[2]


def test_there_are_assignments():
    assert "hw1_mlp" in assignments()


@pytest.mark.parametrize("assignment", assignments())
def test_exercises_equal_a_fresh_generation(assignment):
    problems = diff(assignment)
    assert not problems, "\n".join(problems)


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


def test_setup_cells_follow_the_repository_url():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_setup_cells.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + "(run tools/sync_setup_cells.py)"
