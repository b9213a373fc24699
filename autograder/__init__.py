"""The instructor's grading pipeline (``python -m autograder --help``).

The design is a trust boundary, and the folders follow it:

- :mod:`autograder.batch`    the instructor's main process: a folder of submissions -> one
  grading process each -> grades CSV, feedback HTML, report, reconciled notebooks, gradebook;
- :mod:`autograder.trusted`  the grading process of one submission: plans the cells, runs the
  tests (visible and hidden) here, builds the sandbox walls and holds the kernel's handle;
  student code never runs in it;
- :mod:`autograder.channel`  the only link between the two sides: requests and replies, data
  only (never pickle); a malformed reply costs only its request;
- :mod:`autograder.kernel`   what runs inside the sandbox: the zygote, and the kernel that runs
  the student's cells and answers requests with data. Student code can reach this side only.

Beside them: :mod:`autograder.defaults` (every limit and default, read by both sides),
:mod:`autograder.model` (the typed values that flow through the pipeline), :mod:`autograder.parts`
(the graded parts of a source notebook), :mod:`autograder.release` (student versions from
``solutions/``; ``nbgrader_config.py`` is nbgrader's configuration for it).

Rules a part states are checked on the submitted code by :mod:`coursekit.rules`, in the trusted
process; ``coursekit.chapters`` is hidden from kernels (``kernel/blocked_chapters`` stands in
for it). :mod:`coursekit.harness` holds the course's operations that run in a kernel: its
contract with the grader is :class:`coursekit.harness.Grader`.
"""

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = COURSE_ROOT / "solutions"
EXERCISES = COURSE_ROOT / "exercises"
