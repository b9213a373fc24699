"""Every test of the course, stage by stage (``make test`` runs this).

    a. pages     nbval, compare mode, on every book page: each page is executed once,
                 here, and its stored outputs must come out again (portability
                 configuration, below); a raising cell fails the stage
    b. book      the HTML book is built from the stored outputs that stage a proves
                 (execute_notebooks: off) with zero warnings; no stored output is an error
       browser   headless Chromium reads that book page by page (maths, images, launch
                 buttons, search) and runs homework 1 in JupyterLab up to nbgrader's Validate
                 (book and browser mostly wait on one core: they run beside stage a, whose
                 kernels have a lower CPU priority; their output is printed after it)
    c. solutions nbval-lax on every solutions/ notebook: every cell runs and every
                 assert of its tests (hidden ones included) holds
    d. release   exercises/ equals a fresh nbgrader generation; nbgrader's Validate
                 flags the student version; setup cells in sync
    e. grading   solutions score full marks, exercises 0, buggy submissions lose
                 exactly their part, crashes and infinite loops are contained; a small
                 class graded on a Dask scheduler and two workers, one of them killed,
                 writes what a local run writes (one pytest worker per core: the tests
                 that read one graded batch are an xdist group, graded once in one worker)
    f. unit      the shared package and the grader's pieces

Each stage is one pytest run; its time is printed as it ends, and a table of all
stages closes the run with the total count of tests. Stages run even after one
fails, so one run shows everything that is broken. Exit code 0 only if all pass.

    python tools/run_tests.py [STAGE ...]     e.g. `python tools/run_tests.py unit grading`
    python tools/run_tests.py full-pages      the opt-in slow stage (not in `make test`)
    python tools/run_tests.py latest          opt-in: the pages and solutions under the newest releases
    python tools/run_tests.py oldest          opt-in: the same under the oldest releases pyproject.toml allows

Portability. The stored outputs of the pages are made with the default settings
(tools/execute_notebook.py). Every stage here runs with the math libraries on OTHER
kernels and another thread count (PORTABILITY below), so one execution of a page proves
that its outputs reproduce on a machine with another CPU; the grading kernels inherit
the same environment, so the grader's verdicts are proven the same way. On this
course's machines each variable changes results (tests/unit/test_portability.py checks
it, so the check cannot silently become a no-op). `make test` prints the configuration
it uses; set the same variables by hand to reproduce a failure:

    OPENBLAS_CORETYPE   NumPy's matrix products (OpenBLAS): a kernel other than the one
                        OpenBLAS picks for this CPU (Sandybridge: AVX without FMA;
                        Prescott where Sandybridge is the CPU's own)
    ONEDNN_MAX_CPU_ISA  PyTorch's convolutions, forward and backward (oneDNN): AVX code
                        (no FMA) instead of the CPU's AVX2/AVX-512 code; SSE4.1 on a CPU
                        without AVX2. (SSE4.1 gives the same results as AVX here and
                        trains 35% slower.)
    MKL_CBWR            PyTorch's matrix products and Linear layers (MKL sgemm):
                        MKL's portable code path instead of the CPU-specific one
    OMP_NUM_THREADS     one thread per kernel (the stored outputs use every core):
                        reductions (torch.sum) and NumPy's products change with it. The
                        pages and solutions stages run one kernel per core
                        (pytest-xdist), so no core idles; so do the release and unit
                        stages.

`full-pages` executes chapters 6-9 with CONVNETS_FULL=1, which makes their
configuration cells pick the full (GPU-size) configuration on a CPU, in nbval-lax
mode (outputs differ from the stored ones by design; every cell must run and every
assert must hold). It takes a long time on a CPU and is not part of `make test`.

`latest` (opt-in too) builds _build/latest-venv with the newest release of every
dependency, without the constraints file (tools/latest_env.py), and runs every page and
every solution notebook there with that environment's Python, in nbval-lax mode: the
stored outputs come from the pinned versions, and other releases may print other last
digits; every cell must run and every assert (each number a page states) must hold.
`oldest` does the same in _build/oldest-venv, where pyproject.toml's dependencies (what the
Colab setup cell installs) are at their lower bounds.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = "tools/nbval_sanitize.cfg"
WORKERS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
# One kernel per worker, every cell of a notebook in the same worker (nbval shares a
# kernel between the cells of a notebook). The notebooks go to the workers in the order
# given (pytest-xdist would otherwise order them by their number of cells).
PARALLEL = ["-n", str(WORKERS), "--dist", "loadfile", "--no-loadscope-reorder"]
# Longest first (seconds measured by the pages stage), so that the workers finish together.
PAGES = [
    "book/09_transfer_visualisation.ipynb",
    "book/07_modern_architectures.ipynb",
    "book/01_mlp_backprop.ipynb",
    "book/08_normalization.ipynb",
    "book/06_lenet5.ipynb",
    "book/10_sliding_windows.ipynb",
    "book/02_convolution_correlation.ipynb",
    "book/05_pooling.ipynb",
    "book/04_conv_layers.ipynb",
    "book/03_sobel_v1.ipynb",
    "book/intro.ipynb",
]
SOLUTIONS = ["solutions/hw5_lenet5"]  # the longest; the others follow in name order
FULL_PAGES = [
    "book/06_lenet5.ipynb",
    "book/07_modern_architectures.ipynb",
    "book/08_normalization.ipynb",
    "book/09_transfer_visualisation.ipynb",
]


def toc_files() -> list[str]:
    """The pages of _toc.yml, root first, without extension (e.g. ``book/01_mlp_backprop``)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def pages() -> list[str]:
    """Every notebook of book/, the known long ones first (a new page is not forgotten)."""
    found = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.ipynb"))
    return [p for p in PAGES if p in found] + [p for p in found if p not in PAGES]


def solutions() -> list[str]:
    """Every homework folder of solutions/, the known long ones first."""
    found = sorted(str(p.parent.relative_to(ROOT)) for p in (ROOT / "solutions").glob("*/*.ipynb"))
    return [s for s in SOLUTIONS if s in found] + [s for s in dict.fromkeys(found) if s not in SOLUTIONS]


STAGES = {
    "pages": [*PARALLEL, "--nbval", "--nbval-sanitize-with", SANITIZE, "--nbval-cell-timeout", "900", *pages()],
    "book": ["tests/stages/test_book_build.py"],
    "browser": ["tests/stages/test_browser.py"],
    "solutions": [*PARALLEL, "--nbval-lax", "--nbval-cell-timeout", "600", *solutions()],
    "release": ["-n", str(WORKERS), "tests/stages/test_release.py"],  # independent tests: any worker
    # The tests that read one graded batch are an xdist group (xdist_group marks): one worker grades
    # the batch once and runs them all. The groups start in the order of the files (not by size): the
    # Dask test, which mostly waits, first, beside the CPU-bound batches.
    "grading": [
        *["-n", str(WORKERS), "--dist", "loadgroup", "--no-loadscope-reorder"],
        "tests/stages/test_grading_cluster.py",  # a real Dask scheduler and two workers, about 30 s
        "tests/stages/test_grading_corpus.py",
        "tests/stages/test_grading.py",
        "tests/stages/test_lying_kernel.py",
    ],
    "unit": ["-n", str(WORKERS), "tests/unit"],
}
# Stages that mostly wait (Sphinx on one core, a browser reading pages): they run beside the
# pages stage, which saturates every core; the pages stage yields them the CPU when they need it
# (a lower priority), so they cost it little and the whole run is shorter by about their time.
BESIDE = {"pages": ["book", "browser"]}
PAGES_NICENESS = 10
OPT_IN = {
    "full-pages": [*PARALLEL, "--nbval-lax", "--nbval-cell-timeout", "36000", *FULL_PAGES],
}
OPT_IN_ENV = {"full-pages": {"CONVNETS_FULL": "1"}}
OPT_IN["latest"] = OPT_IN["oldest"] = [*PARALLEL, "--nbval-lax", "--nbval-cell-timeout", "900", *pages(), *solutions()]


def other_python(oldest: bool) -> str:
    """The interpreter of the `latest` (or `oldest`) stage, in the environment that
    tools/latest_env.py builds afresh."""
    sys.path.insert(0, str(ROOT / "tools"))
    import latest_env

    return str(latest_env.build(oldest=oldest))


# stages run by another interpreter than this one
OPT_IN_PYTHON = {"latest": lambda: other_python(False), "oldest": lambda: other_python(True)}


VARIABLES = ("OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS")


def openblas_coretype() -> str:
    """An OpenBLAS kernel other than the one OpenBLAS uses here (the CPU's own, or the
    ambient OPENBLAS_CORETYPE with which the stored outputs were made)."""
    try:
        import numpy  # noqa: F401 - loads OpenBLAS, so that threadpoolctl sees it
        from threadpoolctl import threadpool_info

        own = next((i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"), None)
    except Exception:  # noqa: BLE001 - a driver without numpy still runs the tests
        own = None
    return "Prescott" if str(own).lower() in ("sandybridge", "prescott") else "Sandybridge"


def onednn_isa() -> str:
    """oneDNN's instruction set for the stages: AVX (without FMA) where the CPU has AVX2, else SSE4.1."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        flags = []
    return "AVX" if "avx2" in flags else "SSE41"


def portability() -> dict[str, str]:
    """The environment of every stage: other kernels and another thread count (see above)."""
    if "CONVNETS_PORTABILITY" in os.environ:  # inside a stage: the driver's choice
        return json.loads(os.environ["CONVNETS_PORTABILITY"])
    env = {"OMP_NUM_THREADS": "1"}
    if platform.machine().lower() in ("x86_64", "amd64"):
        env.update(OPENBLAS_CORETYPE=openblas_coretype(), ONEDNN_MAX_CPU_ISA=onednn_isa(), MKL_CBWR="COMPATIBLE")
    return env


def ambient() -> dict[str, str]:
    """The values these variables have outside the test run (those of the stored outputs)."""
    if "CONVNETS_AMBIENT" in os.environ:
        return json.loads(os.environ["CONVNETS_AMBIENT"])
    return {k: os.environ[k] for k in VARIABLES if k in os.environ}


PORTABILITY = portability()
AMBIENT = ambient()


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


def run_stage(
    stage: str, known: dict[str, list[str]], env: dict[str, str], log: Path | None = None, nice: int = 0
) -> tuple[str, int, int, int, float]:
    """Run one stage's pytest; its row (stage, passed, failed, skipped, seconds). With ``log``,
    its output is appended there instead of printed; ``nice`` lowers its CPU priority."""
    out = open(log, "a") if log is not None else None
    try:
        return _run_stage(stage, known, env, out, nice)
    finally:
        if out is not None:
            out.close()


def _run_stage(stage: str, known: dict[str, list[str]], env: dict[str, str], out: IO[str] | None, nice: int):
    def say(text: str) -> None:
        print(text, file=out or sys.stdout, flush=True)

    junit = ROOT / "_build" / f"junit-{stage}.xml"
    junit.unlink(missing_ok=True)
    say(f"\n===== stage {stage}: pytest {' '.join(known[stage])}")
    start = time.perf_counter()
    python, stage_env = sys.executable, dict(env, **OPT_IN_ENV.get(stage, {}))
    if stage in OPT_IN_PYTHON:
        try:
            python = OPT_IN_PYTHON[stage]()
        except subprocess.CalledProcessError as error:
            say(f"===== stage {stage}: its environment could not be built ({error})")
            return (stage, 0, 1, 0, time.perf_counter() - start)
        stage_env["PATH"] = str(Path(python).parent) + os.pathsep + stage_env["PATH"]
    command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-ra", f"--junitxml={junit}", *known[stage]]
    code = subprocess.call(
        ["nice", "-n", str(nice), *command] if nice else command,
        cwd=ROOT,
        env=stage_env,
        stdout=out,
        stderr=subprocess.STDOUT if out is not None else None,
    )
    seconds = time.perf_counter() - start
    passed, failed, skipped = count(junit)
    if code not in (0, 5) and failed == 0:
        failed = 1  # pytest itself failed (usage error, collection crash)
    if code == 5:
        failed += 1  # a stage that collects no test is a broken stage
        say(f"stage {stage} collected no test")
    say(f"===== stage {stage}: {passed} passed, {failed} failed, {skipped} skipped in {seconds:.1f} s")
    return (stage, passed, failed, skipped, seconds)


def main(argv: list[str]) -> int:
    known = {**STAGES, **OPT_IN}
    chosen = argv or list(STAGES)
    unknown = [s for s in chosen if s not in known]
    if unknown:
        print(f"unknown stage(s) {unknown}; choose from {list(known)}")
        return 2
    env = dict(os.environ, PYTHONHASHSEED="0", **PORTABILITY)
    env.update(CONVNETS_PORTABILITY=json.dumps(PORTABILITY), CONVNETS_AMBIENT=json.dumps(AMBIENT))
    env.pop("MPLBACKEND", None)  # the kernels must use the inline backend: pages store figures
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    print(
        "portability configuration: "
        + " ".join(f"{k}={v}" for k, v in PORTABILITY.items())
        + f"; {WORKERS} worker(s) for pages and solutions",
        flush=True,
    )
    (ROOT / "_build").mkdir(exist_ok=True)
    wall = time.perf_counter()
    rows: dict[str, tuple[str, int, int, int, float]] = {}
    beside = [s for s in BESIDE.get("pages", []) if "pages" in chosen and s in chosen]
    lane = None
    if beside:  # a thread runs them one after the other, their output kept in a log until pages ends
        log_path = ROOT / "_build" / "beside-pages.log"

        def run_beside() -> None:
            for stage in beside:
                try:
                    rows[stage] = run_stage(stage, known, env, log_path)
                except Exception as error:  # noqa: BLE001 - counted as a failed stage below
                    print(f"stage {stage} could not run: {error!r}", flush=True)

        lane = threading.Thread(target=run_beside, daemon=True)
        log_path.unlink(missing_ok=True)
    for stage in chosen:
        if stage in beside:
            continue
        if stage == "pages" and lane is not None:
            print(f"\n===== stages {', '.join(beside)} run beside pages (their output follows it)", flush=True)
            lane.start()
            rows[stage] = run_stage(stage, known, env, nice=PAGES_NICENESS)
            lane.join()
            for stage in beside:
                rows.setdefault(stage, (stage, 0, 1, 0, 0.0))  # a stage that did not run failed
            print((ROOT / "_build" / "beside-pages.log").read_text(errors="replace"), flush=True)
            continue
        rows[stage] = run_stage(stage, known, env)
    wall = time.perf_counter() - wall
    print("\nstage       passed  failed  skipped   seconds")
    ordered = [rows[s] for s in chosen if s in rows]
    for stage, passed, failed, skipped, seconds in ordered:
        note = "  (beside pages)" if stage in beside else ""
        print(f"{stage:<10} {passed:>7} {failed:>7} {skipped:>8} {seconds:>9.1f}{note}")
    total_passed = sum(r[1] for r in ordered)
    total_failed = sum(r[2] for r in ordered)
    print(f"all stages took {wall:.1f} s" + (f" ({', '.join(beside)} beside pages)" if beside else ""))
    print(f"total: {total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
