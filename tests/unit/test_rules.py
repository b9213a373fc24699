"""coursekit.rules: a part's rule ("no np.correlate", "no conv2d from torch") read off the
student's code, however the forbidden name was reached, in the grader and in a notebook."""

import linecache
import sys
import types

import pytest

from coursekit import rules

SETUP = "import numpy as np\nimport torch\nimport torch.nn.functional as F\n"
RULE = ["numpy.correlate", "numpy.convolve", "scipy", "torch"]


@pytest.fixture
def grading():
    """The grader's mode: the cells come from the submission (use_sources), keyed by grade_id."""

    def use(cells: dict[str, str]):
        rules.use_sources(cells, [SETUP])

    yield use
    rules.use_sources(None)


HONEST = (
    "def corr1d(x, w):\n    n, k = len(x), len(w)\n"
    "    return np.array([np.dot(w, x[i:i + k]) for i in range(n - k + 1)])\n"
)


@pytest.mark.parametrize(
    "body",
    [
        "    return np.correlate(x, w, 'valid')",
        "    from numpy import correlate as c\n    return c(x, w)",
        "    import scipy.signal\n    return scipy.signal.correlate(x, w, 'valid')",
        "    from scipy import signal\n    return signal.correlate(x, w)",
        "    return getattr(np, 'corr' + 'elate')(x, w)",
        "    return np.__dict__['correlate'](x, w)",
        "    return eval('np.correlate(x, w)')",
        "    return torch.conv1d(torch.tensor(x)[None, None], torch.tensor(w)[None, None])[0, 0].numpy()",
        "    return F.conv1d(x, w)",
        "    return __import__('numpy').correlate(x, w)",
    ],
)
def test_every_way_to_reach_a_forbidden_function_is_found(grading, body):
    grading({"corr1d": "def corr1d(x, w):\n" + body + "\n"})
    with pytest.raises(AssertionError, match="write the loops yourself") as err:
        rules.forbid("corr1d", RULE, "corr1d: write the loops yourself.")
    assert "cell 'corr1d'" in str(err.value)


def test_honest_code_passes_and_docstrings_and_messages_do_not_count(grading):
    grading(
        {
            "corr1d": 'def corr1d(x, w):\n    """Like np.correlate in valid mode, without torch."""\n'
            + HONEST.split("\n", 1)[1]
            + "    raise ValueError('see the correlate docs')\n"
        }
    )
    rules.forbid("corr1d", RULE, "no")
    with pytest.raises(AssertionError, match="the string 'see the correlate docs'"):
        rules.forbid("corr1d", RULE, "no", dynamic=False)  # getattr allowed: then strings count


def test_a_helper_in_another_cell_is_read_too_but_unrelated_cells_are_not(grading):
    grading(
        {
            "helper": "def _slide(x, w):\n    return np.correlate(x, w)\n",
            "corr1d": "def corr1d(x, w):\n    return _slide(x, w)\n",
            "make_sobel_conv": "def make_sobel_conv():\n    return torch.nn.Conv2d(1, 2, 3)\n",
        }
    )
    with pytest.raises(AssertionError, match="numpy.correlate .cell 'helper', line 2"):
        rules.forbid("corr1d", RULE, "no")
    rules.forbid("make_sobel_conv", ["torch.nn.functional.conv2d"], "no")  # torch is allowed there


def test_a_class_and_a_string_constant(grading):
    grading(
        {
            "unfold_conv": "class UnfoldConv2d(torch.nn.Module):\n    def forward(self, x):\n"
            "        op = getattr(F, 'conv2d')\n        return op(x, self.weight)\n"
        }
    )
    with pytest.raises(AssertionError, match="getattr"):
        rules.forbid("UnfoldConv2d", ["torch.nn.functional.conv2d", "torch.conv2d"], "no conv2d")
    with pytest.raises(AssertionError, match="the string 'conv2d'"):
        rules.forbid("UnfoldConv2d", ["torch.nn.functional.conv2d"], "no conv2d", dynamic=False)


def test_in_a_notebook_the_cells_ipython_ran_are_read(monkeypatch):
    """Without the grader, the code comes from the functions' own cells (linecache), and names
    resolve through the notebook's globals (np is numpy whatever the setup cell wrote)."""
    import numpy

    main = types.ModuleType("__main__")
    vars(main)["np"] = numpy
    for name, source in (
        ("<cell-1>", "def _slide(x, w):\n    return np.correlate(x, w)\n"),
        ("<cell-2>", "def corr1d(x, w):\n    return _slide(x, w)\n"),
        ("<cell-3>", HONEST.replace("corr1d", "good")),
    ):
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        exec(compile(source, name, "exec"), vars(main))  # noqa: S102 - the test's own notebook cells
    monkeypatch.setitem(sys.modules, "__main__", main)
    rules.use_sources(None)
    with pytest.raises(AssertionError, match="numpy.correlate"):
        rules.forbid("corr1d", RULE, "no")
    rules.forbid("good", RULE, "no")
    vars(main)["numerical_gradient"] = numpy.gradient  # bound by an import: its module tells
    with pytest.raises(AssertionError, match="imported rather than written"):
        rules.forbid("numerical_gradient", ["numpy.gradient"], "no")


def test_the_autograd_graph_names_a_forbidden_operation_whatever_it_was_called():
    import torch
    from torch import nn

    from coursekit.harness import forward_backward_graph

    class Sneaky(nn.Module):
        def __init__(self, how):
            super().__init__()
            self.weight, self.how = nn.Parameter(torch.randn(2, 1, 3, 3, dtype=torch.float64)), how

        def forward(self, x):
            if self.how == "convolution":
                return torch.convolution(x, self.weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
            if self.how == "aten":
                return torch.ops.aten.conv2d(x, self.weight)
            cols = nn.functional.unfold(x, 3)  # the honest way: unfold + matmul
            return (self.weight.view(2, -1) @ cols).view(x.shape[0], 2, x.shape[2] - 2, x.shape[3] - 2)

    x = torch.randn(2, 1, 5, 6, dtype=torch.float64).numpy()
    for how in ("convolution", "aten"):
        got = forward_backward_graph(Sneaky(how), x)
        with pytest.raises(AssertionError, match="Convolution"):
            rules.forbid_nodes(got["nodes"], ["Convolution", "Conv2D"], "no conv2d")
    honest = forward_backward_graph(Sneaky("unfold"), x)
    rules.forbid_nodes(honest["nodes"], ["Convolution", "Conv2D"], "no conv2d")
    assert honest["input_grads"][0].shape == (2, 1, 5, 6) and honest["param_grads"]["weight"].shape == (2, 1, 3, 3)
    assert forward_backward_graph(Sneaky("convolution"), x)["output"].shape == (2, 2, 3, 4)


def test_earlier_parts_are_checked_by_their_own_tests_but_helpers_are_followed_anywhere(grading):
    """conv1d may call corr1d, which its own test checks; a forbidden helper that a part calls, in
    any other cell (one where torch is allowed, or beside corr1d), counts against that part."""
    grading(
        {
            "corr1d": "def _slide(x, w):\n    return np.correlate(x, w)\ndef corr1d(x, w):\n    return _slide(x, w)\n",
            "conv1d": "def conv1d(x, w):\n    return corr1d(x, w[::-1])\n",
            "conv1d_via_helper": "def conv1d_b(x, w):\n    return _slide(x, w[::-1])\n",
            "conv2d": "def conv2d(x, w):\n    return _hidden(x, w)\n",
            "make_sobel_conv": "def _hidden(x, w):\n    return np.convolve(x, w)\ndef make_sobel_conv():\n    pass\n",
        }
    )
    rules.forbid("conv1d", RULE, "no", others=["corr1d"])  # corr1d: its own test's
    with pytest.raises(AssertionError, match="numpy.correlate"):
        rules.forbid("corr1d", RULE, "no", others=["corr1d"])  # ... which fails
    with pytest.raises(AssertionError, match=r"numpy.correlate \(cell 'corr1d'"):
        rules.forbid("conv1d_b", RULE, "no", others=["corr1d"])  # a helper beside corr1d: read
    with pytest.raises(AssertionError, match=r"numpy.convolve \(cell 'make_sobel_conv'"):
        rules.forbid("conv2d", RULE, "no", others=["corr1d", "conv1d"])


def test_a_part_answered_by_an_import_alone_is_read(grading):
    grading({"numerical_gradient": "from coursekit.chapters.gradcheck import numerical_gradient\n"})
    with pytest.raises(AssertionError, match="coursekit.chapters"):
        rules.forbid("numerical_gradient", ["coursekit.chapters"], "write it yourself")


def test_a_helper_in_another_cell_is_read_alone_not_its_whole_cell(grading):
    """A NumPy part may use a NumPy helper that sits in a cell where torch is allowed: only the
    helper's own definition is read there (the part's own cell is read whole)."""
    grading(
        {
            "corr1d": "def corr1d(x, w):\n    return _pad(x, 0)[: len(x) - len(w) + 1]\n",
            "make_sobel_conv": "import torch\n\ndef _pad(x, p):\n    return np.pad(x, p)\n\n"
            "def make_sobel_conv():\n    return torch.nn.Conv2d(1, 2, 3)\n",
        }
    )
    rules.forbid("corr1d", RULE, "no")


def test_in_a_notebook_a_helper_of_a_read_only_cell_is_read_alone(monkeypatch):
    import numpy

    main = types.ModuleType("__main__")
    vars(main)["np"] = numpy
    for name, source in (
        ("<setup>", "import torch\n\ndef as_pair(v):\n    return (v, v) if isinstance(v, int) else tuple(v)\n"),
        ("<part>", "def pool(x, size):\n    h, w = as_pair(size)\n    return x[::h, ::w]\n"),
    ):
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        exec(compile(source.replace("import torch\n", ""), name, "exec"), vars(main))  # noqa: S102 - the test's own cells
    monkeypatch.setitem(sys.modules, "__main__", main)
    rules.use_sources(None)
    rules.forbid("pool", RULE, "no")
