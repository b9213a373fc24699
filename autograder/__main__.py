"""Command line of the course's grading pipeline.

python -m autograder release --all                 regenerate exercises/ from solutions/
python -m autograder diff --all                    exit 1 if exercises/ is stale
python -m autograder grade hw1_mlp SUBMISSIONS/    grade a class (CSV, feedback, report)
python -m autograder grade hw1_mlp SUBMISSIONS/ --scheduler tcp://HOST:8786
                                                   the same on the workers of a Dask cluster
python -m autograder check exercises/hw1_mlp/hw1_mlp.ipynb
                                                   a student's own check: visible tests only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from . import COURSE_ROOT, EXERCISES
from .defaults import CELL_TIMEOUT, MAX_BYTES


def _assignments(args) -> list[str]:
    from .release import assignments

    names = assignments() if args.all else args.assignments
    if not names:
        raise SystemExit("name assignments or pass --all")
    return names


def cmd_release(args) -> int:
    from .release import course_relative, release

    for target in release(_assignments(args)):
        print(f"released {course_relative(target)}")
    return 0


def cmd_diff(args) -> int:
    from .release import diff, generate

    names = _assignments(args)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(names, Path(tmp))
        problems = [line for name in names for line in diff(name, fresh[name])]
    for line in problems:
        print(line)
    return 1 if problems else 0


def cmd_grade(args) -> int:
    from .batch import grade_folder
    from .batch.folder import RUN_ON_DASK_LOCALLY, BatchStopped
    from .batch.gradebook import default_url
    from .model import Assignment, AssignmentNotFound
    from .trusted.sandbox import SandboxUnavailable

    out = args.out or COURSE_ROOT / "grading" / args.assignment
    db_url = None if args.db == "none" else (args.db or default_url())
    try:
        assignment = Assignment.load(args.assignment)
    except AssignmentNotFound as err:
        raise SystemExit(str(err)) from None
    scheduler = args.scheduler or (RUN_ON_DASK_LOCALLY if args.dask else None)
    try:
        code = grade_folder(
            assignment,
            args.submissions,
            out,
            workers=args.workers,
            cell_timeout=args.cell_timeout,
            progress=not args.no_progress,
            db_url=db_url,
            sandbox=not args.no_sandbox,
            max_bytes=args.max_bytes,
            scheduler=scheduler,
        )
    except SandboxUnavailable as err:
        print(
            f"grading refused: {err}.\nStudents' code would run with your rights, next to the grades. "
            "Install bubblewrap (and allow unprivileged user namespaces), or pass --no-sandbox to grade "
            "without isolation (the report then says so on its first line).",
            file=sys.stderr,
        )
        return 2
    except BatchStopped as err:
        print(f"grading stopped: {err}", file=sys.stderr)
        return 2
    if db_url:
        print(
            f"gradebook: {db_url}; nbgrader's CSV export -> {out / 'nbgrader_export.csv'}; "
            f"formgrader: --CourseDirectory.root={out}"
        )
    return code


def cmd_check(args) -> int:
    """Run a student's notebook against the *released* tests (no hidden tests).

    The release is ``exercises/<assignment>/``; where there is none (the course package
    installed alone, as on Colab), the notebook's own test cells are the visible tests.
    """
    from .model import Assignment
    from .trusted.grade import grade_submission
    from .trusted.sandbox import Zygote

    notebook = args.notebook.resolve()
    release = _release_of(notebook, args.assignment)
    assignment = Assignment.load(release.parent.name, release, with_release=False)
    zygote = Zygote(sandboxed=False)  # the student's own machine: their code, their rights
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-check-") as scratch:
            result = grade_submission(assignment, notebook, zygote, args.cell_timeout, workdir=scratch)
    finally:
        zygote.close()
    auto = [p for p in result.parts if not p.manual]
    for part in result.parts:
        mark = "TODO" if part.manual else "PASS" if part.status == "passed" else "FAIL"
        message = "a written answer: your instructor grades it" if part.manual else part.message
        print(f"[{mark}] {part.grade_id}: {message}")
    for note in result.notes:
        print(f"note: {note}")
    passed = sum(p.status == "passed" for p in auto)
    print(f"{passed} of {len(auto)} parts pass their visible tests (the grader also runs hidden tests).")
    return 0 if passed == len(auto) else 1


def _release_of(notebook: Path, assignment: str | None) -> Path:
    """The released notebook that ``notebook`` is a copy of; without a release (the course package
    installed alone, as on Colab), ``notebook`` itself, whose test cells are the visible tests."""
    folder = EXERCISES / (assignment or notebook.parent.name)
    if (folder / notebook.name).exists():
        return folder / notebook.name
    candidates = sorted(folder.glob("*.ipynb"))
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise SystemExit(f"cannot tell which notebook of {folder} {notebook} belongs to: pass --assignment")
    print(f"note: no release in {folder}: the notebook's own test cells are the visible tests")
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, help_ in (
        ("release", cmd_release, "regenerate exercises/<assignment> from solutions/"),
        ("diff", cmd_diff, "compare exercises/ with a fresh generation"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("assignments", nargs="*")
        p.add_argument("--all", action="store_true", help="every assignment in solutions/")
        p.set_defaults(func=func)

    p = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    p.add_argument("assignment", help="e.g. hw1_mlp (a folder of solutions/)")
    p.add_argument("submissions", type=Path, help="folder with one notebook or folder per student")
    p.add_argument("--out", type=Path, help="output folder (default: grading/<assignment>)")
    p.add_argument("--workers", type=int, default=None, help="parallel graders (default: CPU count)")
    p.add_argument(
        "--cell-timeout", type=float, default=CELL_TIMEOUT, help=f"seconds per cell (default {CELL_TIMEOUT:g})"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run students' kernels as plain processes (only where bubblewrap cannot run)",
    )
    p.add_argument(
        "--db",
        help="gradebook URL (default: sqlite:///<course>/grading/gradebook.db; "
        "postgresql://user:pw@host:port/db for PostgreSQL; 'none' to skip)",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=MAX_BYTES,
        help="largest submission file read, in bytes (default 20 MiB; larger ones are reported)",
    )
    dask = p.add_mutually_exclusive_group()
    dask.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the workers of this Dask scheduler (tcp://HOST:8786): each needs bubblewrap and "
        "this checkout (README, Instructors)",
    )
    dask.add_argument(
        "--dask", action="store_true", help="grade on a Dask cluster of --workers processes started on this machine"
    )
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("check", help="a student's check: run the visible tests of a notebook")
    p.add_argument("notebook", type=Path)
    p.add_argument("--assignment", help="assignment name (default: the notebook's folder name)")
    p.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT)
    p.set_defaults(func=cmd_check)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
