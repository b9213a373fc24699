"""Grade a folder of submissions: grades CSV, one feedback HTML per student, a report.

Layout accepted for the submissions folder (one entry per student):

    submissions/alice.ipynb                 the student's notebook, named after them
    submissions/bob/hw1_mlp.ipynb           a folder per student (any notebook name)
    submissions/carol/hw1_mlp/hw1_mlp.ipynb nbgrader's exchange layout

Each submission is graded in its own child process (and its own kernel), with a
per-cell time limit and a hard limit for the whole submission; a crash or an
infinite loop costs that student the affected parts and nothing else.
"""
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_ready
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from . import EXERCISES, SOLUTIONS
from .assemble import reconcile
from .feedback import render
from .execute import THREAD_VARIABLES
from .grade import DEFAULT_CELL_TIMEOUT, child_main, setup_imports
from .gradebook import GradebookWriter
from .parts import read_parts
from .sandbox import Zygote, describe, kill_tree


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path | None  # None: no notebook found for this student
    notes: tuple[str, ...] = ()


def fingerprint(path: Path | None) -> str:
    """SHA-256 of a submission file ('' when there is none): a re-run regrades changed files only."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else ""


def source_notebook(assignment: str) -> Path:
    """The instructor's notebook of ``assignment`` (exactly one per assignment folder)."""
    found = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    if len(found) != 1:
        raise SystemExit(f"expected one notebook in {SOLUTIONS / assignment}, found {len(found)}")
    return found[0]


def find_submissions(folder: Path, notebook_name: str) -> list[Submission]:
    """One :class:`Submission` per student in ``folder`` (see the module docstring).

    When a student handed in twice (``alice.ipynb`` and ``alice/``, or two notebooks
    in a folder), the most recently modified notebook is graded and the others are
    named in the notes.
    """
    candidates: dict[str, list[Path]] = {}
    empty: set[str] = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            candidates.setdefault(entry.stem, []).append(entry)
            continue
        notebooks = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        candidates.setdefault(entry.name, []).extend(notebooks)
        if not notebooks:
            empty.add(entry.name)
    subs = []
    for student, paths in sorted(candidates.items()):
        if not paths:
            subs.append(Submission(student, None))
            continue
        ranked = sorted(paths, key=lambda p: (p.suffix == ".ipynb", p.stat().st_mtime, p.name == notebook_name,
                                              str(p)), reverse=True)
        chosen, others = ranked[0], ranked[1:]
        notes = tuple(f"duplicate submission: graded {chosen.relative_to(folder)}, ignored "
                      f"{p.relative_to(folder)}" for p in others)
        subs.append(Submission(student, chosen, notes))
    return subs


def grade_in_child(source: Path, sub: Submission, cell_timeout: float, hard_timeout: float,
                   zygote, threads: int | None = None) -> dict:
    """Grade one submission in a separate Python process; never raises."""
    parts = read_parts(nbformat.read(source, as_version=4))

    def zeros(note: str, status: str) -> dict:
        return {"status": status, "notes": [note], "flags": [], "score": 0.0, "seconds": 0.0,
                "max_score": sum(p.points for p in parts),
                "parts": [{"grade_id": p.grade_id, "max_points": p.points, "points": 0.0,
                           "status": "not run", "message": note} for p in parts]}

    result = _grade_in_child(source, sub, cell_timeout, hard_timeout, zeros, zygote, threads)
    result["notes"] = list(sub.notes) + result["notes"]
    result["submission"] = str(sub.path) if sub.path else ""
    result["fingerprint"] = fingerprint(sub.path)
    result["source_fingerprint"] = fingerprint(source)
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


def _grade_in_child(source: Path, sub: Submission, cell_timeout: float, hard_timeout: float, zeros,
                    zygote, threads: int | None) -> dict:
    if sub.path is None:
        return zeros("No notebook (.ipynb) was found in this submission.", "ungradable")
    result, failure, silent = _attempt(source, sub, cell_timeout, hard_timeout, zygote, threads)
    if result is None and silent:
        # The trusted grading process died without a word (a signal such as the out-of-memory
        # killer's, or nothing in its log): not the student's doing, since their code runs in its
        # own sandboxed kernel. One new process grades the submission again; the note keeps the
        # event in the report.
        note = (f"The first grading process ended without a result ({failure}); "
                "the submission was graded again in a new one.")
        result, failure, _ = _attempt(source, sub, cell_timeout, hard_timeout, zygote, threads)
        if result is None:
            return zeros(f"{failure} A second try failed too.", "ungradable")
        result["notes"] = [note] + result["notes"]
    return zeros(failure, "ungradable") if result is None else result


def _attempt(source: Path, sub: Submission, cell_timeout: float, hard_timeout: float, zygote,
             threads: int | None) -> tuple[dict | None, str, bool]:
    """One grading process for ``sub``: (its result, or None with what went wrong and whether the
    process died silently: killed by a signal, or without a line in its log)."""
    with tempfile.TemporaryDirectory(prefix="autograde-child-") as tmp:
        out = Path(tmp) / "result.json"
        log = Path(tmp) / "stderr.txt"
        exitcode = run_child(child_main, (str(source), str(sub.path.resolve()), str(out), str(log), tmp,
                                          cell_timeout, zygote, threads), hard_timeout)
        if exitcode is None:
            return None, f"Grading stopped after {hard_timeout:g} s (hard limit for one submission).", False
        if exitcode != 0 or not out.exists():
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            silent = not lines or exitcode < 0
            return None, (f"The grader failed on this submission ({exit_description(exitcode)}; "
                          f"{(lines[-1:] or ['no output'])[0][:300]})."), silent
        return json.loads(out.read_text()), "", False


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
    for sub in subs:
        path = out_dir / "results" / f"{sub.student}.json"
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        same_parts = [p["grade_id"] for p in old.get("parts", [])] == part_ids
        same_files = (old.get("fingerprint") == fingerprint(sub.path)
                      and old.get("source_fingerprint") == fingerprint(source))
        if same_parts and same_files and old.get("status") == "graded":
            kept[sub.student] = old
    return kept


def write_reconciled(source: Path, release: Path | None, sub: Submission, out_dir: Path) -> None:
    """``reconciled/<student>.ipynb``: the submission restored onto the release (see assemble.reconcile)."""
    if release is None or sub.path is None:
        return
    try:
        submission_nb = nbformat.read(sub.path, as_version=4)
        nb = reconcile(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4), submission_nb)
        (out_dir / "reconciled").mkdir(exist_ok=True)
        nbformat.write(nb, out_dir / "reconciled" / f"{sub.student}.ipynb")
    except Exception:  # noqa: BLE001 - an unreadable upload has nothing to restore; never stop the batch
        return


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (leading = + - @, tab or CR quoted off)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_outputs(assignment: str, results: dict[str, dict], out_dir: Path, part_ids: list[str],
                  isolation: str) -> None:
    """grades.csv, feedback/<student>.html and report.txt in ``out_dir`` (results/ is written as grades come in)."""
    (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    with open(out_dir / "grades.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", *part_ids, "total", "max_total", "status", "review"])
        for student in sorted(results):
            r = results[student]
            points = {p["grade_id"]: p["points"] for p in r["parts"]}
            writer.writerow([spreadsheet_safe(student), *[f"{points.get(g, 0.0):g}" for g in part_ids],
                             f"{r['score']:g}", f"{r['max_score']:g}", r["status"],
                             spreadsheet_safe("; ".join(r.get("flags", [])))])
    for student, r in results.items():
        (out_dir / "feedback" / f"{student}.html").write_text(render(student, assignment, r))
    lines = [f"Isolation: {isolation}.",
             f"Assignment {assignment}: {len(results)} submission(s)."]
    flagged = {s: r for s, r in sorted(results.items())
               if r["notes"] or r.get("flags") or r["status"] != "graded"}
    if flagged:
        lines.append("Needs attention:")
        for student, r in flagged.items():
            lines.append(f"  {student} [{r['status']}] {r['score']:g}/{r['max_score']:g}")
            lines += [f"    - {n}" for n in r["notes"]]
            lines += [f"    - MANUAL REVIEW: {f}" for f in r.get("flags", [])]
    else:
        lines.append("Every submission ran cleanly.")
    (out_dir / "report.txt").write_text("\n".join(lines) + "\n")


def grade_folder(assignment: str, submissions: Path, out_dir: Path, workers: int | None = None,
                 cell_timeout: float = DEFAULT_CELL_TIMEOUT, progress: bool = True,
                 source: Path | None = None, db_url: str | None = None, sandbox: bool = True) -> int:
    """Grade every submission in ``submissions``; returns the exit code.

    Also writes ``reconciled/<student>.ipynb`` (each submission restored onto the
    release: metadata, tests and cell order back, added cells kept at the end) when the
    release notebook exists. Run it from a script guarded by ``if __name__ == "__main__"``:
    the per-submission processes come from a forkserver (:func:`start_forkserver`), which
    imports the main module.

    ``sandbox=False`` (the command line's ``--no-sandbox``) runs kernels as plain
    processes; otherwise a machine that cannot sandbox them raises
    :class:`autograder.sandbox.SandboxUnavailable` before anything is graded.

    0: every submission has a grade (students whose code crashed or looped are graded
    and named in report.txt); 1: at least one submission could not be graded at all
    (unreadable file, no notebook, grader failure): see report.txt.
    """
    source = source or source_notebook(assignment)
    release = EXERCISES / assignment / source.name
    release = release if release.exists() else None
    source_nb = nbformat.read(source, as_version=4)
    part_ids = [p.grade_id for p in read_parts(source_nb)]
    n_code = sum(c.cell_type == "code" for c in source_nb.cells)
    hard_timeout = cell_timeout * n_code + 120
    subs = find_submissions(submissions, source.name)
    workers = workers or os.cpu_count() or 1
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results").mkdir(exist_ok=True)
    results = previous_results(out_dir, subs, part_ids, source)
    todo = [s for s in subs if s.student not in results]
    threads = max(1, (os.cpu_count() or 1) // workers)  # cores shared out among the workers
    preload = setup_imports(source_nb)
    zygote = Zygote(sandbox, preload, threads) if todo else None  # SandboxUnavailable: nothing graded
    gradebook = GradebookWriter(db_url, assignment, source.stem, read_parts(source_nb)) if db_url else None
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
                write_reconciled(source, release, futures[fut], out_dir)
                # recorded at once: an interrupted batch keeps every grade finished so far
                _write_json(out_dir / "results" / f"{student}.json", results[student])
                if gradebook:
                    gradebook.record(student, results[student])
    finally:
        if gradebook:
            gradebook.close()
        if zygote is not None:
            zygote.close()
    write_outputs(assignment, results, out_dir, part_ids, describe(sandbox))
    n_bad = sum(r["status"] != "graded" for r in results.values())
    if len(todo) < len(subs):
        print(f"kept {len(subs) - len(todo)} grade(s) recorded by an earlier run (unchanged files)")
    print(f"graded {len(results) - n_bad}/{len(results)} submissions of {assignment} in "
          f"{time.perf_counter() - start:.1f} s -> {out_dir / 'grades.csv'}, {out_dir / 'feedback'}/, "
          f"{out_dir / 'report.txt'}")
    return 1 if n_bad else 0
