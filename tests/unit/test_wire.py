"""The data-only protocol between a student's kernel and the trusted test process."""

import json
import socket
import struct

import numpy as np
import pytest
import torch

from autograder.channel import wire
from autograder.trusted.remote import Remote, TestNamespace, TrustedPeer


def roundtrip(value):
    blobs: list[bytes] = []
    refs: list[object] = []

    def reference(obj: object) -> dict[str, int]:
        refs.append(obj)
        return {"$cb": len(refs)}

    tree = wire.encode(value, blobs, reference)
    return wire.decode(json.loads(json.dumps(tree)), blobs, lambda t: ("ref", t)), refs


def test_data_travels_by_value_with_its_type():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.nn.Parameter(torch.ones(2, 2, dtype=torch.float64))
    t.grad = torch.full((2, 2), 3.0, dtype=torch.float64)
    value = {
        "a": [1, 2.5, float("nan"), None, True, "s"],
        3: (x, np.int64(7)),
        "t": t,
        "size": torch.Size([1, 2]),
        "dt": torch.float16,
        "dev": torch.device("cpu"),
        "b": b"\x00\x01",
        "c": 1 + 2j,
        "set": {1, 2},
        "bf": torch.ones(2, dtype=torch.bfloat16),
        "meta": torch.empty(3, 4, device="meta"),
    }
    got, refs = roundtrip(value)
    assert not refs
    assert got["a"][:2] == [1, 2.5] and np.isnan(got["a"][2]) and got["a"][3:] == [None, True, "s"]
    assert isinstance(got[3], tuple) and got[3][0].dtype == np.float32 and np.array_equal(got[3][0], x)
    assert got[3][1] == 7 and isinstance(got[3][1], np.int64)
    assert isinstance(got["t"], torch.nn.Parameter) and got["t"].dtype == torch.float64
    sent, received = t.grad, got["t"].grad
    assert sent is not None and received is not None and torch.equal(received, sent)
    assert got["size"] == torch.Size([1, 2]) and got["dt"] is torch.float16 and got["dev"].type == "cpu"
    assert got["b"] == b"\x00\x01" and got["c"] == 1 + 2j and got["set"] == {1, 2}
    assert got["bf"].dtype == torch.bfloat16 and got["meta"].device.type == "meta" and got["meta"].shape == (3, 4)


def test_objects_that_are_not_data_travel_as_references():
    class Student:
        pass

    obj, fn = Student(), (lambda: 0)
    got, refs = roundtrip([obj, fn, np.array([object()], dtype=object)])
    assert refs[:2] == [obj, fn] and got[0][0] == "ref" and got[1][0] == "ref"


@pytest.mark.parametrize(
    "tree, blobs",
    [
        ({"$nd": 0, "dtype": "object", "shape": [1]}, [b"x" * 8]),  # no object arrays
        ({"$nd": 0, "dtype": "float64", "shape": [3]}, [b"x" * 16]),  # size does not match
        ({"$nd": 5, "dtype": "float64", "shape": [1]}, [b"x" * 8]),  # no such blob
        ({"$pickle": "gASVAAAA"}, []),  # unknown tag
        ({"$f": "__import__('os')"}, []),  # not a float
        ({"$tdt": "Tensor"}, []),  # not a dtype
        ({"$ref": "1"}, []),  # bad reference
    ],
)
def test_malformed_values_are_rejected(tree, blobs):
    with pytest.raises(wire.WireError):
        wire.decode(tree, blobs, lambda t: None)


def test_nesting_and_frame_sizes_are_bounded():
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.WireError):
        wire.decode(deep, [], lambda t: None)
    a, b = socket.socketpair()
    a.sendall(struct.pack("<Q", wire.MAX_FRAME + 1))
    with pytest.raises(wire.WireError):
        wire.recv_frame(b)


def test_a_remote_object_decides_nothing_by_itself():
    """Its __eq__ is identity, it is never an ndarray, and isinstance sees only torch classes."""
    a, _ = socket.socketpair()
    peer = TrustedPeer(a)
    conv = Remote(peer, 1, ["__main__.MyConv", "torch.nn.modules.conv.Conv2d", "torch.nn.modules.module.Module"], True)
    fake = Remote(peer, 2, ["__main__.Anything", "builtins.object"], False)
    assert isinstance(conv, torch.nn.Conv2d) and isinstance(conv, torch.nn.Module)
    assert not isinstance(fake, torch.nn.Module) and not isinstance(fake, np.ndarray)
    assert conv == conv and conv != fake and fake != 0
    from coursekit.checks import check_close

    with pytest.raises(AssertionError, match="Anything"):
        check_close(fake, [1.0], "corr1d(x, w)")


def test_the_test_namespace_forwards_only_the_students_names():
    a, _ = socket.socketpair()
    asked = []

    class Peer(TrustedPeer):
        def ask(self, op, values=None, **fields):
            asked.append((op, fields.get("name"), (values or {}).get("value")))
            return "from-kernel"

    ns = TestNamespace(Peer(a), {"corr1d"}, {"M_X"})
    assert ns["corr1d"] == "from-kernel"
    with pytest.raises(KeyError):
        ns["len"]  # builtins and unknown names are never looked up in the kernel
    ns["_ref"] = 1
    ns["M_X"] = np.ones(2)  # a setup name outside a test cell: local only
    ns.mirror = True
    ns["M_X"] = np.zeros(2)  # inside a test cell: restored in the kernel too
    ns["np"] = np  # modules are never sent
    ns["corr1d"] = print  # substitution: the kernel gets a callable proxy
    ops = [(op, name) for op, name, _ in asked]
    assert ops == [("get", "corr1d"), ("set", "M_X"), ("set", "corr1d")]
    assert "corr1d" not in dict(ns) and ns["_ref"] == 1
