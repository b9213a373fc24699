"""Grade a folder of submissions: grades CSV, one feedback HTML per student, a report.

Layout accepted for the submissions folder (one entry per student):

    submissions/alice.ipynb                 the student's notebook, named after them
    submissions/bob/hw1_mlp.ipynb           a folder per student (any notebook name)
    submissions/carol/hw1_mlp/hw1_mlp.ipynb nbgrader's exchange layout

Only regular files and folders are read, never through a symbolic link, and a student id
must be a plain name (:mod:`autograder.ingest`). Each submission is graded in its own child
process (and its own kernel, with its own limits), with a per-cell time limit and a hard
limit for the whole submission; a crash or an infinite loop costs that student the
affected parts and nothing else. The outputs are written by :mod:`autograder.outputs`.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from multiprocessing.connection import wait as wait_ready
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from . import EXERCISES, SOLUTIONS
from .assemble import reconcile
from .execute import THREAD_VARIABLES
from .grade import DEFAULT_CELL_TIMEOUT, child_main, setup_imports
from .gradebook import GradebookWriter, export_csv
from .ingest import MAX_BYTES, Rejected, Submission, Unreadable, find_submissions, fingerprint  # noqa: F401
from .outputs import spreadsheet_safe, write_outputs  # noqa: F401 - part of this module's interface
from .parts import read_parts
from .sandbox import DEFAULT_MEMORY_LIMIT, Zygote, kill_tree


def source_notebook(assignment: str) -> Path:
    """The instructor's notebook of ``assignment`` (exactly one per assignment folder)."""
    found = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    if len(found) != 1:
        raise SystemExit(f"expected one notebook in {SOLUTIONS / assignment}, found {len(found)}")
    return found[0]


def grade_in_child(source: Path, sub: Submission, cell_timeout: float, hard_timeout: float,
                   zygote, threads: int | None = None) -> dict:
    """Grade one submission in a separate Python process; never raises."""
    parts = read_parts(nbformat.read(source, as_version=4))

    def zeros(note: str, status: str) -> dict:
        auto = [p for p in parts if not p.manual]
        return {"status": status, "notes": [note], "flags": [], "score": 0.0, "seconds": 0.0,
                "max_score": sum(p.points for p in auto),
                "manual_max": sum(p.points for p in parts if p.manual),
                "parts": [{"grade_id": p.grade_id, "max_points": p.points, "points": 0.0,
                           "status": "manual" if p.manual else "not run", "message": note,
                           "manual": p.manual} for p in parts]}

    try:
        data = sub.read() if sub.path is not None else None
    except Unreadable as err:  # it changed since it was listed
        data, sub = None, Submission(sub.student, None, sub.notes + (f"{sub.rel} {err}",))
    result = _grade_in_child(source, sub, data, cell_timeout, hard_timeout, zeros, zygote, threads)
    result["notes"] = list(sub.notes) + result["notes"]
    result["submission"] = str(sub.path) if sub.path else ""
    result["fingerprint"] = fingerprint(data)
    result["source_fingerprint"] = fingerprint(source.read_bytes())
    return result


KERNEL_MODULES = ["autograder.grade", "autograder.remote", "IPython.core.inputtransformer2", "coursekit.harness"]


def start_forkserver(preload: list[str], threads: int) -> None:
    """Start the server that every per-submission grading process is forked from, with ``preload`` imported.

    Forked from it, a grading process (where the tests run) starts with the grader and
    the notebook's setup imports (numpy, torch ...) already loaded, instead of importing
    them again for each student (about 2 s of CPU each); the kernels come from the
    batch's zygote, which preloads the same modules (:mod:`autograder.sandbox`). The BLAS and
    OpenMP libraries read their thread counts when they load, so the server starts
    with ``threads`` in its environment (and matplotlib with its file-only backend). Only the first call in a process starts it;
    later calls (another assignment graded by the same process) reuse that server:
    their modules are then imported by each kernel.
    """
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload(KERNEL_MODULES + preload)
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


def _grade_in_child(source: Path, sub: Submission, data: bytes | None, cell_timeout: float, hard_timeout: float,
                    zeros, zygote, threads: int | None) -> dict:
    if data is None:
        return zeros("No readable notebook (.ipynb) was found in this submission.", "ungradable")
    result, failure, silent = _attempt(source, data, cell_timeout, hard_timeout, zygote, threads)
    if result is None and silent:
        # The trusted grading process died without a word (a signal such as the out-of-memory
        # killer's, or nothing in its log): not the student's doing, since their code runs in its
        # own sandboxed kernel. One new process grades the submission again; the note keeps the
        # event in the report.
        note = (f"The first grading process ended without a result ({failure}); "
                "the submission was graded again in a new one.")
        result, failure, _ = _attempt(source, data, cell_timeout, hard_timeout, zygote, threads)
        if result is None:
            return zeros(f"{failure} A second try failed too.", "ungradable")
        result["notes"] = [note] + result["notes"]
    return zeros(failure, "ungradable") if result is None else result


def _attempt(source: Path, data: bytes, cell_timeout: float, hard_timeout: float, zygote,
             threads: int | None) -> tuple[dict | None, str, bool]:
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
        exitcode = run_child(child_main, (str(source), str(notebook), str(out), str(log), tmp,
                                          cell_timeout, zygote.with_events(str(events)), threads), hard_timeout)
        limit_notes = events.read_text().splitlines() if events.exists() else []
        if exitcode is None:
            return None, f"Grading stopped after {hard_timeout:g} s (hard limit for one submission).", False
        if exitcode != 0 or not out.exists():
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            silent = not lines or exitcode < 0
            return None, (f"The grader failed on this submission ({exit_description(exitcode)}; "
                          f"{(lines[-1:] or ['no output'])[0][:300]})."), silent
        result = json.loads(out.read_text())
        result["notes"] = result["notes"] + limit_notes
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


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)  # atomic: a crash never leaves half a record


def previous_results(out_dir: Path, subs: list[Submission], part_ids: list[str], source: Path) -> dict[str, dict]:
    """Grades an earlier run recorded for exactly these files and this source notebook."""
    kept = {}
    source_print = fingerprint(source.read_bytes())
    for sub in subs:
        path = out_dir / "results" / f"{sub.student}.json"
        try:
            old = json.loads(path.read_text())
            data = sub.read() if sub.path is not None else None
        except (OSError, ValueError, Unreadable):
            continue
        same_parts = [p["grade_id"] for p in old.get("parts", [])] == part_ids
        same_files = old.get("fingerprint") == fingerprint(data) and old.get("source_fingerprint") == source_print
        if same_parts and same_files and old.get("status") == "graded":
            kept[sub.student] = old
    return kept


def write_reconciled(source: Path, release: Path | None, sub: Submission, out_dir: Path,
                     assignment: str | None = None) -> None:
    """``reconciled/<student>.ipynb``: the submission restored onto the release (see assemble.reconcile);
    the same notebook goes to ``autograded/<student>/<assignment>/<notebook>.ipynb``, where nbgrader's
    formgrader looks for it (its course folder is ``out_dir``)."""
    if release is None or sub.path is None:
        return
    try:
        submission_nb = nbformat.reads(sub.read().decode("utf-8"), as_version=4)
        nb = reconcile(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4), submission_nb)
        (out_dir / "reconciled").mkdir(exist_ok=True)
        nbformat.write(nb, out_dir / "reconciled" / f"{sub.student}.ipynb")
        if assignment:
            folder = out_dir / "autograded" / sub.student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{source.stem}.ipynb")
    except Exception:  # noqa: BLE001 - an unreadable upload has nothing to restore; never stop the batch
        return


def grade_folder(assignment: str, submissions: Path, out_dir: Path, workers: int | None = None,
                 cell_timeout: float = DEFAULT_CELL_TIMEOUT, progress: bool = True,
                 source: Path | None = None, db_url: str | None = None, sandbox: bool = True,
                 max_bytes: int = MAX_BYTES, memory: int = DEFAULT_MEMORY_LIMIT,
                 release: Path | None = None, cgroups: bool = True) -> int:
    """Grade every submission in ``submissions``; returns the exit code.

    Also writes ``reconciled/<student>.ipynb`` (each submission restored onto the
    release: metadata, tests and cell order back, added cells kept at the end) and its copy in
    nbgrader's ``autograded/`` layout when the release notebook exists (``release``, by default
    ``exercises/<assignment>/``), and ``nbgrader_export.csv`` with a gradebook (``db_url``).
    Run it from a script guarded by ``if __name__ == "__main__"``:
    the per-submission processes come from a forkserver (:func:`start_forkserver`), which
    imports the main module.

    ``sandbox=False`` (the command line's ``--no-sandbox``) runs kernels as plain
    processes; otherwise a machine that cannot sandbox them raises
    :class:`autograder.sandbox.SandboxUnavailable` before anything is graded. ``max_bytes``
    bounds a submission file, ``memory`` a kernel (all its processes together); ``cgroups=False``
    leaves cgroups alone even where they are writable (kernels then get what an account without
    them gets: RLIMIT_NPROC and the memory watchdog, see :mod:`autograder.limits`).

    0: every submission has a grade (students whose code crashed or looped are graded
    and named in report.txt); 1: at least one entry could not be graded at all
    (an invalid student id, an unreadable file, no notebook, grader failure): see report.txt.
    """
    source = source or source_notebook(assignment)
    release = release or EXERCISES / assignment / source.name
    release = release if release.exists() else None
    source_nb = nbformat.read(source, as_version=4)
    part_ids = [p.grade_id for p in read_parts(source_nb)]
    n_code = sum(c.cell_type == "code" for c in source_nb.cells)
    hard_timeout = cell_timeout * n_code + 120
    subs, rejected = find_submissions(submissions, source.name, max_bytes)
    workers = workers or os.cpu_count() or 1
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results").mkdir(exist_ok=True)
    results = previous_results(out_dir, subs, part_ids, source)
    todo = [s for s in subs if s.student not in results]
    threads = max(1, (os.cpu_count() or 1) // workers)  # cores shared out among the workers
    preload = setup_imports(source_nb)
    # SandboxUnavailable: nothing graded
    zygote = Zygote(sandbox, preload, threads, cgroups=cgroups, memory=memory) if todo else None
    gradebook = GradebookWriter(db_url, assignment, source.stem, source_nb) if db_url else None
    start = time.perf_counter()
    try:
        if gradebook:
            for student, r in results.items():  # grades kept from an earlier run
                gradebook.record(student, r)
        start_forkserver(preload, threads)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(grade_in_child, source, s, cell_timeout, hard_timeout,
                                   zygote.address(), threads): s
                       for s in todo}
            for fut in tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment}",
                            unit="notebook", disable=not progress):
                student = futures[fut].student
                results[student] = fut.result()
                write_reconciled(source, release, futures[fut], out_dir, assignment)
                # recorded at once: an interrupted batch keeps every grade finished so far
                _write_json(out_dir / "results" / f"{student}.json", results[student])
                if gradebook:
                    gradebook.record(student, results[student])
    finally:
        if gradebook:
            gradebook.close()
        isolation = zygote.describe() if zygote else "no kernel ran (every grade was kept from an earlier run)"
        if zygote is not None:
            zygote.close()
    write_outputs(assignment, results, out_dir, part_ids, isolation, rejected)
    if db_url:
        export_csv(db_url, out_dir / "nbgrader_export.csv")
    n_bad = sum(r["status"] != "graded" for r in results.values()) + len(rejected)
    if len(todo) < len(subs):
        print(f"kept {len(subs) - len(todo)} grade(s) recorded by an earlier run (unchanged files)")
    print(f"graded {len(results) - n_bad + len(rejected)}/{len(results) + len(rejected)} entries of "
          f"{assignment} in {time.perf_counter() - start:.1f} s -> {out_dir / 'grades.csv'}, "
          f"{out_dir / 'feedback'}/, {out_dir / 'report.txt'}")
    return 1 if n_bad else 0
