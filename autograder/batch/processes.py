"""One grading process per submission, forked from a forkserver, with a hard time limit.

:func:`grade_in_child` never raises: a submission whose grading process fails, runs past its
limit or dies twice without a word gets an ``ungradable`` result that says why. The process
itself runs :func:`autograder.trusted.grade.child_main` (the trusted side); its kernel comes
from the batch's zygote (:mod:`autograder.trusted.sandbox`).
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import signal
import tempfile
import threading
from multiprocessing.connection import wait as wait_ready
from pathlib import Path

from ..defaults import THREAD_VARIABLES
from ..model import Assignment, SubmissionResult, fingerprint
from ..parts import nbgrader_meta
from ..trusted.grade import child_main
from ..trusted.sandbox import ZygoteAddress
from .ingest import Submission, Unreadable


def grade_in_child(
    assignment: Assignment,
    sub: Submission,
    cell_timeout: float,
    hard_timeout: float,
    zygote: ZygoteAddress,
    threads: int | None = None,
) -> SubmissionResult:
    """Grade one submission in a separate Python process; never raises."""
    data, sub = read_bytes(sub)
    result = grade_bytes(assignment, data, cell_timeout, hard_timeout, zygote, threads)
    return stamped(result, sub, data, assignment)


def read_bytes(sub: Submission) -> tuple[bytes | None, Submission]:
    """The bytes of ``sub``'s notebook (None when there is none, or it cannot be read now: the
    submission that comes back then carries why, for the report)."""
    try:
        return (sub.read() if sub.path is not None else None), sub
    except Unreadable as err:  # it changed since it was listed
        return None, Submission(sub.student, None, sub.notes + (f"{sub.rel} {err}",))


def stamped(result: SubmissionResult, sub: Submission, data: bytes | None, assignment: Assignment) -> SubmissionResult:
    """``result`` with what the batch knows of the submission: its notes, its file, and the
    fingerprints of the bytes graded and of the source (a re-run keeps the grade while both hold)."""
    result.notes = list(sub.notes) + result.notes
    result.submission = str(sub.path) if sub.path else ""
    result.fingerprint = fingerprint(data)
    result.source_fingerprint = assignment.source_fingerprint
    return result


def setup_imports(source_nb) -> list[str]:
    """Modules that the read-only code cells of ``source_nb`` import (the setup cells).

    The batch grader imports them once, in the processes that kernels and test runs are
    forked from. With torch comes ``torch._dynamo``, which torch imports when the first
    optimiser is made (0.9 s of CPU in every kernel and test process that trains).
    """
    modules: list[str] = []
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:  # top level only: what the cell always imports
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            modules += [n for n in names if n not in modules]
    if any(m == "torch" or m.startswith("torch.") for m in modules) and "torch._dynamo" not in modules:
        modules.append("torch._dynamo")
    return modules


#: what every grading process needs, imported once by the forkserver (besides the notebook's setup imports)
GRADING_MODULES = [
    "autograder.trusted.grade",
    "autograder.trusted.remote",
    "IPython.core.inputtransformer2",
    "coursekit.harness",
]


def start_forkserver(preload: list[str], threads: int) -> None:
    """Start the server that every per-submission grading process is forked from, with ``preload`` imported.

    Forked from it, a grading process (where the tests run) starts with the grader and
    the notebook's setup imports (numpy, torch ...) already loaded, instead of importing
    them again for each student (about 2 s of CPU each); the kernels come from the
    batch's zygote, which preloads the same modules (:mod:`autograder.trusted.sandbox`). The
    BLAS and OpenMP libraries read their thread counts when they load, so the server starts
    with ``threads`` in its environment (and matplotlib with its file-only backend). Only the
    first call in a process starts it; later calls (another assignment graded by the same process) reuse that server:
    their modules are then imported by each kernel.
    """
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload(GRADING_MODULES + preload)
    settings = {**{var: str(threads) for var in THREAD_VARIABLES}, "MPLBACKEND": "Agg"}
    saved = {var: os.environ.get(var) for var in settings}
    os.environ.update(settings)
    try:
        forkserver.ensure_running()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def exit_description(exitcode: int | None) -> str:
    """How a grading process ended, in words: ``exit status 1``, ``killed by SIGSEGV``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def grade_bytes(
    assignment: Assignment,
    data: bytes | None,
    cell_timeout: float,
    hard_timeout: float,
    zygote: ZygoteAddress,
    threads: int | None,
) -> SubmissionResult:
    """Grade the notebook ``data`` in a grading process (a second one if the first dies without a
    word); never raises. What the batch adds to the result comes from :func:`stamped`."""
    if data is None:
        return SubmissionResult.ungradable(
            assignment.parts, "No readable notebook (.ipynb) was found in this submission."
        )
    result, failure, silent = _attempt(assignment, data, cell_timeout, hard_timeout, zygote, threads)
    if result is None and silent:
        # The trusted grading process died without a word (a signal such as the out-of-memory
        # killer's, or nothing in its log): not the student's doing, since their code runs in its
        # own sandboxed kernel. One new process grades the submission again; the note keeps the
        # event in the report.
        note = (
            f"The first grading process ended without a result ({failure}); "
            "the submission was graded again in a new one."
        )
        result, failure, _ = _attempt(assignment, data, cell_timeout, hard_timeout, zygote, threads)
        if result is None:
            return SubmissionResult.ungradable(assignment.parts, f"{failure} A second try failed too.")
        result.notes = [note] + result.notes
    return SubmissionResult.ungradable(assignment.parts, failure) if result is None else result


def _attempt(
    assignment: Assignment,
    data: bytes,
    cell_timeout: float,
    hard_timeout: float,
    zygote: ZygoteAddress,
    threads: int | None,
) -> tuple[SubmissionResult | None, str, bool]:
    """One grading process for a submission's bytes ``data``: (its result, or None with what went
    wrong and whether the process died silently: killed by a signal, or without a line in its log).

    The process grades a copy of ``data`` in its own folder (the bytes that were listed and
    fingerprinted, never the student's file by its name); what the kernel's handle says for the
    report (a kernel stopped at its memory limit) comes back in ``events.txt``."""
    with tempfile.TemporaryDirectory(prefix="autograde-child-") as tmp:
        out = Path(tmp) / "result.json"
        log = Path(tmp) / "stderr.txt"
        notebook = Path(tmp) / "submission.ipynb"
        notebook.write_bytes(data)
        events = Path(tmp) / "events.txt"
        exitcode = run_child(
            child_main,
            (
                assignment,
                str(notebook),
                str(out),
                str(log),
                tmp,
                cell_timeout,
                zygote.with_events(str(events)),
                threads,
            ),
            hard_timeout,
        )
        limit_notes = events.read_text().splitlines() if events.exists() else []
        if exitcode is None:
            return None, f"Grading stopped after {hard_timeout:g} s (hard limit for one submission).", False
        if exitcode != 0 or not out.exists():
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            silent = not lines or exitcode < 0
            return (
                None,
                (
                    f"The grader failed on this submission ({exit_description(exitcode)}; "
                    f"{(lines[-1:] or ['no output'])[0][:300]})."
                ),
                silent,
            )
        result = SubmissionResult.from_json(json.loads(out.read_text()))
        result.notes = result.notes + limit_notes
        return result, "", False


# Process.start() polls every other child of this process (multiprocessing's _cleanup), and when two
# threads read the exit status of one forkserver child, the one that loses the race records 255 for
# a child that exited 0 (CPython gh-130895): about one grade in a thousand was lost that way. Starting
# a child and reading an exit status are therefore done under this lock (neither blocks).
_REAPING = threading.Lock()


def run_child(target, args: tuple, timeout: float) -> int | None:
    """Run ``target(*args)`` in a process forked from the forkserver; return its exit code
    (negative: the signal that killed it), or None when it ran past ``timeout`` s (it is then
    killed with everything it started). Safe to call from several threads at once."""
    child = multiprocessing.get_context("forkserver").Process(target=target, args=args, daemon=False)
    with _REAPING:
        child.start()
    finished = False
    try:
        wait_ready([child.sentinel], timeout)  # readable once the forkserver has reported the exit
        with _REAPING:
            finished = not child.is_alive()
    finally:
        if not finished:
            # Kill the tree only while the child is unreaped: once reaped, its PID (pid_max
            # is often 32768) may already belong to another submission's kernel. A child
            # that exits normally has already killed its own descendants (child_main).
            with _REAPING:
                alive = child.is_alive()
            if alive:
                kill_tree(child.pid)
        wait_ready([child.sentinel])
        with _REAPING:
            child.join()
    return child.exitcode if finished else None


def kill_tree(pid: int | None = None) -> None:
    """Kill every process that ``pid`` started, then ``pid``; without ``pid``, what this process started.

    Call it only on a process that has not been reaped: a reaped PID may be reused.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + ([root] if pid is not None else [])
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
