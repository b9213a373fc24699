"""The trusted side of a grading run: test cells run here, the student's code does not.

The test cells of a homework are ordinary Python that calls the student's functions
(``corr1d(x, w)``), builds the student's modules (``make_sobel_conv()``) and compares
the answers with references. Here they run unchanged in a namespace
(:class:`TestNamespace`) where every name that the reference solution's cells define
is looked up in the student's kernel: a function or a module arrives as a
:class:`Remote`, and calling it, reading its attributes, indexing or iterating it are
requests whose answers are data (:mod:`autograder.channel.wire`). Nothing the kernel sends is
ever executed here, so whatever the student's process does to itself, it can only
change its answers.

A hidden test that substitutes a reference version of an earlier part (``corr1d =
_ref_corr1d``) rebinds the name in the kernel to a callable proxy of the trusted
function; restoring the saved value rebinds the student's own object.
"""

from __future__ import annotations

import builtins
import keyword
import sys
from typing import Any

from coursekit.harness import KernelObject

from ..channel import rpc, wire

#: exceptions a remote failure is raised as here, so that ``except AttributeError`` and
#: ``hasattr`` behave as with a local object (any other name gets a class of its own)
_BUILTIN_ERRORS = {
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), Exception)
}
_ERROR_CLASSES: dict[str, type[rpc.RemoteError]] = {}


class KernelDied(BaseException):
    """The student's kernel went away (crash, ``os._exit``, killed at a time limit)."""


FROM_KERNEL = "__raised_in_kernel__"  # attribute set on every exception that came from the kernel


def from_kernel(error: BaseException) -> bool:
    """Was ``error`` raised in the student's kernel (its message is the student's text)?"""
    return bool(getattr(error, FROM_KERNEL, False))


def error_from(err: rpc.RemoteError) -> BaseException:
    """The exception to raise here for a failure in the kernel (same name, same message), marked
    as coming from the kernel (:func:`from_kernel`)."""
    out = _same_exception(err)
    try:
        setattr(out, FROM_KERNEL, True)
    except (AttributeError, TypeError):  # pragma: no cover - every exception class here has a __dict__
        pass
    return out


def _same_exception(err: rpc.RemoteError) -> BaseException:
    name = err.ename if err.ename.isidentifier() and not keyword.iskeyword(err.ename) else "RemoteError"
    if name in _BUILTIN_ERRORS:
        try:
            return getattr(builtins, name)(err.evalue)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs 5 arguments
            pass
    if name == "KeyboardInterrupt":
        return KeyboardInterrupt(err.evalue)
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        cls = _ERROR_CLASSES[name] = type(name, (rpc.RemoteError,), {"__module__": "student"})
    out = cls.__new__(cls)
    rpc.RemoteError.__init__(out, err.ename, err.evalue)
    out.args = (err.evalue,)
    return out


class TrustedPeer(rpc.Peer):
    own_tag, other_tag = "$cb", "$ref"

    def foreign_number(self, obj) -> int | None:
        return object.__getattribute__(obj, "_number") if type(obj) is Remote else None

    def resolve(self, tree: dict):
        if "$ref" in tree:
            number = tree["$ref"]
            types = tree.get("type", [])
            return Remote(
                self, number, [str(t) for t in types][:20] if isinstance(types, list) else [], bool(tree.get("call"))
            )
        return super().resolve(tree)

    def ask(self, op: str, values: dict | None = None, **fields):
        """A request to the kernel; its failure is raised here as the same exception."""
        try:
            return self.request(op, values, **fields)
        except rpc.RemoteError as err:
            raise error_from(err) from None
        except (EOFError, OSError, wire.WireError) as err:
            raise KernelDied(str(err)) from None

    def run_operation(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """One of :data:`coursekit.harness.OPERATIONS`, run in the kernel (the harness's :class:`Grader`)."""
        return self.ask(rpc.COURSE_OPERATION, {"args": args, "kwargs": kwargs}, name=name)

    def handle(self, op: str, header: dict, values: dict):
        if op != "callback":
            raise PermissionError(f"the kernel may only call back, not {op!r}")
        target = values.get("obj")
        if isinstance(target, Remote) or not callable(target):
            raise TypeError("not a course function")
        return target(*values.get("args", []), **values.get("kwargs", {}))


def _resolve_class(types: list[str]):
    """The first class of the remote object's MRO that this process knows from torch or numpy
    (so that ``isinstance(student_module, nn.Conv2d)`` holds), else None."""
    for qualified in types:
        module, _, name = qualified.rpartition(".")
        if not module.startswith(("torch.", "numpy")) or module not in sys.modules:
            continue
        obj = sys.modules[module]
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if isinstance(obj, type):
            return obj
    return None


class Remote(KernelObject):
    """An object that lives in the student's kernel; every use is a request."""

    __slots__ = ("_peer", "_number", "_types", "_callable", "__weakref__")

    def __init__(self, peer: TrustedPeer, number: int, types: list[str], is_callable: bool):
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_types", types)
        object.__setattr__(self, "_callable", is_callable)

    def _ask(self, op: str, values: dict | None = None, **fields):
        return self._peer.ask(op, {"obj": self, **(values or {})}, **fields)

    @property  # type: ignore[misc]
    def __class__(self):
        return _resolve_class(self._types) or Remote

    def student_type(self) -> str:
        """The name of the object's class in the kernel (for messages)."""
        return self._types[0].rpartition(".")[2] if self._types else "object"

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value) -> None:
        self._ask("setattr", {"value": value}, name=name)

    def __call__(self, *args, **kwargs):
        return self._ask("call", {"args": list(args), "kwargs": kwargs})

    def __getitem__(self, key):
        return self._ask("getitem", {"key": key})

    def __setitem__(self, key, value) -> None:
        self._ask("setitem", {"key": key, "value": value})

    def __len__(self) -> int:
        n = self._ask("len")
        if type(n) is not int or n < 0:
            raise TypeError("len() of the student's object is not a non-negative integer")
        return n

    def __iter__(self):
        it = self._ask("iter")
        if not isinstance(it, Remote):
            return iter(it)
        return _RemoteIterator(it)

    def __contains__(self, key) -> bool:
        return self._ask("contains", {"key": key}) is True

    def __bool__(self) -> bool:
        return self._ask("bool") is True

    def __float__(self) -> float:
        value = self._ask("float")
        if type(value) is not float:
            raise TypeError("float() of the student's object is not a float")
        return value

    def __int__(self) -> int:
        value = self._ask("int")
        if type(value) is not int:
            raise TypeError("int() of the student's object is not an int")
        return value

    def __index__(self) -> int:
        return self.__int__()

    def __repr__(self) -> str:
        try:
            text = self._ask("repr")
        except BaseException:  # noqa: BLE001 - a repr never fails
            text = None
        return text if isinstance(text, str) else f"<student {self.student_type()}>"

    def __str__(self) -> str:
        return self.__repr__()

    def __dir__(self):
        names = self._ask("dir")
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def __eq__(self, other) -> bool:  # identity only: a student's __eq__ never decides a test
        return isinstance(other, Remote) and other._number == self._number

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("remote", self._number))


class _RemoteIterator:
    __slots__ = ("_it",)

    def __init__(self, it: Remote):
        self._it = it

    def __iter__(self):
        return self

    def __next__(self):
        got = self._it._ask("next")
        if not isinstance(got, dict) or got.get("stop"):
            raise StopIteration
        return got.get("value")


class TestNamespace(dict):
    """The globals of the test cells: the student's names (``student_names``) live in the kernel.

    Reading such a name asks the kernel for its current value; assigning it (a hidden test
    substituting a reference function) rebinds it there. While :attr:`mirror` is on (test
    cells), assigning a name of the setup cells (``shared_names``) also rebinds it in the
    kernel, so a test can restore a constant the student's code may have changed.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, peer: TrustedPeer, student_names: set[str], shared_names: set[str]):
        super().__init__()
        self.peer, self.student_names, self.shared_names = peer, set(student_names), set(shared_names)
        self.mirror = False

    def __missing__(self, key):
        if key in self.student_names:
            try:
                return self.peer.ask("get", name=key)
            except NameError:
                pass
        raise KeyError(key)

    def __setitem__(self, key, value) -> None:
        if key in self.student_names:
            self.peer.ask("set", {"value": value}, name=key)
            return
        if self.mirror and key in self.shared_names and (type(value) is Remote or is_data(value)):
            self.peer.ask("set", {"value": value}, name=key)
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        if key in self.student_names:
            self.peer.ask("del", name=key)
            return
        super().__delitem__(key)

    def __contains__(self, key) -> bool:
        if key in self.student_names:
            return self.peer.ask("has", name=key) is True
        return super().__contains__(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def pop(self, key, *default):
        if key in self.student_names:
            value = self.get(key, *default[:1])
            self.__delitem__(key)
            return value
        return super().pop(key, *default)


def is_data(value) -> bool:
    """Does ``value`` travel as plain data (no reference to an object of this process)?"""
    found = []

    def reference(obj: object) -> dict[str, int]:
        found.append(obj)
        return {"$cb": 0}

    try:
        wire.encode(value, [], reference)
    except wire.WireError:
        return False
    return not found
