"""Grade a folder of submissions: grades CSV, one feedback HTML per student, a report.

Layout accepted for the submissions folder (one entry per student):

    submissions/alice.ipynb                 the student's notebook, named after them
    submissions/bob/hw1_mlp.ipynb           a folder per student (any notebook name)
    submissions/carol/hw1_mlp/hw1_mlp.ipynb nbgrader's exchange layout

Only regular files and folders are read, never through a symbolic link, and a student id
must be a plain name (:mod:`autograder.batch.ingest`). Each submission is graded in its own
child process (:mod:`autograder.batch.processes`) and its own kernel, with its own limits, a
per-cell time limit and a hard limit for the whole submission; a crash or an infinite loop
costs that student the affected parts and nothing else. The outputs are written by :mod:`autograder.batch.outputs`.

Where the submissions are graded is a pool: :class:`LocalPool`, this machine's cores, or
:class:`autograder.batch.cluster.DaskPool`, the workers of a Dask cluster. Everything else (the
resume, the progress bar, the gradebook, the outputs) is this module's, the same for both.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

import nbformat
from tqdm.auto import tqdm

from ..defaults import CELL_TIMEOUT, MAX_BYTES, MEMORY_LIMIT
from ..model import Assignment, SubmissionResult, fingerprint
from ..trusted.assemble import reconcile
from ..trusted.sandbox import Zygote
from .gradebook import GradebookWriter, export_csv
from .ingest import Submission, Unreadable, find_submissions
from .outputs import write_outputs
from .processes import grade_in_child, setup_imports, start_forkserver

RUN_ON_DASK_LOCALLY = "local"  # grade_folder's scheduler for a Dask cluster on this machine


class BatchStopped(RuntimeError):
    """The pool could not grade (a Dask cluster out of reach, a worker with another checkout):
    the grades recorded so far are kept, and a re-run resumes."""


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)  # atomic: a crash never leaves half a record


def previous_results(out_dir: Path, subs: list[Submission], assignment: Assignment) -> dict[str, SubmissionResult]:
    """Grades an earlier run recorded for exactly these files and this source notebook."""
    kept = {}
    for sub in subs:
        path = out_dir / "results" / f"{sub.student}.json"
        try:
            old = SubmissionResult.from_json(json.loads(path.read_text()))
            data = sub.read() if sub.path is not None else None
        except (OSError, ValueError, KeyError, TypeError, Unreadable):
            continue
        same_parts = [p.grade_id for p in old.parts] == assignment.part_ids
        same_files = old.fingerprint == fingerprint(data) and old.source_fingerprint == assignment.source_fingerprint
        if same_parts and same_files and old.status == "graded":
            kept[sub.student] = old
    return kept


def write_reconciled(assignment: Assignment, sub: Submission, out_dir: Path) -> None:
    """``reconciled/<student>.ipynb``: the submission restored onto the release (see assemble.reconcile);
    the same notebook goes to ``autograded/<student>/<assignment>/<notebook>.ipynb``, where nbgrader's
    formgrader looks for it (its course folder is ``out_dir``)."""
    if assignment.release is None or sub.path is None:
        return
    try:
        submission_nb = nbformat.reads(sub.read().decode("utf-8"), as_version=4)
        nb = reconcile(assignment.release, assignment.source, submission_nb)
        (out_dir / "reconciled").mkdir(exist_ok=True)
        nbformat.write(nb, out_dir / "reconciled" / f"{sub.student}.ipynb")
        folder = out_dir / "autograded" / sub.student / assignment.name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{assignment.source_path.stem}.ipynb")
    except Exception:  # noqa: BLE001 - an unreadable upload has nothing to restore; never stop the batch
        return


class Pool(Protocol):
    """Where a batch's submissions are graded (this machine's cores, or a Dask cluster)."""

    def start(self) -> None: ...
    def results(
        self, todo: list[Submission], cell_timeout: float, hard_timeout: float
    ) -> Iterator[tuple[Submission, SubmissionResult]]: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


class LocalPool:
    """``workers`` threads, each driving one grading process at a time, with kernels from one
    zygote; this machine's cores are shared out among the workers' kernels."""

    def __init__(self, assignment: Assignment, *, workers: int, sandbox: bool, cgroups: bool, memory: int) -> None:
        self.assignment, self.workers = assignment, workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.preload = setup_imports(assignment.source)
        self.sandbox, self.cgroups, self.memory = sandbox, cgroups, memory
        self.zygote: Zygote | None = None

    def start(self) -> None:
        """The zygote (SandboxUnavailable: nothing graded) and the grading processes' forkserver."""
        self.zygote = Zygote(
            sandboxed=self.sandbox, preload=self.preload, threads=self.threads, cgroups=self.cgroups, memory=self.memory
        )
        start_forkserver(self.preload, self.threads)

    def results(
        self, todo: list[Submission], cell_timeout: float, hard_timeout: float
    ) -> Iterator[tuple[Submission, SubmissionResult]]:
        assert self.zygote is not None
        address = self.zygote.address()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {
                pool.submit(grade_in_child, self.assignment, s, cell_timeout, hard_timeout, address, self.threads): s
                for s in todo
            }
            for fut in as_completed(futures):
                yield futures[fut], fut.result()

    def describe(self) -> str:
        return self.zygote.describe() if self.zygote is not None else "no kernel ran"

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()


def grade_folder(
    assignment: str | Assignment,
    submissions: Path,
    out_dir: Path,
    workers: int | None = None,
    cell_timeout: float = CELL_TIMEOUT,
    progress: bool = True,
    source: Path | None = None,
    db_url: str | None = None,
    sandbox: bool = True,
    max_bytes: int = MAX_BYTES,
    memory: int = MEMORY_LIMIT,
    release: Path | None = None,
    cgroups: bool = True,
    scheduler: str | None = None,
    kernel_threads: int | None = None,
) -> int:
    """Grade every submission in ``submissions``; returns the exit code.

    Also writes ``reconciled/<student>.ipynb`` (each submission restored onto the
    release: metadata, tests and cell order back, added cells kept at the end) and its copy in
    nbgrader's ``autograded/`` layout when the release notebook exists (``release``, by default
    ``exercises/<assignment>/``), and ``nbgrader_export.csv`` with a gradebook (``db_url``).
    Run it from a script guarded by ``if __name__ == "__main__"``:
    the per-submission processes come from a forkserver (:func:`~autograder.batch.processes.start_forkserver`), which
    imports the main module.

    ``sandbox=False`` (the command line's ``--no-sandbox``) runs kernels as plain
    processes; otherwise a machine that cannot sandbox them raises
    :class:`autograder.trusted.sandbox.SandboxUnavailable` before anything is graded. ``max_bytes``
    bounds a submission file, ``memory`` a kernel (all its processes together); ``cgroups=False``
    leaves cgroups alone even where they are writable (kernels then get what an account without
    them gets: RLIMIT_NPROC and the memory watchdog, see :mod:`autograder.trusted.limits`).

    0: every submission has a grade (students whose code crashed or looped are graded
    and named in report.txt); 1: at least one entry could not be graded at all
    (an invalid student id, an unreadable file, no notebook, grader failure): see report.txt.
    """
    if not isinstance(assignment, Assignment):
        assignment = Assignment.load(assignment, source, release)
    name = assignment.name
    hard_timeout = cell_timeout * assignment.code_cells + 120
    subs, rejected = find_submissions(submissions, assignment.source_path.name, max_bytes)
    workers = workers or os.cpu_count() or 1
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results").mkdir(exist_ok=True)
    results = previous_results(out_dir, subs, assignment)
    todo = [s for s in subs if s.student not in results]
    pool: Pool
    if scheduler is None:
        pool = LocalPool(assignment, workers=workers, sandbox=sandbox, cgroups=cgroups, memory=memory)
    else:
        from .cluster import DaskPool

        pool = DaskPool(
            assignment,
            scheduler,
            workers=workers,
            sandbox=sandbox,
            cgroups=cgroups,
            memory=memory,
            kernel_threads=kernel_threads,
        )
    if todo:
        try:
            pool.start()  # SandboxUnavailable, ClusterUnavailable: nothing graded
        except BaseException:
            pool.close()
            raise
    gradebook = GradebookWriter(db_url, assignment) if db_url else None
    start = time.perf_counter()
    try:
        if gradebook:
            for student, r in results.items():  # grades kept from an earlier run
                gradebook.record(student, r)
        graded = pool.results(todo, cell_timeout, hard_timeout) if todo else iter(())
        for sub, result in tqdm(graded, total=len(todo), desc=f"grading {name}", unit="notebook", disable=not progress):
            results[sub.student] = result
            write_reconciled(assignment, sub, out_dir)
            # recorded at once: an interrupted batch keeps every grade finished so far
            _write_json(out_dir / "results" / f"{sub.student}.json", result.to_json())
            if gradebook:
                gradebook.record(sub.student, result)
    finally:
        if gradebook:
            gradebook.close()
        isolation = pool.describe() if todo else "no kernel ran (every grade was kept from an earlier run)"
        pool.close()
    write_outputs(name, results, out_dir, assignment.part_ids, isolation, rejected)
    if db_url:
        export_csv(db_url, out_dir / "nbgrader_export.csv")
    n_bad = sum(r.status != "graded" for r in results.values()) + len(rejected)
    if len(todo) < len(subs):
        print(f"kept {len(subs) - len(todo)} grade(s) recorded by an earlier run (unchanged files)")
    print(
        f"graded {len(results) - n_bad + len(rejected)}/{len(results) + len(rejected)} entries of "
        f"{name} in {time.perf_counter() - start:.1f} s -> {out_dir / 'grades.csv'}, "
        f"{out_dir / 'feedback'}/, {out_dir / 'report.txt'}"
    )
    return 1 if n_bad else 0
