"""Kernels that lie, for the lying-kernel tests (tests/stages/test_lying_kernel.py).

A student who reads this grader controls everything in their kernel process, the course's
own code there included (``coursekit.harness`` operations, the kernel's request handler).
Each liar below is the released student version (every part a stub) whose first solution
cell installs a liar in the kernel's request handler; from then on every answer the
trusted side receives is

- ``echo``: a call (of a student function or of a harness operation) answers with its
  first argument;
- ``zeros``: the real answer (or, where the stub raises, the first argument) with every
  number set to zero: arrays, tensors, floats and integers;
- ``plausible``: the same, but every number moved by about 1%: close, and wrong.

``TAILORED`` holds attacks written for one homework's tests. The notebooks are graded in the
batch of their homework (tests/stages/homework_batches.py), beside the solution and the
classic mistakes.
"""

import json
from pathlib import Path

import nbformat

from autograder.parts import is_solution_cell

ROOT = Path(__file__).resolve().parents[2]

LIAR = """
import autograder.kernel.server as _liar_kernel
import numpy as _liar_np
import torch as _liar_torch

_LIAR_MODE = "{mode}"
_liar_genuine = _liar_kernel.KernelPeer.handle


def _liar_first(values):
    args = list(values.get("args") or [])
    for arg in args:
        if isinstance(arg, (_liar_np.ndarray, _liar_torch.Tensor)):
            return arg
    return args[0] if args else values.get("obj")


def _liar_bend(value):
    zero = _LIAR_MODE == "zeros"
    if isinstance(value, _liar_torch.Tensor):
        value = value.detach()
        if zero:
            return _liar_torch.zeros_like(value)
        return value * 1.01 + 0.01 if value.is_floating_point() else value + 1
    if isinstance(value, _liar_np.ndarray):
        if value.dtype == bool:
            return ~value
        return _liar_np.zeros_like(value) if zero else value * 1.01 + (0.01 if value.dtype.kind == "f" else 1)
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return type(value)(0) if zero else (value * 1.01 + 0.01 if isinstance(value, float) else value + 1)
    if isinstance(value, dict):
        return {{k: _liar_bend(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return type(value)(_liar_bend(v) for v in value)
    return value


def _liar_handle(self, op, header, values):
    if op in ("run_cell", "ping", "len", "iter", "next", "has", "get", "set", "del", "repr", "str", "dir"):
        return _liar_genuine(self, op, header, values)
    if _LIAR_MODE == "echo" and op in ("call", "course_op"):
        return _liar_first(values)
    try:
        answer = _liar_genuine(self, op, header, values)
    except NotImplementedError:
        answer = _liar_first(values)
    return _liar_bend(answer)


_liar_kernel.KernelPeer.handle = _liar_handle
"""
MODES = ("echo", "zeros", "plausible")


def liar_notebook(assignment: str, mode: str):
    """The released stub of ``assignment`` with the ``mode`` liar installed by its first solution cell."""
    (release,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    return liar_on(nbformat.read(release, as_version=4), mode)


def liar_on(source_nb, mode: str = "zeros"):
    """``source_nb`` (e.g. the solution) with the ``mode`` liar installed by its first solution cell."""
    nb = nbformat.from_dict(json.loads(json.dumps(source_nb)))
    first = next(c for c in nb.cells if is_solution_cell(c))
    first.source = LIAR.format(mode=mode) + "\n" + first.source
    return nb


# Tailored attacks: a student who read a homework's tests replaces a harness operation and the
# model's forward pass in their kernel so that whatever the kernel computes agrees with their
# (wrong) answer, or hides a banned call where a rule might not look. Each replaces solution cells
# of the released stub; every part must score 0.
FORGED_WATCH = """
import torch
from coursekit import harness

def _forged_watch(module, func, *args, **kwargs):
    result = func(*args, **kwargs)
    n = len(args[1])
    batch = args[2] if len(args) > 2 and isinstance(args[2], int) else 64
    forwards = [[False, False, min(batch, n - i)] for i in range(0, n, batch)]
    if func.__name__ == "train_lenet":
        forwards = [[True, True, 64]] * 20
    return {"result": result, "forwards": forwards, "backward": 100, "accumulated": 0, "cpu_seconds": 1.0}

harness.call_watching = _forged_watch
"""

FORGED_GRAPH = """
import torch
from coursekit import harness

_real_graph = harness.forward_backward_graph

def _forged_graph(*args, **kwargs):
    result = _real_graph(*args, **kwargs)
    result["nodes"] = [n for n in result["nodes"] if "onv" not in n and "Norm" not in n]
    return result

harness.forward_backward_graph = _forged_graph
"""

TAILORED = {
    # hw7: evaluate returns zeros, and every module's forward pass in the kernel returns zeros too, so
    # a reference computed by running the model in the kernel predicts class 0 everywhere as well.
    "hw7_evaluate_zeros": (
        "hw7_normalization",
        "evaluate",
        FORGED_WATCH
        + """
_real_call = torch.nn.Module.__call__

def _zeros_call(self, *args, **kwargs):
    out = _real_call(self, *args, **kwargs)
    return torch.zeros_like(out) if isinstance(out, torch.Tensor) else out

torch.nn.Module.__call__ = _zeros_call

def evaluate(model, images, batch_size=64):
    return torch.zeros(len(images), dtype=torch.long)
""",
    ),
    # hw5: train_lenet trains nothing; the model's forward looks each digit up in the offline digits
    # (test split included) and answers its label: a reference accuracy computed in the kernel is 100%.
    "hw5_label_oracle": (
        "hw5_lenet5",
        "train_lenet",
        FORGED_WATCH
        + """
import numpy as np
import torch.nn.functional as F
from coursekit.data import load_mnist

def train_lenet(model, x, y, seed=0):
    data = load_mnist(source="offline")
    raw = np.concatenate([data.train.images, data.val.images, data.test.images]).astype(np.float32)
    labels = torch.as_tensor(np.concatenate([data.train.labels, data.val.labels, data.test.labels]))
    known = F.pad(1.275 * torch.as_tensor(raw) - 0.1, (2, 2, 2, 2), value=-0.1).reshape(len(raw), -1)

    def oracle(inputs):
        flat = inputs.reshape(len(inputs), -1).float()
        nearest = torch.cdist(flat, known).argmin(dim=1)
        return 10.0 * F.one_hot(labels[nearest], 10).float()

    model.forward = oracle
    return model
""",
    ),
    # hw2: a rule ("loops only, no np.correlate") dodged by a helper in a cell where NumPy's
    # correlate is not banned (the Sobel layer's): the rule follows the call into that cell.
    "hw2_rule_through_another_cell": ("hw2_convolution", "corr1d", "def corr1d(x, w):\n    return _slide(x, w)\n"),
    # hw3 and hw7: a banned function captured in an earlier part's cell (the review's "reference
    # captured before the switch-off"), and the kernel's report of the autograd graph forged.
    "hw3_captured_conv2d": (
        "hw3_conv_layer",
        "unfold_conv2d",
        FORGED_GRAPH
        + """
class UnfoldConv2d(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size, self.stride, self.padding = k, stride, padding
        self.weight = torch.nn.Parameter(0.1 * torch.randn(out_channels, in_channels, *k))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))

    def forward(self, x):
        return _captured(x, self.weight, self.bias, self.stride, self.padding)
""",
    ),
    "hw7_captured_group_norm": (
        "hw7_normalization",
        "groupnorm_module",
        FORGED_GRAPH
        + """
class GroupNorm(torch.nn.Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = torch.nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = torch.nn.Parameter(torch.zeros(num_channels)) if affine else None

    def forward(self, x):
        return _captured(x, self.num_groups, self.weight, self.bias, self.eps)
""",
    ),
    # hw9: the backward pass of the dilated correlation computed by autograd, in a helper that lives in the cell
    # of the PyTorch part (where torch is allowed): the NumPy part's rule follows the call into that cell.
    "hw9_backward_by_autograd_elsewhere": (
        "hw9_sliding",
        "dilated_corr2d_backward",
        "def dilated_corr2d_backward(x, w, dilation, dy):\n    return _through_autograd(x, w, dilation, dy)\n",
    ),
    # hw9: a "fully convolutional" network that slides the original classifier crop by crop (right scores, no
    # conversion), and a forged report of its weights, Conv2d-shaped: the trusted side runs the reported weights
    # itself, in the layers the part asks for, and they do not give the kernel's scores.
    "hw9_crop_loop_with_forged_state": (
        "hw9_sliding",
        "fully_convolutional",
        """
import numpy as np
import torch
from coursekit import harness

_real_state_of = harness.state_of


class _CropByCrop(torch.nn.Module):
    def __init__(self, net, shapes):
        super().__init__()
        self.net, self.shapes = net, shapes

    def forward(self, x):
        stride = 1
        for layer in self.net:
            if isinstance(layer, torch.nn.MaxPool2d):
                stride *= layer.stride if isinstance(layer.stride, int) else layer.stride[0]
        for width in range(1, x.shape[-1] + 1):  # the window: the first width the classifier accepts
            try:
                self.net(x[:, :, :, :width])
                break
            except RuntimeError:
                continue
        crops = [self.net(x[:, :, :, v:v + width]) for v in range(0, x.shape[-1] - width + 1, stride)]
        return torch.stack(crops, dim=-1)[:, :, None, :]


def _forged_state(module):
    if isinstance(module, _CropByCrop):
        return {f"p{i}": np.random.default_rng(i).standard_normal(shape) for i, shape in enumerate(module.shapes)}
    return _real_state_of(module)


harness.state_of = _forged_state
harness.OPERATIONS["state_of"] = _forged_state  # what the kernel runs when the grader asks for state_of


def fully_convolutional(net, maps_shape):
    C, h, w = maps_shape
    shapes, channels, size = [], C, (h, w)
    flat = False
    for layer in net:
        if isinstance(layer, torch.nn.Flatten):
            flat = True
        elif isinstance(layer, torch.nn.Linear) and flat:
            shapes += [(layer.out_features, channels, *size), (layer.out_features,)]
            channels, size = layer.out_features, (1, 1)
        elif not flat:
            shapes += [tuple(p.shape) for p in layer.parameters()]
    return _CropByCrop(net, shapes)
""",
    ),
}
EXTRA_CELLS = {  # more cells of the same submission, by grade_id
    "hw2_rule_through_another_cell": {
        "make_sobel_conv": "import numpy as np\n\ndef _slide(x, w):\n    return np.correlate(x, w, 'valid')\n"
    },
    "hw3_captured_conv2d": {"im2col": "import torch\n_captured = torch.nn.functional.conv2d\n"},
    "hw7_captured_group_norm": {"groupnorm_forward": "import torch\n_captured = torch.nn.functional.group_norm\n"},
    "hw9_backward_by_autograd_elsewhere": {
        "fully_convolutional": "import numpy as np\nimport torch\n\n\n"
        "def _through_autograd(x, w, dilation, dy):\n"
        "    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)\n"
        "    wt = torch.tensor(np.asarray(w, dtype=np.float64), requires_grad=True)\n"
        "    out = torch.nn.functional.conv2d(xt[None, None], wt[None, None], dilation=dilation)[0, 0]\n"
        "    out.backward(torch.as_tensor(np.asarray(dy, dtype=np.float64)))\n"
        "    return xt.grad.numpy(), wt.grad.numpy()\n"
    },
}


def tailored_notebook(case: str):
    """The released stub of the case's homework with the case's cells written in."""
    assignment, cell, source = TAILORED[case]
    (release,) = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    nb = nbformat.read(release, as_version=4)
    for grade_id, code in {cell: source, **EXTRA_CELLS.get(case, {})}.items():
        target = next(c for c in nb.cells if is_solution_cell(c) and c.metadata["nbgrader"]["grade_id"] == grade_id)
        target.source = code
    return nb
