"""A batch graded on a Dask cluster (``grade --scheduler tcp://HOST:8786``, or ``--dask`` for a local one).

Each submission is one Dask task, on any worker. The task does what a thread of the local pool
does (:func:`autograder.batch.processes.grade_bytes`): it grades the submission's bytes in a
grading process forked from the worker's forkserver, whose kernel comes from a sandboxed zygote.
What crosses the wire is data: a :class:`Job` (the student id and the notebook's bytes, never a
path: workers need not share a file system with the instructor) out, the result's JSON record
back. The worker process itself never runs student code.

Each worker keeps one zygote per assignment: :class:`GradingPlugin`, a worker plugin that starts
the zygote and the forkserver at the worker's first task of the batch (in a task thread: the
worker's event loop keeps answering) and closes the zygote when the batch unregisters it or the
worker stops. Before that first task the worker checks that its checkout is the instructor's:
the assignment's source notebook (its fingerprint) and the grader's and course package's code
(:func:`checkout_fingerprint`); a worker that differs fails the batch with both hashes.

The instructor's main process keeps everything else (which submissions to grade, the resume,
the progress bar, the gradebook, every output), so the outputs are those of a local run. A worker
that dies mid-batch loses nothing: the scheduler runs its tasks again elsewhere; a task whose
workers died ``distributed.scheduler.allowed-failures`` times is ungradable, as a submission whose
grading process dies twice is locally.
"""

from __future__ import annotations

import ast
import hashlib
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, KilledWorker, WorkerPlugin, as_completed, get_worker

from .. import COURSE_ROOT
from ..model import Assignment, SubmissionResult
from ..trusted.sandbox import Zygote, ZygoteAddress
from .folder import BatchStopped
from .ingest import Submission
from .processes import grade_bytes, read_bytes, setup_imports, stamped, start_forkserver

#: submissions in flight per worker thread: the rest of the class waits in the main process
IN_FLIGHT_PER_THREAD = 4
#: a worker's environment variable: threads per kernel (default: its cores over its task threads)
KERNEL_THREADS = "AUTOGRADER_KERNEL_THREADS"


class ClusterUnavailable(BatchStopped):
    """The Dask scheduler cannot be reached, or has no worker (the message says which)."""


class CheckoutMismatch(BatchStopped):
    """A worker's course checkout is not the instructor's (the message gives both hashes)."""


def checkout_fingerprint() -> str:
    """SHA-256 over the grader's and the course package's Python files (path and bytes)."""
    digest = hashlib.sha256()
    for package in ("autograder", "coursekit"):
        for path in sorted((COURSE_ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(COURSE_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def main_imports() -> list[str]:
    """The modules this process's main module (``dask worker``'s) imports at its top level.

    multiprocessing runs the main module again in each grading process it starts; with these
    imported once by the forkserver, that costs milliseconds instead of importing Dask each time.
    """
    path = getattr(sys.modules["__main__"], "__file__", None)
    try:
        tree = ast.parse(Path(path).read_text()) if path else None
    except (OSError, SyntaxError, ValueError):
        tree = None
    names: list[str] = []
    for node in tree.body if tree else []:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Settings:
    """What every worker of a batch needs to grade its assignment as the instructor's machine would."""

    assignment: str
    source_fingerprint: str
    checkout: str
    sandbox: bool
    cgroups: bool
    memory: int
    kernel_threads: int | None  # None: the worker's $AUTOGRADER_KERNEL_THREADS, or its cores over its task threads


@dataclass(frozen=True)
class Job:
    """One submission for a worker: which plugin grades it, its notebook's bytes, its limits."""

    plugin: str
    student: str
    data: bytes | None
    cell_timeout: float
    hard_timeout: float


@dataclass(frozen=True)
class Graded:
    """A worker's answer: the result's JSON record and the isolation its kernel had."""

    result: dict[str, Any]
    isolation: str
    worker: str


@dataclass(frozen=True)
class _Ready:
    assignment: Assignment
    zygote: ZygoteAddress
    threads: int
    isolation: str


class GradingPlugin(WorkerPlugin):
    """One zygote per worker and assignment, started by the worker's first task of the batch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def setup(self, worker) -> None:
        self.slots = max(1, worker.state.nthreads)
        self.lock = threading.Lock()
        self.zygote: Zygote | None = None
        self.ready: _Ready | None = None

    def teardown(self, worker) -> None:
        with self.lock:
            if self.zygote is not None:
                self.zygote.close()
            self.zygote = self.ready = None

    def prepare(self) -> _Ready:
        """The assignment, read from this worker's checkout, and a zygote to fork kernels from."""
        with self.lock:
            if self.ready is None:
                self.ready = self._start()
            return self.ready

    def _start(self) -> _Ready:
        want = self.settings
        host = socket.gethostname()
        assignment = Assignment.load(want.assignment, with_release=False)
        source, code = assignment.source_fingerprint, checkout_fingerprint()
        if (source, code) != (want.source_fingerprint, want.checkout):
            raise CheckoutMismatch(
                f"worker {host}: its checkout ({COURSE_ROOT}) differs from the instructor's: source of "
                f"{want.assignment} {source[:12]} (instructor's {want.source_fingerprint[:12]}), "
                f"grader code {code[:12]} (instructor's {want.checkout[:12]})"
            )
        if multiprocessing.current_process().daemon:
            raise ClusterUnavailable(
                f"worker {host} is a daemonic process, which cannot start grading processes: start workers "
                "with `dask worker --no-nanny`, or set DASK_DISTRIBUTED__WORKER__DAEMON=False"
            )
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = want.kernel_threads or int(os.environ.get(KERNEL_THREADS, "0")) or max(1, cores // self.slots)
        preload = setup_imports(assignment.source)
        self.zygote = Zygote(
            sandboxed=want.sandbox, preload=preload, threads=threads, cgroups=want.cgroups, memory=want.memory
        )
        start_forkserver(preload + main_imports(), threads)
        return _Ready(assignment, self.zygote.address(), threads, self.zygote.describe())


def grade_on_worker(job: Job) -> Graded:
    """The Dask task: grade ``job`` with this worker's zygote for its assignment."""
    worker = get_worker()
    plugin = worker.plugins[job.plugin]
    assert isinstance(plugin, GradingPlugin)
    ready = plugin.prepare()
    result = grade_bytes(ready.assignment, job.data, job.cell_timeout, job.hard_timeout, ready.zygote, ready.threads)
    return Graded(result.to_json(), ready.isolation, worker.address)


class DaskPool:
    """The batch's submissions graded as Dask tasks; :meth:`results` yields them as they finish.

    ``scheduler`` is a scheduler's address, or ``"local"`` for a scheduler and ``workers`` worker
    processes started on this machine (:class:`LocalDask`: one task thread each, kernels with this
    machine's cores shared out, as locally).
    """

    def __init__(
        self,
        assignment: Assignment,
        scheduler: str,
        *,
        workers: int,
        sandbox: bool,
        cgroups: bool,
        memory: int,
        kernel_threads: int | None = None,
    ) -> None:
        self.assignment, self.scheduler, self.workers = assignment, scheduler, workers
        if scheduler == "local" and kernel_threads is None:
            kernel_threads = max(1, (os.cpu_count() or 1) // workers)
        self.settings = Settings(
            assignment.name,
            assignment.source_fingerprint,
            checkout_fingerprint(),
            sandbox,
            cgroups,
            memory,
            kernel_threads,
        )
        self.plugin = f"autograder-{assignment.name}-{uuid.uuid4().hex[:8]}"
        self.cluster: LocalDask | None = None
        self.client: Client | None = None
        self.isolation: dict[str, str] = {}  # worker -> what its kernels had

    def start(self) -> None:
        """Connect (or start the local cluster) and give every worker, present and future, the plugin."""
        try:
            if self.scheduler == "local":
                self.cluster = LocalDask(self.workers)
                self.client = Client(self.cluster.address, timeout=30)
            else:
                self.client = Client(self.scheduler, timeout=30)
            self.client.wait_for_workers(1, timeout=60)
        except (OSError, TimeoutError) as err:
            self.close()
            raise ClusterUnavailable(f"Dask scheduler {self.scheduler}: {err}") from None
        self.client.register_plugin(GradingPlugin(self.settings), name=self.plugin)

    def results(
        self, todo: list[Submission], cell_timeout: float, hard_timeout: float
    ) -> Iterator[tuple[Submission, SubmissionResult]]:
        """Each submission of ``todo`` with its result, in the order they finish."""
        assert self.client is not None
        threads = sum(w["nthreads"] for w in self.client.scheduler_info(n_workers=-1)["workers"].values())
        window = max(8, IN_FLIGHT_PER_THREAD * threads)
        waiting = iter(todo)
        batch = uuid.uuid4().hex[:8]
        running: dict[Any, tuple[Submission, bytes | None]] = {}
        done = as_completed()

        def submit_next() -> None:
            for sub in waiting:
                data, sub = read_bytes(sub)
                job = Job(self.plugin, sub.student, data, cell_timeout, hard_timeout)
                assert self.client is not None
                future = self.client.submit(grade_on_worker, job, key=f"grade-{batch}-{sub.student}", pure=False)
                running[future] = (sub, data)
                done.add(future)
                return

        for _ in range(window):
            submit_next()
        try:
            for future in done:
                sub, data = running.pop(future)
                submit_next()
                yield sub, stamped(self._result(future), sub, data, self.assignment)
        finally:
            for future in running:
                future.cancel()

    def _result(self, future) -> SubmissionResult:
        try:
            graded: Graded = future.result()
        except KilledWorker as err:
            return SubmissionResult.ungradable(
                self.assignment.parts,
                f"Every Dask worker that graded this submission died ({err}); it was not graded.",
            )
        self.isolation[graded.worker] = graded.isolation
        return SubmissionResult.from_json(graded.result)

    def describe(self) -> str:
        """The isolation of the kernels (report.txt's first line): one phrase when every worker had the same."""
        lines = sorted(set(self.isolation.values()))
        if len(lines) <= 1:
            return lines[0] if lines else "no kernel ran (no Dask task finished)"
        counts = [sum(v == line for v in self.isolation.values()) for line in lines]
        return " / ".join(f"{line} [on {n} worker(s)]" for line, n in zip(lines, counts))

    def close(self) -> None:
        """Close every worker's zygote of this batch (the plugin's teardown) and leave the cluster."""
        if self.client is not None:
            try:
                self.client.unregister_worker_plugin(self.plugin)
            except Exception:  # noqa: BLE001 - a scheduler already gone has nothing left to tear down
                pass
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


class LocalDask:
    """``dask scheduler`` and ``workers`` times ``dask worker --no-nanny --nthreads 1`` on 127.0.0.1,
    as the README starts them on other machines (``grade --dask``); :meth:`close` stops them."""

    def __init__(self, workers: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-dask-"))
        dask = [sys.executable, "-m", "distributed.cli.dask_worker"]
        scheduler_file = self.folder / "scheduler.json"
        self.procs = [self._run([sys.executable, "-m", "distributed.cli.dask_scheduler"], "scheduler", "--host",
                                "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file))]  # fmt: skip
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                self.close()
                raise ClusterUnavailable(f"the local Dask scheduler did not start (see {self.folder})")
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            self.procs.append(self._run(dask, f"worker-{i}", self.address, "--nthreads", "1", "--no-nanny",
                                        "--local-directory", str(self.folder / f"worker-{i}")))  # fmt: skip

    def _run(self, command: list[str], name: str, *args: str) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "wb") as log:
            return subprocess.Popen([*command, *args, "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)

    def close(self) -> None:
        """The workers (each closes its zygotes), then the scheduler: a worker whose scheduler has
        gone first waits for it for 30 s."""
        stop_workers_then_scheduler(self.procs[1:], self.procs[0], timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


def stop_workers_then_scheduler(workers: list[subprocess.Popen], scheduler: subprocess.Popen, timeout: float) -> None:
    """Terminate the workers, then the scheduler (a worker whose scheduler has gone waits for it);
    a process still running ``timeout`` seconds after it was asked to stop is killed."""
    for group in (workers, [scheduler]):
        for proc in group:
            proc.terminate()
        for proc in group:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
