"""Run one submission: the student's cells in a sandboxed kernel, the tests here.

:meth:`Runner.run` walks the cells of the source notebook in order (see :mod:`autograder.trusted.assemble`):

- a setup cell (the instructor's read-only code: imports, constants) runs in the kernel
  and here;
- a solution cell (the student's code) runs in the kernel only;
- a test cell (visible and hidden tests) runs here only, in a :class:`autograder.trusted.remote.TestNamespace`
  where the student's names are looked up in the kernel.

The kernel thus never receives a test, and a verdict is computed only by code that
student code has never run beside. A test cell runs in segments, visible tests first, then
its hidden tests: when the student's own code raises inside a hidden test, the student sees
the exception's name but not its message, which could carry the hidden input, and a failed
comparison there names where the error is largest but not the expected value.

Each cell has a time limit: past it, the kernel
is interrupted (KeyboardInterrupt in the student's code, as Jupyter's interrupt
button does) and the run goes on with the next cell; a kernel that does not answer
within :data:`INTERRUPT_GRACE` seconds is killed, and the cells after it are not run.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import signal
import time

from coursekit import checks

from ..channel import rpc
from ..channel.tail import Tail
from ..defaults import INTERRUPT_GRACE, MESSAGE_LIMIT, OUTPUT_TAIL, START_LIMIT
from ..model import Cell, Outcome, PartResult
from .remote import KernelDied, TestNamespace, TrustedPeer, from_kernel
from .sandbox import KernelDidNotStart

KERNEL_DIED = (
    "the kernel died (a crash, os._exit, exit(), or running out of memory); parts that had not run yet score 0"
)

_HIDDEN = re.compile(r"^### (BEGIN|END) HIDDEN TESTS[^\n]*$", re.M)


def segments(source: str) -> list[tuple[bool, str]]:
    """A test cell cut at its top-level ``### BEGIN/END HIDDEN TESTS`` lines: ``(hidden, code)``
    in order (each piece is whole top-level statements)."""
    out, hidden, start = [], False, 0
    for match in _HIDDEN.finditer(source):
        out.append((hidden, source[start : match.start()]))
        hidden, start = match.group(1) == "BEGIN", match.end()
    out.append((hidden, source[start:]))
    return [(h, code) for h, code in out if code.strip()]


class _NoShell:
    """``get_ipython()`` for setup and test cells run here: magics do nothing."""

    def run_line_magic(self, *args, **kwargs):
        return None

    run_cell_magic = system = run_line_magic


def _transform(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


class _Alarm:
    """Raise :class:`rpc.Deadline` in this (main) thread at ``deadline`` (time.monotonic)."""

    def __init__(self, peer: TrustedPeer, deadline: float):
        self.peer, self.deadline = peer, deadline

    def __enter__(self):
        def ring(signum, frame):
            raise rpc.Deadline()

        self.saved = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, max(0.001, self.deadline - time.monotonic()))
        self.peer.deadline = self.deadline
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.saved)
        self.peer.deadline = None
        return False


class Runner:
    """Runs the cells of one submission against one kernel (a :class:`autograder.trusted.sandbox.KernelProcess`)."""

    def __init__(
        self,
        kernel,
        cell_timeout: float,
        student_names: set[str],
        shared_names: set[str],
        sources: tuple[dict[str, str], list[str]] = ({}, []),
    ):
        self.kernel, self.cell_timeout = kernel, cell_timeout
        self.sources = sources  # (the student's cells by grade_id, the setup cells): for coursekit.rules
        self.peer = TrustedPeer(kernel.sock)
        self.alive = True
        self.ns = TestNamespace(self.peer, student_names, shared_names)
        dict.update(self.ns, {"__name__": "__main__", "__builtins__": __builtins__, "get_ipython": lambda: _NoShell()})
        self.peer.deadline = time.monotonic() + START_LIMIT
        try:
            header, _ = self.peer.receive()
        except (rpc.Deadline, EOFError, OSError) as err:
            raise KernelDidNotStart(f"the grading kernel did not start ({type(err).__name__})") from None
        finally:
            self.peer.deadline = None
        if not header.get("ready"):
            raise KernelDidNotStart("the grading kernel did not start")
        from coursekit import harness, rules

        self._grading = contextlib.ExitStack()
        self._grading.enter_context(harness.grading_with(self.peer))  # the course's operations run in the kernel
        rules.use_sources(*self.sources)  # rules read the submission's cells, never the kernel's word

    def run(self, cells: list[Cell]) -> tuple[dict[int, Outcome], list[str]]:
        outcomes: dict[int, Outcome] = {}
        notes: list[str] = []
        for cell in cells:
            if not self.alive:
                outcomes[cell.index] = Outcome()
                continue
            outcome = outcomes[cell.index] = Outcome()
            deadline = time.monotonic() + self.cell_timeout
            try:
                if cell.kind in ("setup", "solution"):
                    self._in_kernel(cell, outcome, deadline, notes)
                    self.kernel.check_limits()  # a cell that ended past the memory limit: stopped before its tests
                if cell.kind == "test" or (cell.kind == "setup" and outcome.completed and not outcome.error):
                    self._here(cell, outcome, deadline, notes)
            except Exception as err:  # noqa: BLE001 - whatever a kernel sent costs this cell, never the run
                outcome.completed = True
                outcome.error = ("GraderError", f"the grader could not use the kernel's answer ({type(err).__name__})")
        return outcomes, notes

    def _in_kernel(self, cell: Cell, outcome: Outcome, deadline: float, notes: list[str]) -> None:
        try:
            with _Alarm(self.peer, deadline):
                reply = self.peer.ask("run_cell", {"source": cell.source})
        except rpc.Deadline:
            self._recover(outcome, notes, cell)
            return
        except KernelDied:
            self._died(notes)
            return
        except KeyboardInterrupt:
            reply = {"error": ["KeyboardInterrupt", ""], "stdout": ""}
        outcome.completed = True
        if not isinstance(reply, dict):
            outcome.error = ("MalformedReply", "the kernel's answer to 'run this cell' was not a report")
            return
        error = reply.get("error")
        if isinstance(error, list) and len(error) == 2:
            outcome.error = (str(error[0]), str(error[1]))
        outcome.stdout = str(reply.get("stdout", ""))[-OUTPUT_TAIL:]
        if reply.get("exit"):
            self.alive = False
            notes.append(KERNEL_DIED)

    def _here(self, cell: Cell, outcome: Outcome, deadline: float, notes: list[str]) -> None:
        out = Tail()
        self.ns.mirror = cell.kind == "test"
        hidden = False
        try:
            with _Alarm(self.peer, deadline), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                for hidden, piece in segments(cell.source) if cell.kind == "test" else [(False, cell.source)]:
                    code = compile(_transform(piece), f"<cell {cell.index}>", "exec")
                    shown = checks.show_expected(not hidden)  # a hidden test's expected values stay hidden
                    try:
                        exec(code, self.ns)  # noqa: S102 - the instructor's own cell
                    finally:
                        checks.show_expected(shown)
            outcome.completed = True
        except rpc.Deadline:
            self._recover(outcome, notes, cell)
        except KernelDied:
            outcome.completed = False
            self._died(notes)
        except BaseException as err:  # noqa: BLE001 - a failing test is an outcome, not a crash
            outcome.completed = True
            ename, evalue = rpc.describe(err)
            outcome.error = (ename, evalue)
            outcome.hidden_input = hidden and from_kernel(err)
        finally:
            self.ns.mirror = False
        outcome.stdout += out.text()

    def _recover(self, outcome: Outcome, notes: list[str], cell: Cell) -> None:
        """A cell ran past its limit: interrupt the kernel; kill it if it does not answer again."""
        outcome.completed = True
        outcome.error = ("KeyboardInterrupt", "")
        name = cell.grade_id or "a setup cell"
        notes.append(
            f"cell '{name}' was stopped at the time limit ({self.cell_timeout:g} s): "
            "an infinite loop or a far too slow solution"
        )
        self.kernel.interrupt()
        try:
            with _Alarm(self.peer, time.monotonic() + INTERRUPT_GRACE):
                self.peer.ask("ping")
        except (rpc.Deadline, KernelDied, Exception):  # noqa: BLE001 - no answer, whatever the cause: kill it
            notes.append(
                f"a cell ran past {self.cell_timeout:g} s and could not be interrupted; "
                "parts that had not run yet score 0"
            )
            self.kernel.kill()
            self.alive = False

    def _died(self, notes: list[str]) -> None:
        if self.alive:
            notes.append(KERNEL_DIED)
        self.alive = False

    def close(self) -> None:
        from coursekit import rules

        self._grading.close()
        rules.use_sources(None)
        if self.alive:
            try:
                self.peer.send({"op": "bye", "id": 0})
            except OSError:
                pass
        self.kernel.close()


#: exception names shown as they are; a student's own exception class could spell out data
_BUILTIN_NAMES = set(dir(builtins))


def explain(ename: str, evalue: str, cell_timeout: float, hidden_input: bool = False) -> str:
    """A student-facing message for an exception raised while testing a part.

    Only the exception's name and message are used: never the traceback, which
    could show the source of hidden tests. The student's own exception on a hidden
    test's input (``hidden_input``) is named without its message, which could carry that input.
    """
    evalue = (evalue or "").strip()
    if hidden_input and ename not in ("NotImplementedError", "KeyboardInterrupt"):
        shown = ename if ename in _BUILTIN_NAMES else "an exception"
        return (
            f"Your code raised {shown} on an input of the hidden tests (its message is not shown: it "
            "could reveal that input). Your code passes the visible tests; try your own inputs of other "
            "shapes and sizes, and the edge cases the instructions name."
        )
    if ename == "NotImplementedError":
        return (
            "Not attempted yet: the function still raises NotImplementedError. Replace "
            "`raise NotImplementedError()` with your code."
        )
    if ename == "KeyboardInterrupt":
        return (
            f"Timed out: this part ran longer than {cell_timeout:g} s and was stopped. Look for an "
            "infinite loop, or a far too slow solution."
        )
    if ename == "AssertionError":
        return evalue or "A hidden check failed: your result is wrong for an input the visible tests do not cover."
    if ename == "NameError":
        return (
            f"{evalue}. Define it in the cell marked YOUR CODE HERE (did you rename it, or "
            "is it defined in a cell you added? Added cells are not run by the grader)."
        )
    return f"Your code raised {ename}: {evalue}"


MANUAL_MESSAGE = "Written answer: awaiting manual grading by your instructor."


def collect(parts, outcomes: dict[int, Outcome], cell_timeout: float) -> list[PartResult]:
    """Results of ``parts`` (see :mod:`autograder.parts`) from the outcomes of their test cells;
    a written answer (a manually graded part) awaits a person."""
    results = []
    for part in parts:
        if part.manual:
            results.append(PartResult(part.grade_id, part.points, 0.0, "manual", MANUAL_MESSAGE, manual=True))
            continue
        outcome = outcomes.get(part.cell_index, Outcome())
        if outcome.error is not None:
            message = explain(outcome.error[0], outcome.error[1], cell_timeout, outcome.hidden_input)
            results.append(PartResult(part.grade_id, part.points, 0.0, "failed", message[:MESSAGE_LIMIT]))
        elif not outcome.completed:
            results.append(
                PartResult(
                    part.grade_id,
                    part.points,
                    0.0,
                    "not run",
                    "Not run: the kernel stopped before this part (see the notes above).",
                )
            )
        else:
            results.append(PartResult(part.grade_id, part.points, part.points, "passed", "All checks passed."))
    return results
