"""The instructor's grading pipeline.

- :mod:`autograder.release`  student versions (``exercises/``) from ``solutions/``;
- :mod:`autograder.parts`    the graded parts of a source notebook;
- :mod:`autograder.assemble` what grading runs for one submission (and the reconciled notebook);
- :mod:`autograder.execute`  the student's cells in a kernel, the tests in this process, with timeouts;
- :mod:`autograder.remote`   the trusted side: test namespace and proxies of the student's objects;
- :mod:`autograder.kernel`   the student's side: runs the cells, answers requests with data;
- :mod:`autograder.wire`     the data-only format between the two (never pickle);
- :mod:`autograder.sandbox`  bubblewrap, the zygote that forks kernels, and their limits
  (:mod:`autograder.zygote` runs inside it);
- :mod:`autograder.batch`    a folder of submissions -> grades CSV, feedback HTML, report;
- :mod:`autograder.feedback` the per-student HTML (messages only, never test source).

Command line: ``python -m autograder --help``.
"""
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = COURSE_ROOT / "solutions"
EXERCISES = COURSE_ROOT / "exercises"
