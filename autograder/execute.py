"""Execute an assembled notebook in a fresh kernel process and read off each part's result.

The kernel is a process forked from the grading process (see :mod:`autograder.sandbox`)
that runs the code cells one by one in an IPython shell (magics work as in Jupyter)
and reports each cell's end on a pipe: its error (name and message) and the tail of
what it printed. A cell past its time limit is interrupted (KeyboardInterrupt, as
Jupyter's interrupt button does) and the run goes on with the next cell, so an
infinite loop costs only the parts that depend on it; a cell that ignores the
interrupt gets the kernel killed. If the kernel dies, the cells that did not run
are reported as such; the parts that ran before keep their results.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from . import sandbox
from .parts import Part

MESSAGE_LIMIT = 600
OUTPUT_TAIL = 20_000      # characters of a cell's printed output kept (the guard's report is its last line)
START_LIMIT = 60.0        # seconds for the kernel to be up, or between two cells
INTERRUPT_GRACE = 10.0    # seconds an interrupted cell has to stop before its kernel is killed
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class PartResult:
    """Outcome of one graded part, as the student and the grades CSV see it."""

    grade_id: str
    max_points: float
    points: float
    status: str  # "passed" | "failed" | "not run"
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


class _Tail:
    """A write-only text stream that keeps the last :data:`OUTPUT_TAIL` characters."""

    def __init__(self):
        self.chunks: list[str] = []
        self.size = 0

    def write(self, text) -> int:
        text = str(text)
        self.chunks.append(text)
        self.size += len(text)
        if self.size > 2 * OUTPUT_TAIL:
            joined = "".join(self.chunks)[-OUTPUT_TAIL:]
            self.chunks, self.size = [joined], len(joined)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.chunks)[-OUTPUT_TAIL:]


def _describe(error: BaseException) -> list[str]:
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises
        message = "(the exception's message could not be printed)"
    return [type(error).__name__, message[:4 * MESSAGE_LIMIT]]


def _kernel_main(cells: list[tuple[int, str]], channel: int, workdir: Path, threads: int | None) -> int:
    """The kernel process: run ``cells`` ((index, source) pairs) and report on the pipe ``channel``."""
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(workdir / "kernel-output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)  # what C code or subprocesses print goes to the scratch folder
    os.dup2(log, 2)
    os.closerange(3, channel)  # nothing of the grader's open files stays reachable
    os.closerange(channel + 1, 1 << 16)
    os.chdir(workdir)
    os.environ.update(HOME=str(workdir), TMPDIR=str(workdir), MPLCONFIGDIR=str(workdir / ".mpl"),
                      IPYTHONDIR=str(workdir / ".ipython"), MPLBACKEND="Agg")
    tempfile.tempdir = None
    if threads:
        os.environ.update({var: str(threads) for var in THREAD_VARIABLES})
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)

    def send(message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(channel, data):]

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.ask_exit = lambda: setattr(shell, "exit_now", True)  # exit() stops the kernel, as in Jupyter
    in_cell = False

    def interrupt(signum, frame):  # an interrupt arriving between two cells is dropped
        if in_cell:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    send({"ready": True})
    for index, source in cells:
        send({"start": index})
        out = sys.stdout = sys.stderr = _Tail()
        try:
            in_cell = True
            result = shell.run_cell(source, store_history=False)
            error = result.error_before_exec or result.error_in_exec
        except BaseException as err:  # noqa: BLE001 - e.g. an interrupt outside the cell's own code
            error = err
        finally:
            in_cell = False
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        send({"done": index, "stdout": out.text(), "error": None if error is None else _describe(error)})
        if shell.exit_now:
            break
    return 0


class _Channel:
    """The grader's end of the kernel's pipe: one JSON message per line."""

    def __init__(self, fd: int):
        self.fd, self.buffer, self.closed = fd, b"", False

    def receive(self, deadline: float) -> dict | None:
        """The next message; None at end of file; TimeoutError at ``deadline`` (``time.monotonic``)."""
        while b"\n" not in self.buffer:
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self.fd, 1 << 16)
            self.closed = not chunk
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return None  # not the kernel's protocol: treated like the kernel going away
        return message if isinstance(message, dict) else None


def _outputs(message: dict) -> list:
    outputs = []
    if message.get("stdout"):
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=str(message["stdout"])))
    if message.get("error"):
        ename, evalue = (list(message["error"]) + ["", ""])[:2]
        outputs.append(nbformat.v4.new_output("error", ename=str(ename), evalue=str(evalue), traceback=[]))
    return outputs


def run(nb, workdir: Path, cell_timeout: float, sandboxed: bool = False,
        threads: int | None = None) -> tuple[set[int], list[str]]:
    """Execute the code cells of ``nb`` in place, in a kernel whose working directory is ``workdir``.

    Returns the indices of the cells that ran to completion (a cell whose kernel
    died under it is not among them) and notes about the run. ``sandboxed``: lock
    the kernel down (:mod:`autograder.sandbox`); ``threads``: its BLAS/OpenMP threads.
    Raises RuntimeError when the kernel could not even start (a grader failure, not
    the student's).
    """
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for _, cell in cells:
        cell.outputs, cell.execution_count = [], None
    read_end, write_end = os.pipe()
    try:
        pid = sandbox.start(workdir, sandboxed, lambda: _kernel_main(
            [(i, c.source) for i, c in cells], write_end, workdir, threads))
    finally:
        os.close(write_end)
    completed: set[int] = set()
    notes: list[str] = []
    try:
        _follow(nb, _Channel(read_end), pid, cell_timeout, completed, notes, cells={i for i, _ in cells})
    finally:
        os.close(read_end)
        _stop(pid, linger=5.0 if len(completed) == len(cells) else 0.0)
    return completed, notes


def _stop(pid: int, linger: float = 5.0) -> None:
    """Let the kernel's relay exit by itself for ``linger`` s, then kill what is left; reap it."""
    end = time.monotonic() + linger
    while time.monotonic() < end:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return
        time.sleep(0.005)
    sandbox.kill_tree(pid)  # killed while unreaped: its PID cannot have been reused
    sandbox.wait(pid)


def _follow(nb, channel: _Channel, pid: int, cell_timeout: float, completed: set[int], notes: list[str],
            cells: set[int]) -> None:
    """Read the kernel's messages until every one of ``cells`` (indices) is done, the kernel dies,
    or a cell cannot be stopped."""
    message = _receive_or_none(channel, time.monotonic() + START_LIMIT)
    if not (message and message.get("ready")):
        raise RuntimeError("the grading kernel did not start")
    running, interrupted = None, False
    deadline = time.monotonic() + START_LIMIT
    while len(completed) < len(cells):
        try:
            message = channel.receive(deadline)
        except TimeoutError:
            if running is None:
                notes.append("the kernel stopped answering between two cells; parts that had not run yet score 0")
                return
            if not interrupted:
                os.kill(pid, signal.SIGINT)  # the relays pass it on: KeyboardInterrupt in the cell
                interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE
                continue
            notes.append(f"a cell ran past {cell_timeout:g} s and could not be interrupted; "
                         "parts that had not run yet score 0")
            return
        if message is None:
            notes.append("the kernel died (a crash, os._exit, exit(), or running out of memory); "
                         "parts that had not run yet score 0")
            return
        if isinstance(message.get("start"), int) and message["start"] in cells:
            running, interrupted = message["start"], False
            deadline = time.monotonic() + cell_timeout
        elif "done" in message and message["done"] == running:
            nb.cells[running].outputs = _outputs(message)
            completed.add(running)
            running, deadline = None, time.monotonic() + START_LIMIT


def _receive_or_none(channel: _Channel, deadline: float) -> dict | None:
    try:
        return channel.receive(deadline)
    except TimeoutError:
        return None


def _error_output(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out
    return None


def explain(ename: str, evalue: str, cell_timeout: float) -> str:
    """A student-facing message for an exception raised while testing a part.

    Only the exception's name and message are used: never the traceback, which
    could show the source of hidden tests.
    """
    evalue = (evalue or "").strip()
    if ename == "NotImplementedError":
        return ("Not attempted yet: the function still raises NotImplementedError. Replace "
                "`raise NotImplementedError()` with your code.")
    if ename == "KeyboardInterrupt":
        return (f"Timed out: this part ran longer than {cell_timeout:g} s and was stopped. Look for an "
                "infinite loop, or a far too slow solution.")
    if ename == "AssertionError":
        return evalue or "A hidden check failed: your result is wrong for an input the visible tests do not cover."
    if ename == "NameError":
        return (f"{evalue}. Define it in the cell marked YOUR CODE HERE (did you rename it, or "
                "is it defined in a cell you added? Added cells are not run by the grader).")
    return f"Your code raised {ename}: {evalue}"


def collect(nb, parts: list[Part], source_cell_of: dict[int, int], completed: set[int],
            cell_timeout: float) -> list[PartResult]:
    """Results of ``parts`` read from the executed notebook.

    ``source_cell_of`` maps a source-notebook cell index to its index in ``nb``;
    ``completed`` holds the indices (in ``nb``) of the cells that finished.
    """
    results = []
    for part in parts:
        index = source_cell_of[part.cell_index]
        cell = nb.cells[index]
        err = _error_output(cell)
        if err is not None:
            message = explain(err.get("ename", ""), err.get("evalue", ""), cell_timeout)
            results.append(PartResult(part.grade_id, part.points, 0.0, "failed", message[:MESSAGE_LIMIT]))
        elif index not in completed:
            results.append(PartResult(part.grade_id, part.points, 0.0, "not run",
                                      "Not run: the kernel stopped before this part (see the notes above)."))
        else:
            results.append(PartResult(part.grade_id, part.points, part.points, "passed", "All checks passed."))
    return results
