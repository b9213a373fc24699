"""What crosses between a student's kernel and the trusted test process: data, never code.

A message is one frame on a Unix stream socket::

    8-byte little-endian length | JSON header | for each blob: 8-byte length | raw bytes

The JSON header holds the value tree; arrays and tensors travel as raw bytes in the
blobs, with their dtype and shape in the tree. Nothing is ever unpickled or
evaluated: :func:`decode` only builds plain Python values (None, bool, int, float,
complex, str, bytes, list, tuple, dict, set), NumPy arrays and scalars of numeric
dtypes, torch tensors (with their gradient), dtypes, devices and sizes, and the
two kinds of references that each side hands out for objects that are not data:

- ``{"$ref": n}``: an object that lives in the kernel (a student's module, function,
  iterator ...); the trusted side sees it as a :class:`autograder.trusted.remote.Remote`;
- ``{"$cb": n}``: an object that lives in the trusted process (a reference function
  that a hidden test substitutes for an earlier part); the kernel can only call it.

Every size is bounded (:data:`MAX_FRAME`, :data:`MAX_DEPTH`, :data:`MAX_ITEMS`), and a
malformed frame raises :class:`WireError`. A frame whose framing is broken leaves the
channel unusable (the kernel is then treated as dead); a frame read whole whose values are
not data costs only the request it answers (:mod:`autograder.channel.rpc`), which the trusted side
treats like any wrong answer from the student's kernel.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_FRAME = 1 << 30  # bytes in one message (header and blobs)
MAX_DEPTH = 64  # nesting of lists, tuples and dicts
MAX_ITEMS = 5_000_000  # scalars and containers in one value tree
_LEN = struct.Struct("<Q")

NUMERIC_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
}
TORCH_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
}


class WireError(Exception):
    """A frame or value that breaks the protocol (what the student's kernel sent is not data)."""


# --------------------------------------------------------------------------- framing


def send_frame(sock: socket.socket, header: dict, blobs: list[bytes]) -> None:
    head = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    parts = [_LEN.pack(len(head)), head]
    for blob in blobs:
        parts += [_LEN.pack(len(blob)), blob]
    sock.sendall(b"".join(parts))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the other end closed the channel")
        got += k
    return bytes(buf)


def recv_frame(sock: socket.socket) -> tuple[dict, list[bytes]]:
    """The next frame as (header, blobs); EOFError when the peer has gone."""
    (n,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
    if n > MAX_FRAME:
        raise WireError(f"header of {n} bytes")
    try:
        header = json.loads(_recv_exact(sock, n))
    except ValueError as err:
        raise WireError(f"header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise WireError("header is not an object")
    count = header.get("blobs", 0)
    if not isinstance(count, int) or not 0 <= count <= 100_000:
        raise WireError("bad blob count")
    blobs, total = [], n
    for _ in range(count):
        (size,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
        total += size
        if total > MAX_FRAME:
            raise WireError(f"message larger than {MAX_FRAME} bytes")
        blobs.append(_recv_exact(sock, size))
    return header, blobs


# --------------------------------------------------------------------------- values


def _torch():
    import sys

    return sys.modules.get("torch")


def encode(value, blobs: list[bytes], ref: Callable[[object], dict]) -> object:
    """The JSON-ready tree of ``value``; raw array bytes are appended to ``blobs``.

    ``ref(obj)`` gives the reference (``{"$ref": n}`` or ``{"$cb": n}``) of an object
    that is not data.
    """
    return _Encoder(blobs, ref).run(value)


class _Encoder:
    def __init__(self, blobs, ref):
        self.blobs, self.ref, self.items = blobs, ref, 0

    def run(self, value, depth: int = 0):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("value too deeply nested or too large")
        torch = _torch()
        if value is None or isinstance(value, (bool, str)) or type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"$f": repr(value)}
        if type(value) is complex:
            return {"$c": [value.real, value.imag]}
        if isinstance(value, (bytes, bytearray)):
            self.blobs.append(bytes(value))
            return {"$b": len(self.blobs) - 1}
        if isinstance(value, np.ndarray) and value.dtype.name in NUMERIC_DTYPES:
            return self.array(value, "$nd")
        if isinstance(value, np.generic) and value.dtype.name in NUMERIC_DTYPES:
            return self.array(np.asarray(value), "$ns")
        if isinstance(value, np.dtype):
            return {"$npdt": value.name}
        if torch is not None:
            if isinstance(value, torch.Tensor):
                return self.tensor(value, depth)
            if isinstance(value, torch.Size):
                return {"$size": [int(v) for v in value]}
            if isinstance(value, torch.dtype):
                return {"$tdt": str(value).replace("torch.", "")}
            if isinstance(value, torch.device):
                return {"$dev": str(value)}
        if type(value) in (list, tuple, set, frozenset, dict) or _is_plain_container(value):
            return self.container(value, depth)
        if isinstance(value, int) and type(value).__module__ == "builtins":
            return int(value)
        if isinstance(value, float) and type(value).__module__ == "builtins":
            return self.run(float(value), depth)
        if isinstance(value, slice):
            return {
                "$sl": [
                    self.run(value.start, depth + 1),
                    self.run(value.stop, depth + 1),
                    self.run(value.step, depth + 1),
                ]
            }
        if value is Ellipsis:
            return {"$el": 0}
        return self.ref(value)

    def container(self, value, depth):
        if isinstance(value, dict):
            return {"$d": [[self.run(k, depth + 1), self.run(v, depth + 1)] for k, v in list(value.items())]}
        items = [self.run(v, depth + 1) for v in list(value)]
        if isinstance(value, tuple):
            return {"$t": items}
        if isinstance(value, (set, frozenset)):
            return {"$set": items}
        return items

    def array(self, arr: np.ndarray, tag: str) -> dict[str, Any]:
        self.blobs.append(arr.tobytes(order="C"))
        return {tag: len(self.blobs) - 1, "dtype": arr.dtype.name, "shape": list(arr.shape)}

    def tensor(self, t, depth):
        torch = _torch()
        dtype = str(t.dtype).replace("torch.", "")
        if dtype not in TORCH_DTYPES:
            raise WireError(f"tensor of dtype {dtype}")
        data = t.detach()
        if data.device.type == "meta":
            out: dict[str, Any] = {"$meta": list(data.shape), "tdtype": dtype}
        else:
            data = data.cpu()
            if dtype == "bfloat16":
                data = data.to(torch.float32)
            if data.is_sparse or data.layout != torch.strided:
                data = data.to_dense()
            out = self.array(data.resolve_conj().resolve_neg().contiguous().numpy(), "$tt")
            out["tdtype"] = dtype
        out["rg"] = bool(t.requires_grad)
        out["param"] = isinstance(t, torch.nn.Parameter)
        grad = getattr(t, "grad", None) if t.is_leaf else None
        if grad is not None:
            out["grad"] = self.tensor(grad, depth + 1)
        return out


def _is_plain_container(value) -> bool:
    """OrderedDict, namedtuples and other subclasses of list/tuple/dict travel as their base type."""
    return isinstance(value, (list, tuple, dict)) and not hasattr(type(value), "__array__")


def decode(tree, blobs: list[bytes], resolve: Callable[[dict], object]) -> object:
    """The value of ``tree`` (see :func:`encode`); ``resolve`` turns a ``$ref``/``$cb`` into an object."""
    return _Decoder(blobs, resolve).run(tree, 0)


class _Decoder:
    def __init__(self, blobs, resolve):
        self.blobs, self.resolve, self.items = blobs, resolve, 0

    def run(self, tree, depth):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("value too deeply nested or too large")
        if tree is None or isinstance(tree, (bool, int, float, str)):
            return tree
        if isinstance(tree, list):
            return [self.run(v, depth + 1) for v in tree]
        if not isinstance(tree, dict) or not tree:
            raise WireError("not a value")
        tag = next(iter(tree))
        if tag == "$t":
            return tuple(self.run(v, depth + 1) for v in self.seq(tree[tag]))
        if tag == "$d":
            out = {}
            for pair in self.seq(tree[tag]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("bad dict item")
                key = self.run(pair[0], depth + 1)
                try:
                    out[key] = self.run(pair[1], depth + 1)
                except TypeError:
                    raise WireError("unhashable dict key") from None
            return out
        if tag == "$set":
            try:
                return set(self.run(v, depth + 1) for v in self.seq(tree[tag]))
            except TypeError:
                raise WireError("unhashable set item") from None
        if tag in ("$nd", "$ns"):
            arr = self.array(tree)
            return arr if tag == "$nd" else arr[()]
        if tag == "$tt" or tag == "$meta":
            return self.tensor(tree, depth)
        if tag == "$f":
            if tree[tag] not in ("nan", "inf", "-inf"):
                raise WireError("bad float")
            return float(tree[tag])
        if tag == "$c":
            re_, im = self.seq(tree[tag])
            return complex(float(re_), float(im))
        if tag == "$b":
            return self.blob(tree[tag])
        if tag == "$npdt":
            if tree[tag] not in NUMERIC_DTYPES:
                raise WireError("bad dtype")
            return np.dtype(tree[tag])
        if tag == "$tdt":
            torch = _torch()
            if tree[tag] not in TORCH_DTYPES or torch is None:
                raise WireError("bad torch dtype")
            return getattr(torch, tree[tag])
        if tag == "$dev":
            torch = _torch()
            if not isinstance(tree[tag], str) or torch is None:
                raise WireError("bad device")
            return torch.device(tree[tag])
        if tag == "$size":
            torch = _torch()
            if torch is None:
                raise WireError("a torch.Size, but torch is not loaded here")
            return torch.Size([int(v) for v in self.seq(tree[tag])])
        if tag == "$sl":
            return slice(*(self.run(v, depth + 1) for v in self.seq(tree[tag])))
        if tag == "$el":
            return Ellipsis
        if tag in ("$ref", "$cb"):
            if not isinstance(tree[tag], int):
                raise WireError("bad reference")
            return self.resolve(tree)
        raise WireError(f"unknown tag {tag!r}")

    @staticmethod
    def seq(value) -> list:
        if not isinstance(value, list):
            raise WireError("expected a list")
        return value

    def blob(self, index) -> bytes:
        if not isinstance(index, int) or not 0 <= index < len(self.blobs):
            raise WireError("bad blob index")
        return self.blobs[index]

    def array(self, tree) -> np.ndarray:
        dtype, shape = tree.get("dtype"), tree.get("shape")
        if (
            dtype not in NUMERIC_DTYPES
            or not isinstance(shape, list)
            or not all(isinstance(s, int) and s >= 0 for s in shape)
            or len(shape) > 32
        ):
            raise WireError("bad array header")
        data = self.blob(next(iter(tree.values())))
        dt = np.dtype(dtype)
        if math.prod(shape) * dt.itemsize != len(data):
            raise WireError("array size does not match its shape")
        return np.frombuffer(data, dtype=dt).reshape(shape).copy()

    def tensor(self, tree, depth):
        torch = _torch()
        if torch is None:
            raise WireError("a tensor, but torch is not loaded")
        tdtype = tree.get("tdtype")
        if tdtype not in TORCH_DTYPES:
            raise WireError("bad tensor dtype")
        if "$meta" in tree:
            shape = [int(s) for s in self.seq(tree["$meta"])]
            t = torch.empty(shape, dtype=getattr(torch, tdtype), device="meta")
        else:
            t = torch.from_numpy(self.array(tree)).to(getattr(torch, tdtype))
        if tree.get("param"):
            t = torch.nn.Parameter(t, requires_grad=bool(tree.get("rg")))
        elif tree.get("rg") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(True)
        if "grad" in tree:
            grad = self.run(tree["grad"], depth + 1)
            if isinstance(grad, torch.Tensor) and grad.shape == t.shape and t.requires_grad:
                t.grad = grad.to(t.dtype)
        return t


# --------------------------------------------------------------------------- messages


def send_message(sock: socket.socket, message: dict, values: dict, ref: Callable[[object], dict]) -> None:
    """Send ``message`` (JSON-ready fields) with ``values`` (encoded under ``"v"``)."""
    blobs: list[bytes] = []
    tree = {k: encode(v, blobs, ref) for k, v in values.items()}
    send_frame(sock, {**message, "v": tree, "blobs": len(blobs)}, blobs)


def decode_values(header: dict, blobs: list[bytes], resolve: Callable[[dict], object]) -> dict:
    """The values of a received frame (see :func:`recv_frame`). Whatever goes wrong in them is a
    :class:`WireError`: the frame itself was read whole, so the channel stays usable."""
    tree = header.get("v", {})
    if not isinstance(tree, dict):
        raise WireError("values are not an object")
    try:
        return {k: decode(v, blobs, resolve) for k, v in tree.items()}
    except WireError:
        raise
    except Exception as err:  # noqa: BLE001 - e.g. a complex of three numbers, a huge slice bound
        raise WireError(f"bad value ({type(err).__name__})") from None


def recv_message(sock: socket.socket, resolve: Callable[[dict], object]) -> tuple[dict, dict]:
    """(header fields, decoded values) of the next message."""
    header, blobs = recv_frame(sock)
    return header, decode_values(header, blobs, resolve)
