"""Every test of the course, stage by stage (``make test`` runs this).

    a. book      the book builds with zero warnings; a raising cell fails a build
       browser   headless Chromium reads that book page by page (maths, images, launch
                 buttons, search) and runs homework 1 in JupyterLab up to nbgrader's Validate
    b. pages     nbval, compare mode, on every book page
    c. solutions nbval on every solutions/ notebook (they run and pass their tests)
    d. release   exercises/ equals a fresh nbgrader generation; setup cells in sync
    e. grading   solutions score full marks, exercises 0, buggy submissions lose
                 exactly their part, crashes and infinite loops are contained
    f. unit      the shared package and the grader's pieces

Each stage is one pytest run; its time is printed as it ends, and a table of all
stages closes the run with the total count of tests. Stages run even after one
fails, so one run shows everything that is broken. Exit code 0 only if all pass.

    python tools/run_tests.py [STAGE ...]     e.g. `python tools/run_tests.py unit grading`
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = "tools/nbval_sanitize.cfg"

STAGES = {
    "book": ["tests/stages/test_book_build.py"],
    "browser": ["tests/stages/test_browser.py"],
    "pages": ["--nbval", "--nbval-sanitize-with", SANITIZE, "--nbval-cell-timeout", "900", "book"],
    "solutions": ["--nbval-lax", "--nbval-cell-timeout", "600", "solutions"],
    "release": ["tests/stages/test_release.py"],
    "grading": ["tests/stages/test_grading.py", "tests/stages/test_grading_corpus.py"],
    "unit": ["tests/unit"],
}


def count(junit: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a JUnit XML report; a missing report counts as one failure."""
    if not junit.exists():
        return 0, 1, 0
    tests = failed = skipped = 0
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(argv: list[str]) -> int:
    chosen = argv or list(STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        print(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
        return 2
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)  # the kernels must use the inline backend: pages store figures
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    rows = []
    (ROOT / "_build").mkdir(exist_ok=True)
    for stage in chosen:
        junit = ROOT / "_build" / f"junit-{stage}.xml"
        junit.unlink(missing_ok=True)
        print(f"\n===== stage {stage}: pytest {' '.join(STAGES[stage])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra",
                                f"--junitxml={junit}", *STAGES[stage]], cwd=ROOT, env=env)
        seconds = time.perf_counter() - start
        passed, failed, skipped = count(junit)
        if code not in (0, 5) and failed == 0:
            failed = 1  # pytest itself failed (usage error, collection crash)
        if code == 5:
            failed += 1  # a stage that collects no test is a broken stage
            print(f"stage {stage} collected no test")
        rows.append((stage, passed, failed, skipped, seconds))
        print(f"===== stage {stage}: {passed} passed, {failed} failed, {skipped} skipped "
              f"in {seconds:.1f} s", flush=True)
    print("\nstage       passed  failed  skipped   seconds")
    for stage, passed, failed, skipped, seconds in rows:
        print(f"{stage:<10} {passed:>7} {failed:>7} {skipped:>8} {seconds:>9.1f}")
    total_passed = sum(r[1] for r in rows)
    total_failed = sum(r[2] for r in rows)
    print(f"all stages took {sum(r[4] for r in rows):.1f} s")
    print(f"total: {total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
