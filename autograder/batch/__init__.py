"""The batch pipeline: the instructor's main process, from a folder of submissions to grades.

- :mod:`autograder.batch.ingest`     reading a folder of submissions: regular files only, no link
  followed, plain student ids;
- :mod:`autograder.batch.folder`     :func:`grade_folder`: the whole batch (resume, gradebook,
  reconciled notebooks, outputs);
- :mod:`autograder.batch.processes`  one grading process per submission (forked from a
  forkserver), its time limit, its retry;
- :mod:`autograder.batch.outputs`, :mod:`autograder.batch.feedback`,
  :mod:`autograder.batch.gradebook`  what the instructor reads: CSVs safe for spreadsheets,
  an escaped report, per-student HTML (messages only, never test source), nbgrader's
  gradebook and its export.
"""

from .folder import grade_folder

__all__ = ["grade_folder"]
