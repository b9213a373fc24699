"""The few operations homework tests perform *inside* the student's kernel.

In a student's own notebook these functions simply run there. When the course grades
a submission, the test cells run in a separate, trusted process and the student's
objects are proxies of objects in the student's kernel; these functions then run in that
kernel, from the course's own code, and send back plain data (arrays, numbers, dicts of
arrays). Tests that need to build a reference module where the student's code can use it,
seed the kernel's random generators, or run a module forward and backward use them:

- :func:`build_module` builds a module from a data spec (layers of ``torch.nn``, and the spec
  nodes of :data:`SPEC_EXTENSIONS`); :func:`build_module_on` does it with a default device
  (``"meta"``: shapes only);
- :func:`seed_everything` seeds ``random``, NumPy's global generator and torch (here too);
- :func:`forward_backward` runs a module on inputs and returns output and gradients;
- :func:`forward_backward_graph` does the same, also returns the names of the autograd nodes
  that made the output (a part that may not call ``conv2d`` checks there is no
  ``ConvolutionBackward`` node, with :func:`coursekit.rules.forbid_nodes`), and reports an
  output that is not a tensor, or does not require grad, instead of failing;
- :func:`state_of` a module's state dict as float64 arrays; :func:`parameter_count` its size;
- :func:`gradcheck` runs ``torch.autograd.gradcheck`` on a module;
- :func:`call_in_place` calls a function that works on its arguments in place and returns
  them as the call left them;
- :func:`call_watching` calls a function while watching a module's forward passes and gradients.

**The contract with the grader.** Each of these is declared with :func:`kernel_operation`, which
registers it in :data:`OPERATIONS` (the only functions a grader may run in a kernel this way).
While the grader runs test cells, it installs itself with :func:`grading_with` (an object with
the :class:`Grader` method ``run_operation``), and its proxies of the student's objects derive
from :class:`KernelObject`: an operation whose first argument is one of them (or, for the
operations that build something in the kernel, any call) then runs in the kernel through
``run_operation``; the kernel runs :data:`OPERATIONS`'s own function. ``autograder`` implements
the other side (:mod:`autograder.trusted.remote`, :mod:`autograder.kernel.server`); this module
never imports it.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


class Grader(Protocol):
    """What the grader gives this module while it runs test cells."""

    def run_operation(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run ``OPERATIONS[name](*args, **kwargs)`` in the student's kernel; its answer, as data."""
        ...


class KernelObject:
    """Base class of the grader's proxies of objects that live in the student's kernel."""

    __slots__ = ()

    def student_type(self) -> str:
        """The name of the object's class in the kernel (for messages)."""
        raise NotImplementedError


#: name -> function: the operations a grader may run in a kernel (nothing else can be asked of it this way)
OPERATIONS: dict[str, Callable[..., Any]] = {}

_grader: Grader | None = None  # set only by grading_with()


@contextlib.contextmanager
def grading_with(grader: Grader) -> Iterator[None]:
    """While this lasts, the operations run in the kernel that ``grader`` talks to."""
    global _grader
    previous, _grader = _grader, grader
    try:
        yield
    finally:
        _grader = previous


def is_kernel_object(obj: object) -> bool:
    """Is ``obj`` a grader's proxy of an object in the student's kernel?"""
    return issubclass(type(obj), KernelObject)


def kernel_operation(*, builds: bool = False, also_here: bool = False) -> Callable[[F], F]:
    """Declare a function an operation of the kernel (see the module docstring).

    While grading, a call runs in the kernel when its first argument is a :class:`KernelObject`, or
    always when the operation ``builds`` something there; ``also_here``: it also runs here first."""

    def declare(func: F) -> F:
        name = func.__name__
        OPERATIONS[name] = func

        @functools.wraps(func)
        def operation(*args: Any, **kwargs: Any) -> Any:
            grader = _grader
            if grader is None or not (builds or also_here or (args and is_kernel_object(args[0]))):
                return func(*args, **kwargs)
            if also_here:
                func(*args, **kwargs)
            return grader.run_operation(name, list(args), kwargs)

        return operation  # type: ignore[return-value]

    return declare


@kernel_operation(also_here=True)
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (here and, when grading, in the kernel)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _build(spec):
    import torch
    from torch import nn

    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], str) and spec[0] in SPEC_EXTENSIONS:
        return SPEC_EXTENSIONS[spec[0]](spec)
    if isinstance(spec, (list, tuple)) and spec and spec[0] == "Sequential":
        return nn.Sequential(*[_build(s) for s in spec[1]])
    if isinstance(spec, (list, tuple)) and spec and spec[0] == "Residual":
        body, shortcut = _build(spec[1]), _build(spec[2]) if spec[2] is not None else nn.Identity()

        class _Residual(nn.Module):
            def __init__(self):
                super().__init__()
                self.body, self.shortcut = body, shortcut

            def forward(self, x):
                return torch.relu(self.body(x) + self.shortcut(x))

        return _Residual()
    name, args = spec[0], list(spec[1]) if len(spec) > 1 else []
    kwargs = dict(spec[2]) if len(spec) > 2 else {}
    layer = getattr(nn, str(name), None)
    if not (isinstance(layer, type) and issubclass(layer, nn.Module)):
        raise ValueError(f"{name!r} is not a layer of torch.nn")
    return layer(*args, **kwargs)


@kernel_operation(builds=True)
def build_module(spec, state: dict | None = None, dtype: str = "float32"):
    """A module built from ``spec`` (nested lists of torch.nn layer names and arguments), with
    ``state`` (a state dict of arrays) loaded. When grading, it is built in the student's kernel."""
    import torch

    module = _build(spec).to(getattr(torch, dtype))
    if state is not None:
        module.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    return module


@kernel_operation()
def forward_backward(module, *inputs, grad_output=None):
    """Run ``module`` on ``inputs`` (arrays); returns ``{"output", "input_grads", "param_grads"}``
    as float64 arrays (gradients of ``sum(output * grad_output)``; ``grad_output`` defaults to ones)."""
    import torch

    dtype = next((p.dtype for p in module.parameters()), torch.float64)
    xs = [torch.tensor(np.asarray(x), dtype=dtype, requires_grad=True) for x in inputs]
    for p in module.parameters():
        p.grad = None
    out = module(*xs)
    g = torch.ones_like(out) if grad_output is None else torch.as_tensor(np.asarray(grad_output), dtype=out.dtype)
    out.backward(g)
    as64 = lambda t: None if t is None else t.detach().double().cpu().numpy()
    return {
        "output": as64(out),
        "input_grads": [as64(x.grad) for x in xs],
        "param_grads": {n: as64(p.grad) for n, p in module.named_parameters()},
    }


@kernel_operation()
def state_of(module):
    """``module``'s state dict as float64 arrays (parameters and buffers), copies: a float64
    module's later updates do not show in them."""
    return {k: v.detach().double().cpu().numpy().copy() for k, v in module.state_dict().items()}


def graph_nodes(tensor) -> list[str]:
    """The class names of the autograd nodes that ``tensor`` was computed by (sorted, unique)."""
    names, seen, todo = set(), set(), [getattr(tensor, "grad_fn", None)]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(type(node).__name__)
        todo += [child for child, _ in getattr(node, "next_functions", ())]
    return sorted(names)


@kernel_operation()
def forward_backward_graph(module, *inputs, grad_output=None):
    """:func:`forward_backward` that also returns ``"nodes"``: the names of the autograd nodes of
    the output (e.g. ``ConvolutionBackward0``). Returns ``{"output", "output_type",
    "requires_grad", "nodes", "input_grads", "param_grads"}``: when the output is not a tensor
    (``output`` is then None) or does not require grad, no backward pass runs and every gradient
    is None; a gradient that autograd leaves empty is None."""
    import torch

    dtype = next((p.dtype for p in module.parameters()), torch.float64)
    xs = [torch.tensor(np.asarray(x), dtype=dtype, requires_grad=True) for x in inputs]
    for p in module.parameters():
        p.grad = None
    out = module(*xs)
    as64 = lambda t: None if t is None else t.detach().double().cpu().numpy()
    result: dict[str, Any] = {
        "output": None,
        "output_type": type(out).__name__,
        "requires_grad": False,
        "nodes": [],
        "input_grads": [None] * len(xs),
        "param_grads": {n: None for n, _ in module.named_parameters()},
    }
    if not isinstance(out, torch.Tensor):
        return result
    result["output"], result["requires_grad"] = as64(out), bool(out.requires_grad)
    result["nodes"] = graph_nodes(out)
    if out.requires_grad:
        g = torch.ones_like(out) if grad_output is None else torch.as_tensor(np.asarray(grad_output), dtype=out.dtype)
        out.backward(g)
        result["input_grads"] = [as64(x.grad) for x in xs]
        result["param_grads"] = {n: as64(p.grad) for n, p in module.named_parameters()}
    return result


@kernel_operation()
def gradcheck(module, *inputs, **kwargs) -> bool:
    """``torch.autograd.gradcheck(module, inputs, raise_exception=False, **kwargs)`` on float64 copies
    of ``inputs`` (arrays) that require grad: does autograd's gradient match finite differences?"""
    import torch

    xs = tuple(torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True) for x in inputs)
    kwargs = {k: v for k, v in kwargs.items() if k in ("eps", "atol", "rtol")}
    return bool(torch.autograd.gradcheck(module, xs, raise_exception=False, **kwargs))


@kernel_operation()
def call_in_place(func, *args, reader=None, target=None):
    """Call ``func(*args)`` and return ``{"result", "args"}``: its answer, and the arguments as the
    call left them (for functions that work on an array in place). With ``reader`` and ``target``
    (argument positions), the function ``args[reader]`` is called, each time ``func`` calls it, on
    ``args[target]`` itself, the caller's object, whatever ``func`` passes: it sees exactly the
    changes ``func`` makes to that object. When grading, the call runs in the student's kernel."""
    values = list(args)
    if reader is not None:
        inner, shared = values[reader], values[target]
        values[reader] = lambda *_, **__: inner(shared)
    result = func(*values)
    if reader is not None:
        values[reader] = inner
    return {"result": result, "args": values}


# --------------------------------------------------------------------------------------------
# Spec nodes (homeworks 5 to 7), besides the layers of torch.nn, "Sequential" and "Residual":
#
# - ``["Call", fn, args, kwargs]``: the module that ``fn(*args, **kwargs)`` returns (``fn`` is
#   a function or class of the student's notebook, e.g. a block of theirs: when grading, it is
#   called in the kernel);
# - ``["Scale", c]``: multiplies its input by the constant ``c``;
# - ``["Function", fn]``: a module whose forward pass is ``fn(*inputs)`` (e.g. to run a student's
#   function through :func:`forward_backward`);
# - ``["ChannelAffine", channels, weight, bias, inner]``: ``inner(x) * w[c] + b[c]`` along axis 1,
#   with trainable ``weight`` and ``bias`` of shape ``(channels,)`` initialised to the given
#   numbers (``inner``: a spec, or None for the identity);
# - ``["Pruned", layer, masks]``: ``layer`` with :func:`torch.nn.utils.prune.custom_from_mask`
#   applied to each of its parameters named in the dict ``masks`` (name -> 0/1 array of the
#   parameter's shape): the state dict then holds ``<name>_orig`` and ``<name>_mask``.


def _spec_call(spec):
    fn = spec[1]
    args = list(spec[2]) if len(spec) > 2 else []
    kwargs = dict(spec[3]) if len(spec) > 3 else {}
    return fn(*args, **kwargs)


def _spec_scale(spec):
    from torch import nn

    class Scale(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = float(c)

        def forward(self, x):
            return self.c * x

        def extra_repr(self):
            return f"c={self.c}"

    return Scale(spec[1])


def _spec_function(spec):
    from torch import nn

    fn = spec[1]

    class Function(nn.Module):
        def forward(self, *inputs):
            return fn(*inputs)

    return Function()


def _spec_channel_affine(spec):
    import torch
    from torch import nn

    class ChannelAffine(nn.Module):
        def __init__(self, channels, weight=1.0, bias=0.0, inner=None):
            super().__init__()
            self.inner = _build(inner) if inner is not None else nn.Identity()
            self.weight = nn.Parameter(torch.full((int(channels),), float(weight)))
            self.bias = nn.Parameter(torch.full((int(channels),), float(bias)))

        def forward(self, x):
            x = self.inner(x)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return x * self.weight.reshape(shape) + self.bias.reshape(shape)

    return ChannelAffine(*spec[1:5])


def _spec_pruned(spec):
    import torch
    from torch.nn.utils import prune

    module = _build(spec[1])
    for name, mask in dict(spec[2]).items():
        prune.custom_from_mask(module, str(name), torch.as_tensor(np.asarray(mask, dtype=np.float32)))
    return module


SPEC_EXTENSIONS = {
    "Call": _spec_call,
    "Scale": _spec_scale,
    "Function": _spec_function,
    "ChannelAffine": _spec_channel_affine,
    "Pruned": _spec_pruned,
}


def build_here(spec, state: dict | None = None, dtype: str = "float32", device: str | None = None):
    """Like :func:`build_module`, but always in this process (a test's own reference copy of a
    module that it also builds in the kernel); ``device`` e.g. ``"meta"``."""
    import contextlib

    import torch

    with torch.device(device) if device is not None else contextlib.nullcontext():
        module = _build(spec).to(getattr(torch, dtype))
    if state is not None:
        module.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    return module


@kernel_operation(builds=True)
def build_module_on(device: str, spec, state: dict | None = None, dtype: str = "float32"):
    """:func:`build_module` with torch's default device set to ``device`` while the module is
    built (``"meta"``: shapes without memory or values). When grading, built in the kernel."""
    return build_here(spec, state, dtype, device)


@kernel_operation()
def call_watching(module, func, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` while watching ``module`` (its forward passes and the
    gradients that reach its parameters); returns a dict:

    - ``"result"``: what ``func`` returned;
    - ``"forwards"``: one ``[grad_enabled, training, batch]`` per forward pass of ``module``
      (``batch``: the length of its first input, or -1);
    - ``"backward"``: how many parameter gradients were computed;
    - ``"accumulated"``: how many of them were added to a nonzero ``.grad`` (gradients not zeroed);
    - ``"cpu_seconds"``: the CPU time of the call (this process).

    The watching hooks are removed afterwards, even when ``func`` raises."""
    import time

    import torch

    record: dict[str, Any] = {"forwards": [], "backward": 0, "accumulated": 0}

    def before_forward(mod, inputs):
        try:
            batch = len(inputs[0])
        except Exception:  # noqa: BLE001 - not a batch
            batch = -1
        record["forwards"].append([bool(torch.is_grad_enabled()), bool(mod.training), int(batch)])

    handles = [module.register_forward_pre_hook(before_forward)]
    for p in module.parameters():

        def on_grad(grad, p=p):  # runs before the new gradient is added to p.grad
            record["backward"] += 1
            if p.grad is not None and bool((p.grad != 0).any()):
                record["accumulated"] += 1
            return None

        handles.append(p.register_hook(on_grad))
    start = time.process_time()
    try:
        result = func(*args, **kwargs)
    finally:
        seconds = time.process_time() - start
        for h in handles:
            h.remove()
    return {"result": result, **record, "cpu_seconds": seconds}


@kernel_operation()
def parameter_count(module) -> int:
    """The number of parameters of ``module`` (also on the meta device)."""
    return int(sum(p.numel() for p in module.parameters()))
