"""Grading on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

One small class of homework 2 (the solution, the released stub, a submission with mistakes, and
a slow solution that sleeps in a cell) is graded twice: on this machine's cores, and as Dask tasks,
with one worker killed (SIGKILL) while it grades the slow submission. The Dask run is a re-run:
the local run's outputs for the solution are there already, so it keeps that grade and grades the
other three, as a local re-run would. It must lose no submission and write what the local run
wrote, byte for byte: grades.csv, report.txt, feedback, reconciled and autograded notebooks,
nbgrader's CSV export and the gradebook's grades; each results/<student>.json too, but for
``seconds`` (the time grading took, which no two runs share). About 30 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from homework_batches import ROOT, load_bugs, patched, patched_many

from autograder.batch import grade_folder
from autograder.batch.cluster import stop_workers_then_scheduler
from autograder.model import source_notebook

ASSIGNMENT = "hw2_convolution"
SLOW = "a_slow_solution"  # first in the queue, so that its rerun overlaps the others
SLEEP_CELL = "import time\ntime.sleep(3)\n"  # longer than the test waits before it kills the worker
DASK = str(Path(sys.executable).parent / "dask")
pytestmark = pytest.mark.xdist_group("dask_cluster")  # one worker of the grading stage runs this module


def start(log_file: Path, *args: str) -> subprocess.Popen:
    """``dask ARGS`` (``scheduler ...``, ``worker ...``), its output in ``log_file``."""
    with open(log_file, "wb") as log:
        return subprocess.Popen([DASK, *args, "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and workers ``w1``, ``w2`` (one task thread each, no nanny: a killed worker stays dead)."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file)]
    procs = {"scheduler": start(folder / "scheduler.log", *scheduler)}
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for name in ("w1", "w2"):
            worker = ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny"]
            procs[name] = start(folder / f"{name}.log", *worker, "--local-directory", str(folder / name))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield {"address": address, "procs": procs, "folder": folder}
    finally:
        workers = [proc for name, proc in procs.items() if name != "scheduler"]
        stop_workers_then_scheduler(workers, procs["scheduler"], timeout=20)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    source_nb = nbformat.read(source_notebook(ASSIGNMENT), as_version=4)
    nbformat.write(source_nb, folder / "solution.ipynb")
    (release,) = sorted((ROOT / "exercises" / ASSIGNMENT).glob("*.ipynb"))
    (folder / "released_stub.ipynb").write_bytes(release.read_bytes())
    nbformat.write(patched_many(source_nb, load_bugs(ASSIGNMENT)[:2]), folder / "mistakes.ipynb")
    nbformat.write(patched(source_nb, "corr1d", prepend=SLEEP_CELL), folder / f"{SLOW}.ipynb")
    return folder


def grade(submissions: Path, out: Path, **kwargs) -> int:
    return grade_folder(
        ASSIGNMENT, submissions, out, workers=2, cell_timeout=30, progress=False, db_url=f"sqlite:///{out}.db", **kwargs
    )


def outputs(out: Path) -> dict[str, bytes]:
    """Every file a batch wrote, by relative path; a result's record without its ``seconds``."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.parent.name == "results":
            record = json.loads(data)
            record.pop("seconds")
            data = json.dumps(record, indent=1).encode()
        files[str(path.relative_to(out))] = data
    return files


def grades_in(db: Path) -> list[tuple]:
    """The gradebook's grades: student, part, automatic and manual score, whether a person must look."""
    with sqlite3.connect(db) as con:
        return sorted(
            con.execute(
                "SELECT submission.student_id, cell.name, grade.auto_score, grade.manual_score, "
                "grade.needs_manual_grade FROM grade "
                "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
                "JOIN submitted_assignment AS submission ON submitted_notebook.assignment_id = submission.id "
                "JOIN base_cell AS cell ON grade.cell_id = cell.id"
            ).fetchall()
        )


@pytest.fixture(scope="module")
def local(submissions, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "graded"
    assert grade(submissions, out) == 0, (out / "report.txt").read_text()
    return out


def kill_the_worker_grading(address: str, student: str, procs: dict, stop: threading.Event) -> str:
    """Wait until a worker runs ``student``'s task, kill it (SIGKILL), return its name."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        while not stop.is_set():
            for worker, keys in client.processing().items():
                if any(str(key).endswith(f"-{student}") for key in keys):
                    time.sleep(1.0)  # its zygote is starting, or the student's cell is sleeping
                    name = client.scheduler_info(n_workers=-1)["workers"][worker]["name"]
                    os.kill(procs[name].pid, signal.SIGKILL)
                    return name
            time.sleep(0.1)
    return ""


def test_a_dask_rerun_with_a_worker_killed_writes_what_a_local_batch_writes(
    cluster, submissions, local, tmp_path, capsys
):
    out = tmp_path / "graded"
    out.mkdir()
    for path in local.rglob("*"):  # the solution's outputs, as an interrupted run leaves them
        rel = path.relative_to(local)
        if path.is_file() and "solution" in (path.stem, *rel.parts):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(path.read_bytes())
    capsys.readouterr()
    stop, killed = threading.Event(), []
    killer = threading.Thread(
        target=lambda: killed.append(kill_the_worker_grading(cluster["address"], SLOW, cluster["procs"], stop))
    )
    killer.start()
    try:
        code = grade(submissions, out, scheduler=cluster["address"], kernel_threads=1)
    finally:
        stop.set()
        killer.join()
    assert "kept 1 grade(s)" in capsys.readouterr().out
    assert killed and killed[0] in ("w1", "w2"), "no worker was killed while it graded the slow submission"
    assert cluster["procs"][killed[0]].wait(timeout=10) == -signal.SIGKILL
    assert code == 0, (out / "report.txt").read_text()
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    assert sorted(results) == [SLOW, "mistakes", "released_stub", "solution"]
    assert results[SLOW]["score"] == results[SLOW]["max_score"] > 0
    assert outputs(out) == outputs(local)
    assert grades_in(Path(f"{out}.db")) == grades_in(Path(f"{local}.db"))
