"""Batch-grading throughput: N synthetic submissions of one homework, 1 and 2 workers.

    .venv/bin/python benchmarks/bench_grading.py --assignment hw2_convolution --n 200 --workers 1 2
    .venv/bin/python benchmarks/bench_grading.py --n 40 --workers 2 --no-cgroups   # kernels without cgroups
    .venv/bin/python benchmarks/bench_grading.py --n 40 --workers 1 2 --dask       # on a Dask cluster here
    .venv/bin/python benchmarks/bench_grading.py --n 400 --scheduler tcp://HOST:8786  # on a running cluster

The class is made from the real release: perfect submissions (the solution code
filled into the student version), untouched student versions, and one submission
per classic mistake of tests/buggy/<assignment>.py, in rotation. Prints seconds per
submission, submissions per second, the wall time and the speed-up over the first worker
count. With ``--dask``, each worker count is a Dask cluster of that many worker processes
on this machine (``grade --dask``); with ``--scheduler``, the workers of that scheduler grade
(one row). This is a measurement, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.batch import grade_folder
from autograder.model import release_notebook, source_notebook
from autograder.parts import is_solution_cell, nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]


def solution_code(source_nb) -> dict[str, str]:
    return {nbgrader_meta(c)["grade_id"]: c.source for c in source_nb.cells if is_solution_cell(c)}


def make_class(assignment: str, n: int, folder: Path) -> None:
    source_nb = nbformat.read(source_notebook(assignment), as_version=4)
    release_path = release_notebook(assignment)
    assert release_path is not None, f"no release of {assignment} in exercises/ (make release)"
    code = solution_code(source_nb)
    spec = importlib.util.spec_from_file_location("bugs", ROOT / "tests" / "buggy" / f"{assignment}.py")
    bugs_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bugs_module)
    variants = [("perfect", {}), ("stub", None)] + [
        (b["name"], {b["cell"]: code[b["cell"]].replace(b["find"], b["replace"])}) for b in bugs_module.BUGS
    ]
    for i in range(n):
        name, patch = variants[i % len(variants)]
        nb = nbformat.read(release_path, as_version=4)
        if patch is not None:
            for cell in nb.cells:
                gid = nbgrader_meta(cell).get("grade_id")
                if is_solution_cell(cell) and gid in code:
                    cell.source = patch.get(gid, code[gid])
        nbformat.write(nb, folder / f"student{i:03d}_{name}.ipynb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="hw2_convolution")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--no-cgroups",
        action="store_true",
        help="kernels without their own cgroups (RLIMIT_NPROC and the memory watchdog instead)",
    )
    parser.add_argument("--dask", action="store_true", help="each worker count as a Dask cluster on this machine")
    parser.add_argument("--scheduler", help="grade on the workers of this Dask scheduler (tcp://HOST:8786)")
    args = parser.parse_args()
    scheduler = args.scheduler or ("local" if args.dask else None)
    counts = [0] if args.scheduler else args.workers  # 0: whatever workers the scheduler has
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        subs = Path(tmp) / "submissions"
        subs.mkdir()
        make_class(args.assignment, args.n, subs)
        for workers in counts:
            out = Path(tmp) / f"out-{workers}"
            start = time.perf_counter()
            code = grade_folder(
                args.assignment,
                subs,
                out,
                workers=workers or None,
                progress=True,
                cgroups=not args.no_cgroups,
                scheduler=scheduler,
            )
            wall = time.perf_counter() - start
            rows.append((workers, wall, code))
            shutil.rmtree(out)
    base = rows[0][1]
    where = f" on Dask ({args.scheduler or 'a cluster on this machine'})" if scheduler else " on this machine's pool"
    print(
        f"\n{args.n} submissions of {args.assignment}{where}"
        + (" (kernels without cgroups)" if args.no_cgroups else "")
    )
    print("workers   wall (s)   s/submission   submissions/s   speed-up   exit")
    for workers, wall, code in rows:
        shown = workers or "all"
        print(f"{shown:>7} {wall:>10.1f} {wall / args.n:>14.2f} {args.n / wall:>15.3f} {base / wall:>10.2f} {code:>6}")


if __name__ == "__main__":
    main()
