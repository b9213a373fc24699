"""Grades reach nbgrader's gradebook, SQLite and PostgreSQL, with parallel workers,
and nbgrader's own export reads them back."""

import csv
import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest
from nbgrader.api import Gradebook
from toy_assignment import grade, make_toy, submission

from autograder.batch.gradebook import ensure_alembic_on_path, export_csv, normalise_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_initdb():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return found[-1] if found else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server on 127.0.0.1, installed from Debian's packages if needed."""
    if find_initdb() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True)
    initdb = find_initdb()
    if initdb is None:
        pytest.skip(
            "PostgreSQL server not available: Debian's `postgresql` package could not be installed "
            "(needs root and the Debian registry)"
        )
    bindir = os.path.dirname(initdb)
    data = tempfile.mkdtemp(prefix="autograde-pg-")
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run([*run_as, initdb, "-D", data, "-A", "trust", "-U", "grader"], check=True, capture_output=True)
    subprocess.run(
        [
            *run_as,
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            f"{data}/log",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "gradebook"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def class_of_six(toy):
    return {f"s{i}": submission(toy, mul_body="    return a * b" if i % 2 == 0 else "    return 0") for i in range(6)}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_parallel_batch_writes_every_grade_to_the_gradebook(backend, tmp_path, request):
    toy = make_toy(tmp_path)
    url = f"sqlite:///{tmp_path / 'gradebook.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    code, results, out = grade(toy, tmp_path, class_of_six(toy), db_url=url, workers=2)
    assert code == 0
    ensure_alembic_on_path()
    with Gradebook(normalise_url(url)) as gb:
        scores = {sub.student.id: float(sub.score) for sub in gb.assignment_submissions("toy")}
    assert scores == {s: r["score"] for s, r in results.items()}
    assert sorted(scores.values()) == [2, 2, 2, 5, 5, 5]
    exported = tmp_path / "export.csv"
    export_csv(url, exported)
    rows = list(csv.DictReader(open(exported)))
    assert {r["student_id"]: float(r["raw_score"]) for r in rows} == {s: r["score"] for s, r in results.items()}
