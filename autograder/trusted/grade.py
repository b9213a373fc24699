"""Grade one submitted notebook against its source notebook.

The batch grader (:mod:`autograder.batch.processes`) runs :func:`child_main` in a child process
per submission; the student's code runs in a kernel that the batch's zygote forks
into its own sandbox (:mod:`autograder.trusted.sandbox`), the tests in the child itself
(:mod:`autograder.trusted.runner`).
"""

from __future__ import annotations

import faulthandler
import json
import os
import time
from pathlib import Path

import nbformat

from ..defaults import CELL_TIMEOUT, MEMORY_LIMIT
from ..model import Assignment, PartResult, SubmissionResult
from .assemble import plan
from .runner import Runner, collect
from .sandbox import Zygote, ZygoteAddress


def grade_submission(
    assignment: Assignment,
    submission_path: Path,
    zygote: Zygote | ZygoteAddress,
    cell_timeout: float = CELL_TIMEOUT,
    threads: int | None = None,
    workdir: str | None = None,
) -> SubmissionResult:
    """Grade ``submission_path`` against ``assignment`` with a kernel from ``zygote`` (the batch's
    :class:`~autograder.trusted.sandbox.Zygote`, or in a grading process its address)."""
    start = time.perf_counter()
    parts = assignment.parts
    try:
        submission_nb = nbformat.read(submission_path, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable upload is reported, never fatal
        reason = f"not a readable notebook ({type(err).__name__}: {str(err)[:200]})"
        message = "The submitted file could not be read as a notebook."
        return SubmissionResult(
            "ungradable",
            [PartResult(p.grade_id, p.points, 0.0, "not run", message, manual=p.manual) for p in parts],
            [reason],
            seconds=round(time.perf_counter() - start, 2),
        )
    work = plan(assignment.source, submission_nb)
    kernel = zygote.connect(threads=threads, workdir=workdir)
    runner = Runner(
        kernel, cell_timeout, work.student_names, work.shared_names, (work.student_sources, work.setup_sources)
    )
    try:
        outcomes, run_notes = runner.run(work.cells)
    finally:
        runner.close()
    return SubmissionResult(
        "graded",
        collect(parts, outcomes, cell_timeout),
        work.notes + run_notes,
        work.flags,
        seconds=round(time.perf_counter() - start, 2),
    )


def child_main(
    assignment: Assignment,
    submission: str,
    out: str,
    log: str,
    workdir: str,
    cell_timeout: float,
    zygote: ZygoteAddress,
    threads: int | None = None,
    memory_limit: int = MEMORY_LIMIT,
) -> None:
    """Entry point of the batch grader's per-submission process (see autograder.batch.processes)."""
    os.setsid()
    os.chdir(workdir)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    faulthandler.enable()  # a crash in native code leaves its Python traceback in the log
    limit_memory(memory_limit)
    if threads:
        import torch

        torch.set_num_threads(threads)
    result = grade_submission(
        assignment, Path(submission), zygote, cell_timeout, threads=threads, workdir=os.path.join(workdir, "kernel")
    )
    Path(out).write_text(json.dumps(result.to_json(), indent=1))


def limit_memory(limit_bytes: int = MEMORY_LIMIT) -> None:
    """Cap this process's (and its future children's) data segment at ``limit_bytes``."""
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
