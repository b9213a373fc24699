"""The student's kernel: runs the student's cells and answers requests with data.

It is started by :mod:`autograder.kernel.zygote` inside the sandbox and receives, one at a
time, the setup cells and the student's solution cells of one submission, never a
test cell. Between cells the trusted test process (:mod:`autograder.trusted.remote`) asks it
to call a student's function, read an attribute, iterate, build a module from a data
spec, run a forward/backward pass ...; every answer is data (:mod:`autograder.channel.wire`)
or a reference to an object that stays here. Whatever student code does to this
process, it can only change those answers.

A SIGINT (the grader's time limit, passed on by the sandbox's init process) raises
KeyboardInterrupt in the student code that is running; between requests it is
ignored.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator

from ..channel import rpc
from ..channel.tail import Tail
from ..defaults import THREAD_VARIABLES

CHAPTERS = "coursekit.chapters"
CHAPTERS_MESSAGE = (
    "coursekit.chapters cannot be imported while grading: it holds the chapters' own "
    "implementations of what the homework asks you to write. Write this part yourself "
    "(the chapter explains how; the grader runs your code without that package)."
)


class _NoChapters:
    """A finder that refuses :data:`CHAPTERS` (the sandbox also hides its files: this gives the
    same message where kernels run without the sandbox, e.g. ``python -m autograder check``)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == CHAPTERS or name.startswith(CHAPTERS + "."):
            raise ImportError(CHAPTERS_MESSAGE, name=name)
        return None


def hide_chapters() -> None:
    """Make ``coursekit.chapters`` unimportable in this process."""
    for name in [n for n in sys.modules if n == CHAPTERS or n.startswith(CHAPTERS + ".")]:
        del sys.modules[name]
    if "coursekit" in sys.modules:
        vars(sys.modules["coursekit"]).pop("chapters", None)
    sys.meta_path.insert(0, _NoChapters())


class Callback:
    """A trusted-side object (a reference function substituted by a hidden test): callable only."""

    __slots__ = ("_peer", "_number")

    def __init__(self, peer, number):
        self._peer, self._number = peer, number

    def __call__(self, *args, **kwargs):
        try:
            return self._peer.request("callback", {"obj": self, "args": list(args), "kwargs": kwargs})
        except rpc.RemoteError as err:
            raise _exception(err) from None

    def __repr__(self):
        return f"<course function #{self._number}>"


def _exception(err: rpc.RemoteError) -> BaseException:
    cls = getattr(builtins, err.ename, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(err.evalue)
        except Exception:  # noqa: BLE001 - a class that cannot be built from a message falls back
            pass
    return RuntimeError(f"{err.ename}: {err.evalue}")


def _type_names(obj) -> list[str]:
    try:
        return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__][:20]
    except Exception:  # noqa: BLE001 - a student's class may break anything
        return []


class KernelPeer(rpc.Peer):
    own_tag, other_tag = "$ref", "$cb"

    def __init__(self, sock: socket.socket, shell):
        super().__init__(sock)
        self.shell = shell
        self.in_student_code = False

    def ref(self, obj) -> dict:
        out = super().ref(obj)
        out["type"] = _type_names(obj)
        out["call"] = callable(obj)
        return out

    def proxy(self, number: int):
        return Callback(self, number)

    def foreign_number(self, obj) -> int | None:
        return object.__getattribute__(obj, "_number") if type(obj) is Callback else None

    def request(self, op, values=None, **fields):
        # a callback runs trusted code: the time it takes is not the student's
        was, self.in_student_code = self.in_student_code, False
        try:
            return super().request(op, values, **fields)
        finally:
            self.in_student_code = was

    def handle(self, op: str, header: dict, values: dict):
        if op == "run_cell":
            return self.run_cell(str(values["source"]))
        if op == "ping":
            return True
        if op == rpc.COURSE_OPERATION:
            return self.student(course_op, str(header["name"]), values.get("args", []), values.get("kwargs", {}))
        return self.student(ACTIONS[op], header, values)

    @contextlib.contextmanager
    def in_student(self, out: Tail) -> Iterator[None]:
        """Student code runs in here: interrupts on, its prints into ``out`` (never the channel)."""
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        self.in_student_code = True
        try:
            yield
        finally:
            self.in_student_code = False
            sys.stdout, sys.stderr = saved

    def student(self, func, *args):
        """Run ``func(*args)`` with interrupts on and the student's prints kept out of the channel."""
        with self.in_student(Tail()):
            return func(self, *args) if func is not course_op else func(*args)

    def run_cell(self, source: str) -> dict:
        out = Tail()
        error: BaseException | None
        try:
            with self.in_student(out):
                result = self.shell.run_cell(source, store_history=False)
                error = result.error_before_exec or result.error_in_exec
        except BaseException as err:  # noqa: BLE001 - e.g. an interrupt outside the cell's own code
            error = err
        described = None if error is None else rpc.describe(error)
        # A failed cell's traceback keeps its frames (and e.g. a memory bomb's data) alive: drop it.
        error = result = self.shell.last_execution_result = None
        self.shell.InteractiveTB.tb = None
        sys.last_type = sys.last_value = sys.last_traceback = None
        import gc

        gc.collect()
        return {"stdout": out.text(), "error": described, "exit": bool(self.shell.exit_now)}


def _global(peer, header, values):
    name = str(header["name"])
    try:
        return peer.shell.user_ns[name]
    except KeyError:
        raise NameError(f"name '{name}' is not defined") from None


def _set_global(peer, header, values):
    peer.shell.user_ns[str(header["name"])] = values.get("value")


def _del_global(peer, header, values):
    peer.shell.user_ns.pop(str(header["name"]), None)


def _has_global(peer, header, values):
    return str(header["name"]) in peer.shell.user_ns


def _next(peer, header, values):
    try:
        return {"value": next(values["obj"])}
    except StopIteration:
        return {"stop": True}


ACTIONS = {
    "get": _global,
    "set": _set_global,
    "del": _del_global,
    "has": _has_global,
    "getattr": lambda p, h, v: getattr(v["obj"], str(h["name"])),
    "setattr": lambda p, h, v: setattr(v["obj"], str(h["name"]), v.get("value")),
    "call": lambda p, h, v: v["obj"](*v.get("args", []), **v.get("kwargs", {})),
    "getitem": lambda p, h, v: v["obj"][v["key"]],
    "setitem": lambda p, h, v: v["obj"].__setitem__(v["key"], v.get("value")),
    "len": lambda p, h, v: len(v["obj"]),
    "iter": lambda p, h, v: iter(v["obj"]),
    "next": _next,
    "bool": lambda p, h, v: bool(v["obj"]),
    "contains": lambda p, h, v: v["key"] in v["obj"],
    "repr": lambda p, h, v: repr(v["obj"])[:2000],
    "str": lambda p, h, v: str(v["obj"])[:2000],
    "float": lambda p, h, v: float(v["obj"]),
    "int": lambda p, h, v: int(v["obj"]),
    "dir": lambda p, h, v: [str(n) for n in dir(v["obj"])][:5000],
}


def course_op(name: str, args, kwargs):
    """One of the course's own protocol operations (:mod:`coursekit.harness`), run here."""
    from coursekit import harness

    operation = harness.OPERATIONS.get(name)
    if operation is None:
        raise ValueError(f"unknown course operation {name!r}")
    return operation(*args, **kwargs)


def serve(sock: socket.socket, threads: int | None = None) -> int:
    """The kernel's main loop: answer requests until the grader says goodbye or goes away."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if threads:
        for var in THREAD_VARIABLES:
            os.environ[var] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    hide_chapters()
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.ask_exit = lambda: setattr(shell, "exit_now", True)  # type: ignore[attr-defined]  # exit() ends the kernel, as in Jupyter
    peer = KernelPeer(sock, shell)

    def interrupt(signum, frame):  # only student code is interrupted
        if peer.in_student_code:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    peer.send({"ready": True})
    while not shell.exit_now:
        try:
            header, values = peer.receive()
        except (EOFError, OSError):
            break
        if header.get("op") == "bye":
            break
        peer.serve(header, values)
    return 0
