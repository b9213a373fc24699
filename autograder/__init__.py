"""The instructor's grading pipeline.

- :mod:`autograder.release`  student versions (``exercises/``) from ``solutions/``;
- :mod:`autograder.parts`    the graded parts of a source notebook (tests, and written answers);
- :mod:`autograder.ingest`   reading a folder of submissions: regular files only, no link followed;
- :mod:`autograder.assemble` what grading runs for one submission (and the reconciled notebook);
- :mod:`autograder.execute`  the student's cells in a kernel, the tests in this process, with timeouts;
- :mod:`autograder.remote`   the trusted side: test namespace and proxies of the student's objects;
- :mod:`autograder.kernel`   the student's side: runs the cells, answers requests with data;
- :mod:`autograder.rpc`, :mod:`autograder.wire`  the channel between the two: requests and replies,
  data only (never pickle); a malformed reply costs only its request;
- :mod:`autograder.sandbox`  bubblewrap, the zygote that forks kernels (:mod:`autograder.zygote`
  runs inside it), and :mod:`autograder.limits`, each kernel's cgroup or watchdog;
- :mod:`autograder.guard`    review flags: known-cheat patterns read off the code (never a defence);
- :mod:`autograder.batch`    a folder of submissions -> grades CSV, feedback HTML, report, gradebook;
- :mod:`autograder.outputs`, :mod:`autograder.feedback`, :mod:`autograder.gradebook`  what the
  instructor reads: CSVs safe for spreadsheets, an escaped report, per-student HTML (messages
  only, never test source), nbgrader's gradebook and its export.

Rules a part states are checked on the submitted code by :mod:`coursekit.rules`, in the trusted
process; ``coursekit.chapters`` is hidden from kernels (``blocked_chapters`` stands in for it).

Command line: ``python -m autograder --help``.
"""
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = COURSE_ROOT / "solutions"
EXERCISES = COURSE_ROOT / "exercises"
