"""The few operations homework tests perform *inside* the student's kernel.

In a student's own notebook these functions simply run there. When the course grades
a submission, the test cells run in a separate, trusted process and the student's
modules are references to objects in the student's kernel (see
``autograder.remote``); these functions then run in that kernel, from the course's
own code, and send back plain data (arrays, numbers, dicts of arrays). Tests that
need to build a reference module where the student's code can use it, seed the
kernel's random generators, or run a module forward and backward use them:

- :func:`build_module` builds a module from a data spec (layers of ``torch.nn``);
- :func:`seed_everything` seeds ``random``, NumPy's global generator and torch;
- :func:`forward_backward` runs a module on inputs and returns output and gradients;
- :func:`forward_backward_checked` does the same with some torch functions switched off, and
  reports an output that is not a tensor, or does not require grad, instead of failing;
- :func:`gradcheck` runs ``torch.autograd.gradcheck`` on a module;
- :func:`call_in_place` calls a function that works on its arguments in place and returns
  them as the call left them.
"""
from __future__ import annotations

import random

import numpy as np

#: names the grader may run in a kernel (nothing else can be asked of it this way)
KERNEL_OPERATIONS = {"build_module", "seed_everything", "forward_backward", "state_of",
                     "forward_backward_checked", "gradcheck", "call_in_place"}

_peer = None  # set by the grader in its trusted test process (autograder.execute)


def use_kernel(peer) -> None:
    """Called by the grader: from now on, operations go to the kernel of ``peer`` (None: local)."""
    global _peer
    _peer = peer


def _remote(obj=None) -> bool:
    return _peer is not None and (obj is None or type(obj).__name__ == "Remote")


def _ask(name: str, *args, **kwargs):
    return _peer.ask("course_op", {"args": list(args), "kwargs": kwargs}, name=name)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (here and, when grading, in the kernel)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if _remote():
        _ask("seed_everything", seed)


def _build(spec):
    import torch
    from torch import nn

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


def build_module(spec, state: dict | None = None, dtype: str = "float32"):
    """A module built from ``spec`` (nested lists of torch.nn layer names and arguments), with
    ``state`` (a state dict of arrays) loaded. When grading, it is built in the student's kernel."""
    if _remote():
        return _ask("build_module", spec, state, dtype)
    import torch

    module = _build(spec).to(getattr(torch, dtype))
    if state is not None:
        module.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    return module


def forward_backward(module, *inputs, grad_output=None):
    """Run ``module`` on ``inputs`` (arrays); returns ``{"output", "input_grads", "param_grads"}``
    as float64 arrays (gradients of ``sum(output * grad_output)``; ``grad_output`` defaults to ones)."""
    if _remote(module):
        return _ask("forward_backward", module, *inputs, grad_output=grad_output)
    import torch

    dtype = next((p.dtype for p in module.parameters()), torch.float64)
    xs = [torch.tensor(np.asarray(x), dtype=dtype, requires_grad=True) for x in inputs]
    for p in module.parameters():
        p.grad = None
    out = module(*xs)
    g = torch.ones_like(out) if grad_output is None else torch.as_tensor(np.asarray(grad_output), dtype=out.dtype)
    out.backward(g)
    as64 = lambda t: None if t is None else t.detach().double().cpu().numpy()  # noqa: E731
    return {"output": as64(out), "input_grads": [as64(x.grad) for x in xs],
            "param_grads": {n: as64(p.grad) for n, p in module.named_parameters()}}


def state_of(module):
    """``module``'s state dict as float64 arrays (parameters and buffers)."""
    if _remote(module):
        return _ask("state_of", module)
    return {k: v.detach().double().cpu().numpy() for k, v in module.state_dict().items()}


class _Disabled:
    """Replaces the torch functions named in ``names`` (e.g. ``"torch.nn.functional.conv2d"``) by one
    that raises RuntimeError, for the duration of a ``with`` block."""

    def __init__(self, names):
        self.names, self.saved = [str(n) for n in names], []

    def __enter__(self):
        import importlib

        for name in self.names:
            module_name, _, attr = name.rpartition(".")
            if not (module_name == "torch" or module_name.startswith("torch.")):
                raise ValueError(f"{name!r} is not a torch function")
            module = importlib.import_module(module_name)

            def disabled(*args, _name=name, **kwargs):
                raise RuntimeError(f"{_name} is switched off for this check")
            self.saved.append((module, attr, getattr(module, attr)))
            setattr(module, attr, disabled)
        return self

    def __exit__(self, *exc):
        for module, attr, value in reversed(self.saved):
            setattr(module, attr, value)
        self.saved = []
        return False


def forward_backward_checked(module, *inputs, grad_output=None, disabled=()):
    """:func:`forward_backward`, with the torch functions named in ``disabled`` raising RuntimeError
    during the forward pass. Returns ``{"output", "output_type", "requires_grad", "input_grads",
    "param_grads"}``: when the output is not a tensor (``output`` is then None) or does not require
    grad, no backward pass runs and every gradient is None; a gradient that autograd leaves
    empty is None."""
    if _remote(module):
        return _ask("forward_backward_checked", module, *inputs, grad_output=grad_output, disabled=list(disabled))
    import torch

    dtype = next((p.dtype for p in module.parameters()), torch.float64)
    xs = [torch.tensor(np.asarray(x), dtype=dtype, requires_grad=True) for x in inputs]
    for p in module.parameters():
        p.grad = None
    with _Disabled(disabled):
        out = module(*xs)
    as64 = lambda t: None if t is None else t.detach().double().cpu().numpy()  # noqa: E731
    result = {"output": None, "output_type": type(out).__name__, "requires_grad": False,
              "input_grads": [None] * len(xs), "param_grads": {n: None for n, _ in module.named_parameters()}}
    if not isinstance(out, torch.Tensor):
        return result
    result["output"], result["requires_grad"] = as64(out), bool(out.requires_grad)
    if out.requires_grad:
        g = torch.ones_like(out) if grad_output is None else torch.as_tensor(np.asarray(grad_output), dtype=out.dtype)
        out.backward(g)
        result["input_grads"] = [as64(x.grad) for x in xs]
        result["param_grads"] = {n: as64(p.grad) for n, p in module.named_parameters()}
    return result


def gradcheck(module, *inputs, **kwargs) -> bool:
    """``torch.autograd.gradcheck(module, inputs, raise_exception=False, **kwargs)`` on float64 copies
    of ``inputs`` (arrays) that require grad: does autograd's gradient match finite differences?"""
    if _remote(module):
        return _ask("gradcheck", module, *inputs, **kwargs)
    import torch

    xs = tuple(torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True) for x in inputs)
    kwargs = {k: v for k, v in kwargs.items() if k in ("eps", "atol", "rtol")}
    return bool(torch.autograd.gradcheck(module, xs, raise_exception=False, **kwargs))


def call_in_place(func, *args, reader=None, target=None):
    """Call ``func(*args)`` and return ``{"result", "args"}``: its answer, and the arguments as the
    call left them (for functions that work on an array in place). With ``reader`` and ``target``
    (argument positions), the function ``args[reader]`` is called, each time ``func`` calls it, on
    ``args[target]`` itself, the caller's object, whatever ``func`` passes: it sees exactly the
    changes ``func`` makes to that object. When grading, the call runs in the student's kernel."""
    if _remote(func):
        return _ask("call_in_place", func, *args, reader=reader, target=target)
    args = list(args)
    if reader is not None:
        inner, shared = args[reader], args[target]
        args[reader] = lambda *_, **__: inner(shared)
    result = func(*args)
    if reader is not None:
        args[reader] = inner
    return {"result": result, "args": args}
