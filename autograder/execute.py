"""Execute an assembled notebook in a fresh kernel and read off each part's result.

Each cell has a time limit; a cell that exceeds it is interrupted (KeyboardInterrupt
in the kernel) and the run goes on with the next cell, so an infinite loop costs
only the parts that depend on it. If the kernel dies, the cells that did not run
are reported as such; the parts that ran before keep their results.
"""
from __future__ import annotations

import asyncio
import inspect
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from .parts import Part

MESSAGE_LIMIT = 600
START_ATTEMPTS = 3


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


class Gate:
    """When the cells of a notebook may run: the batch grader's execution slots.

    A child process warms its kernel up (start, imports) before it holds a slot, so
    that with N slots the next N kernels start while N notebooks run, and the cells
    themselves always run with no more than N notebooks competing for the cores.
    ``ready``, ``go`` and ``finished`` are ``multiprocessing`` events shared with the
    parent (see :func:`autograder.batch.grade_in_child`).
    """

    def __init__(self, ready, go, finished, wait_limit: float = 24 * 3600.0):
        self.ready, self.go, self.finished, self.wait_limit = ready, go, finished, wait_limit

    def enter(self) -> None:
        self.ready.set()
        self.go.wait(self.wait_limit)

    def leave(self) -> None:
        self.finished.set()


def warmup_code(modules: list[str]) -> str:
    """Kernel code importing ``modules`` without binding a name in the student's namespace."""
    lines = ["import importlib as _il"]
    for name in modules:
        lines.append(f"try:\n    _il.import_module({name!r})\nexcept Exception:\n    pass")
    lines.append("del _il")
    return "\n".join(lines)


async def _execute(client: NotebookClient, gate: Gate | None, warmup: str | None) -> None:
    client.reset_execution_trackers()
    async with client.async_setup_kernel():
        msg_id = client.kc.kernel_info()
        msg_id = await msg_id if inspect.isawaitable(msg_id) else msg_id
        info = await client.async_wait_for_reply(msg_id)
        if info is not None and "language_info" in info["content"]:
            client.nb.metadata["language_info"] = info["content"]["language_info"]
        if warmup:
            try:
                warm_id = client.kc.execute(warmup, silent=True, store_history=False)
                await client.async_wait_for_reply(warm_id)
            except Exception:  # noqa: BLE001 - a failed warm-up only means the cells import it themselves
                pass
        if gate is not None:
            await asyncio.to_thread(gate.enter)
        try:
            for index, cell in enumerate(client.nb.cells):
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        finally:
            if gate is not None:
                gate.leave()


def run(nb, workdir: Path, cell_timeout: float, kernel_name: str = "python3",
        gate: Gate | None = None, warmup_modules: list[str] | None = None) -> tuple[set[int], list[str]]:
    """Execute ``nb`` in place with its kernel's working directory ``workdir``.

    Returns the indices of the cells that ran to completion (a cell whose kernel
    died under it is not among them) and notes about the run. ``warmup_modules`` are
    imported silently once the kernel is up (the notebook's own imports, outside the
    time the cells are measured against); ``gate`` is entered after that and left when
    the last cell has run.
    """
    notes = []
    completed: set[int] = set()

    def mark_completed(cell, cell_index, execute_reply):
        completed.add(cell_index)

    warmup = warmup_code(warmup_modules) if warmup_modules else None
    try:
        for attempt in range(1, START_ATTEMPTS + 1):
            client = NotebookClient(nb, timeout=cell_timeout, kernel_name=kernel_name, allow_errors=True,
                                    interrupt_on_timeout=True, record_timing=False,
                                    on_cell_executed=mark_completed,
                                    resources={"metadata": {"path": str(workdir)}})
            # Unix sockets in the scratch folder, not TCP ports: kernels starting side by side
            # can never pick the same port.
            client.km = client.create_kernel_manager()
            client.km.transport = "ipc"
            client.km.ip = str(workdir / f"kernel{attempt}")
            try:
                run_sync(_execute)(client, gate, warmup)
                break
            except RuntimeError as err:  # the kernel died while starting: no cell has run yet
                if "before replying to kernel_info" not in str(err) or attempt == START_ATTEMPTS:
                    raise
                print(f"autograder: the kernel failed to start ({err}); starting it again", file=sys.stderr)
    except DeadKernelError:
        notes.append("the kernel died (a crash, os._exit, or running out of memory); "
                     "parts that had not run yet score 0")
    except CellTimeoutError:
        notes.append(f"a cell ran past {cell_timeout:g} s and could not be interrupted; "
                     "parts that had not run yet score 0")
    return completed, notes


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
