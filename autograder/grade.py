"""Grade one submitted notebook against its source notebook.

``python -m autograder.grade SOURCE SUBMISSION RESULT.json`` is what the batch
grader runs in a child process per submission, so that nothing a submission does
to its interpreter can touch the grader or another student.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .assemble import REPORT_TAG, assemble
from .execute import PartResult, collect, run
from .parts import nbgrader_meta, read_parts
from .sandbox import DEFAULT_MEMORY_LIMIT, kill_tree, limit_memory, namespaces_available

DEFAULT_CELL_TIMEOUT = 120.0


def zero_result(parts, status: str, message: str) -> list[PartResult]:
    return [PartResult(p.grade_id, p.points, 0.0, status, message) for p in parts]


def setup_imports(source_nb) -> list[str]:
    """Modules that the read-only code cells of ``source_nb`` import (the setup cells).

    The batch grader imports them once, in the process that the kernels are forked from.
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
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            modules += [n for n in names if n not in modules]
    return modules


def grade_submission(source_path: Path, submission_path: Path,
                     cell_timeout: float = DEFAULT_CELL_TIMEOUT, sandbox: bool = False,
                     threads: int | None = None) -> dict:
    """Grade ``submission_path``; returns a JSON-ready dict (see :func:`summarise`).

    ``sandbox=True`` runs the kernel in the namespace sandbox of :mod:`autograder.sandbox`;
    ``threads`` caps its BLAS/OpenMP threads.
    """
    start = time.perf_counter()
    source_nb = nbformat.read(source_path, as_version=4)
    parts = read_parts(source_nb)
    try:
        submission_nb = nbformat.read(submission_path, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable upload is reported, never fatal
        reason = f"not a readable notebook ({type(err).__name__}: {str(err)[:200]})"
        return summarise(zero_result(parts, "not run", "The submitted file could not be read as a notebook."),
                         [reason], "ungradable", start)
    nb, notes, index_map, flags = assemble(source_nb, submission_nb)
    with tempfile.TemporaryDirectory(prefix="autograde-") as workdir:
        completed, run_notes = run(nb, Path(workdir), cell_timeout, sandboxed=sandbox, threads=threads)
    notes += run_notes
    results = collect(nb, parts, index_map, completed, cell_timeout)
    notes += interrupted_cells(nb, cell_timeout)
    restored = read_restored(nb)
    if restored:
        flags.append("replaced test functions at run time (restored before the tests ran): "
                     + ", ".join(restored))
    return summarise(results, notes, "graded", start, flags)


def read_restored(nb) -> list[str]:
    """What the guard had to restore, printed by the last (report) cell; [] if it did not run."""
    for cell in nb.cells:
        if REPORT_TAG in cell.get("metadata", {}).get("tags", []):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            try:
                return list(ast.literal_eval(text.strip().splitlines()[-1])) if text.strip() else []
            except (ValueError, SyntaxError):
                return ["(unreadable guard report)"]
    return []


def interrupted_cells(nb, cell_timeout: float) -> list[str]:
    """Notes naming each cell that was stopped at the time limit."""
    notes = []
    for cell in nb.cells:
        if any(o.get("output_type") == "error" and o.get("ename") == "KeyboardInterrupt"
               for o in cell.get("outputs", [])):
            name = nbgrader_meta(cell).get("grade_id", "a setup cell")
            notes.append(f"cell '{name}' was stopped at the time limit ({cell_timeout:g} s): "
                         "an infinite loop or a far too slow solution")
    return notes


def summarise(results: list[PartResult], notes: list[str], status: str, start: float,
              flags: list[str] | None = None) -> dict:
    return {
        "status": status,
        "flags": flags or [],
        "parts": [r.to_dict() for r in results],
        "score": sum(r.points for r in results),
        "max_score": sum(r.max_points for r in results),
        "notes": notes,
        "seconds": round(time.perf_counter() - start, 2),
    }


def child_main(source: str, submission: str, out: str, log: str, workdir: str,
               cell_timeout: float, sandbox: bool, threads: int | None = None,
               memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
    """Entry point of the batch grader's per-submission process (see autograder.batch)."""
    os.setsid()
    os.chdir(workdir)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    limit_memory(memory_limit)
    try:
        result = grade_submission(Path(source), Path(submission), cell_timeout, sandbox=sandbox,
                                  threads=threads)
        result["isolation"] = "namespaces" if sandbox else "process"
        Path(out).write_text(json.dumps(result, indent=1))
    finally:
        kill_tree()  # nothing the submission started outlives its grading


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("submission", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT)
    parser.add_argument("--memory-limit", type=int, default=DEFAULT_MEMORY_LIMIT, help="bytes")
    parser.add_argument("--sandbox", choices=("auto", "yes", "no"), default="auto",
                        help="run the kernel in the namespace sandbox (auto: when this machine allows it)")
    args = parser.parse_args(argv)
    limit_memory(args.memory_limit)
    sandbox = args.sandbox == "yes" or (args.sandbox == "auto" and namespaces_available())
    result = grade_submission(args.source, args.submission, args.cell_timeout, sandbox=sandbox)
    result["isolation"] = "namespaces" if sandbox else "process"
    args.result.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
