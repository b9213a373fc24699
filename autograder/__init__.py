"""The instructor's grading pipeline.

- :mod:`autograder.release`  student versions (``exercises/``) from ``solutions/``;
- :mod:`autograder.parts`    the graded parts of a source notebook;
- :mod:`autograder.assemble` the notebook that grading executes for one submission;
- :mod:`autograder.execute`  running it in a fresh kernel with timeouts;
- :mod:`autograder.batch`    a folder of submissions -> grades CSV, feedback HTML, report;
- :mod:`autograder.feedback` the per-student HTML (messages only, never test source).

Command line: ``python -m autograder --help``.
"""
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = COURSE_ROOT / "solutions"
EXERCISES = COURSE_ROOT / "exercises"
