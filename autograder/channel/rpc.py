"""Requests and replies over one socket, in both directions (see :mod:`autograder.channel.wire`).

Both ends of a grading run are a :class:`Peer`: the trusted test process asks the
kernel to run a cell, call a student's function, read an attribute ...; while it
serves such a request, the kernel may ask back (call a reference function that a
hidden test substituted for an earlier part). A peer waiting for its reply serves
the requests that arrive meanwhile, so calls nest to any depth.

Each side hands out references to its own objects that are not data: the kernel's
are ``$ref`` (seen by the trusted side as :class:`autograder.trusted.remote.Remote`), the
trusted side's are ``$cb`` (seen by the kernel as a callable proxy).
"""

from __future__ import annotations

import select
import socket
import time

from . import wire

COURSE_OPERATION = "course_op"  # the request that runs one of coursekit.harness.OPERATIONS in the kernel
MALFORMED = "$malformed"  # the key under which receive() reports values that are not data


class RemoteError(Exception):
    """The other side raised: ``ename`` and ``evalue`` are its exception's name and message."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


class Deadline(BaseException):
    """Raised in the trusted process when a cell runs past its time limit (not an Exception:
    test code that catches Exception cannot swallow it)."""


class Peer:
    """One end of the channel. ``own_tag`` is the tag of references to this side's objects."""

    own_tag = "$ref"
    other_tag = "$cb"

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.next_id = 1
        self.objects: dict[int, object] = {}  # reference number -> this side's object
        self.numbers: dict[int, int] = {}  # id(object) -> reference number
        self.deadline: float | None = None  # time.monotonic() after which waiting raises Deadline

    # ------------------------------------------------------------------ references
    def ref(self, obj) -> dict:
        foreign = self.foreign_number(obj)
        if foreign is not None:  # a proxy of the other side's object goes back as its reference
            return {self.other_tag: foreign}
        key = id(obj)
        number = self.numbers.get(key)
        if number is None or self.objects.get(number) is not obj:
            number = len(self.objects) + 1
            self.objects[number] = obj
            self.numbers[key] = number
        return {self.own_tag: number}

    def resolve(self, tree: dict):
        if self.own_tag in tree:
            number = tree[self.own_tag]
            if number not in self.objects:
                raise wire.WireError("unknown reference")
            return self.objects[number]
        return self.proxy(tree[self.other_tag])

    def foreign_number(self, obj) -> int | None:
        """The other side's reference number if ``obj`` is a proxy of one of its objects."""
        return None

    def proxy(self, number: int):  # pragma: no cover - each side defines it
        raise NotImplementedError

    # ------------------------------------------------------------------ messages
    def send(self, message: dict, values: dict | None = None) -> None:
        wire.send_message(self.sock, message, values or {}, self.ref)

    def receive(self) -> tuple[dict, dict]:
        """The next message: (header, values). A frame that is read whole but whose values are not
        data comes back with the values ``{MALFORMED: reason}``: only its own request fails."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise Deadline()
        header, blobs = wire.recv_frame(self.sock)
        try:
            return header, wire.decode_values(header, blobs, self.resolve)
        except wire.WireError as err:
            return header, {MALFORMED: str(err)}

    def request(self, op: str, values: dict | None = None, **fields):
        """Send a request and wait for its reply, serving nested requests meanwhile."""
        number = self.next_id
        self.next_id += 1
        self.send({"id": number, "op": op, **fields}, values)
        while True:
            header, got = self.receive()
            if "op" in header:
                if MALFORMED in got:
                    self.send(
                        {
                            "re": header.get("id") if type(header.get("id")) is int else None,
                            "err": ["WireError", got[MALFORMED]],
                        }
                    )
                else:
                    self.serve(header, got)
                continue
            if header.get("re") != number:
                continue  # the late reply to a request that was given up (interrupted)
            if MALFORMED in got:
                raise RemoteError("MalformedReply", f"the answer could not be read as data ({got[MALFORMED]})")
            if "err" in header:
                err = header["err"]
                if not (isinstance(err, list) and len(err) == 2 and all(isinstance(e, str) for e in err)):
                    raise RemoteError("MalformedReply", "the error in the answer could not be read")
                raise RemoteError(err[0], err[1])
            return got.get("ok")

    def serve(self, header: dict, values: dict) -> None:
        """Answer one request of the other side."""
        try:
            result = self.handle(str(header.get("op")), header, values)
        except BaseException as err:
            if isinstance(err, Deadline):
                raise
            self.send({"re": header.get("id"), "err": describe(err)})
            return
        try:
            self.send({"re": header.get("id")}, {"ok": result})
        except wire.WireError as err:
            self.send({"re": header.get("id"), "err": ["WireError", str(err)]})

    def handle(self, op: str, header: dict, values: dict):  # pragma: no cover - each side defines it
        raise NotImplementedError


def describe(error: BaseException) -> list[str]:
    """[exception name, message] of ``error``, whatever its ``__str__`` does."""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - an exception whose str() raises is still described
        message = "(the exception's message could not be printed)"
    return [type(error).__name__, message[:4000]]
