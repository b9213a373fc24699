"""coursekit.rules: a part's rule ("no np.correlate", "no conv2d from torch") read off the
student's code, however the forbidden name was reached, in the grader and in a notebook."""

import linecache
import re
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


# --------------------------------------------------------------------------- attacks on the rule, by class
# Each is a submission's cells (grade_id -> code) whose corr1d reaches np.correlate (or could): the rule
# must fail corr1d, naming what it found. The honest cases after them must pass.

BYPASSES = {
    # the same function under another path of its package
    "np.ma": ({"corr1d": "def corr1d(x, w):\n    return np.ma.correlate(x, w)\n"}, "numpy.ma.correlate"),
    "np._core": ({"corr1d": "def corr1d(x, w):\n    return np._core.multiarray.correlate(x, w, 0)\n"}, "correlate"),
    "np.core alias": (
        {"corr1d": "import numpy.core as nc\ndef corr1d(x, w):\n    return nc.correlate(x, w)\n"},
        "numpy.core.correlate",
    ),
    # a name imported or bound in another cell, in a way the top level does not show
    "import in another cell": (
        {"conv2d": "import numpy as n2\n", "corr1d": "def corr1d(x, w):\n    return n2.correlate(x, w)\n"},
        "numpy.correlate .cell 'corr1d'",
    ),
    "from-import in another cell": (
        {"conv2d": "from numpy import correlate as cc\n", "corr1d": "def corr1d(x, w):\n    return cc(x, w)\n"},
        "numpy.correlate",
    ),
    "inside an if": (
        {"conv2d": "if True:\n    _c = np.correlate\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"},
        "numpy.correlate .cell 'conv2d', line 2",
    ),
    "walrus": ({"conv2d": "(_c := np.correlate)\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"}, "correlate"),
    "for target": (
        {"conv2d": "for _c in [np.correlate]:\n    pass\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"},
        "correlate",
    ),
    "global in a function": (
        {
            "conv2d": "def _setup():\n    global _c\n    _c = np.correlate\n_setup()\n",
            "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n",
        },
        "numpy.correlate .cell 'conv2d', line 3",
    ),
    "a harmless definition, then another": (
        {
            "corr2d": "def _c(x, w):\n    return x\n",
            "conv2d": "try:\n    _c = np.correlate\nexcept Exception:\n    pass\n",
            "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n",
        },
        "numpy.correlate .cell 'conv2d'",
    ),
    # a value changed in place in another cell
    "an attribute of the function": (
        {"conv2d": "corr1d.impl = np.correlate\n", "corr1d": "def corr1d(x, w):\n    return corr1d.impl(x, w)\n"},
        "numpy.correlate .cell 'conv2d'",
    ),
    "an alias on numpy": (
        {"conv2d": "np.my_corr = np.correlate\n", "corr1d": "def corr1d(x, w):\n    return np.my_corr(x, w)\n"},
        "numpy.correlate .cell 'conv2d'",
    ),
    "a table filled elsewhere": (
        {
            "conv2d": "_table.update(c=np.correlate)\n",
            "corr1d": "_table = {}\ndef corr1d(x, w):\n    return _table['c'](x, w)\n",
        },
        "numpy.correlate .cell 'conv2d'",
    ),
    "setattr on the function": (
        {
            "conv2d": "setattr(corr1d, 'impl', np.correlate)\n",
            "corr1d": "def corr1d(x, w):\n    return corr1d.impl(x, w)\n",
        },
        "numpy.correlate .cell 'conv2d'",
    ),
    # IPython magics run code in the namespace
    "%%time": ({"corr1d": "%%time\ndef corr1d(x, w):\n    return np.correlate(x, w)\n"}, "numpy.correlate"),
    "%%capture": ({"corr1d": "%%capture out\ndef corr1d(x, w):\n    return np.correlate(x, w)\n"}, "correlate"),
    "%time in another cell": (
        {"conv2d": "%time _c = np.correlate\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"},
        "numpy.correlate",
    ),
    "%run": (
        {"conv2d": "%run -i helper.py\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"},
        "IPython.shell.run_line_magic",
    ),
    "run_cell": (
        {
            "conv2d": "get_ipython().run_cell('_c = np.correlate')\n",
            "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n",
        },
        "which none of your cells defines",
    ),
    "user_ns": (
        {
            "conv2d": "_ip = get_ipython()\n_ip.user_ns['_c'] = np.correlate\n",
            "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n",
        },
        "IPython",
    ),
    # code that rebinds a name at run time, anywhere in the notebook
    "exec elsewhere": (
        {"conv2d": "exec('_c = np.' + 'correlate')\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"},
        "exec .cell 'conv2d', line 1., which can rebind names",
    ),
    "exec over a harmless definition": (
        {
            "conv2d": "_c = len\nexec('_c = np.' + 'correlate')\n",
            "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n",
        },
        "exec",
    ),
    "import __main__": (
        {
            "conv2d": "import __main__\n__main__._c = np.correlate\n",
            "corr1d": "_c = None\ndef corr1d(x, w):\n    return _c(x, w)\n",
        },
        "__main__",
    ),
    "frame globals": (
        {
            "conv2d": "try:\n    1 / 0\nexcept Exception as e:\n"
            "    e.__traceback__.tb_frame.f_globals['_c'] = np.correlate\n",
            "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n",
        },
        "f_globals",
    ),
    "builtins": (
        {"conv2d": "import builtins as b\nb._c = np.correlate\n", "corr1d": "def corr1d(x, w):\n    return _c(x, w)\n"},
        "builtins",
    ),
    # a module the notebook writes, then imports
    "a written module": (
        {
            "conv2d": "open('/tmp/h.py', 'w').write('from numpy import correlate as fast')\n",
            "corr1d": "import sys\nsys.path.insert(0, '/tmp')\nfrom h import fast\n"
            "def corr1d(x, w):\n    return fast(x, w)\n",
        },
        "import h .cell 'corr1d', line 3., a module that is not installed",
    ),
    "unpickled function": (
        {
            "conv2d": "np.save('/tmp/f.npy', np.array([np.correlate], dtype=object))\n",
            "corr1d": "def corr1d(x, w):\n    return np.load('/tmp/f.npy', allow_pickle=True)[0](x, w)\n",
        },
        "pickle",
    ),
    # a module's namespace reached through an object
    "__globals__": (
        {"corr1d": "def corr1d(x, w):\n    return np.isclose.__globals__['correlate'](x, w)\n"},
        "__globals__",
    ),
    "__array_namespace__": (
        {"corr1d": "def corr1d(x, w):\n    return np.asarray(x).__array_namespace__().correlate(x, w)\n"},
        "__array_namespace__",
    ),
    "pkgutil": (
        {"corr1d": "import pkgutil\ndef corr1d(x, w):\n    return pkgutil.resolve_name('numpy:correlate')(x, w)\n"},
        "pkgutil",
    ),
    "pydoc": (
        {"corr1d": "import pydoc\ndef corr1d(x, w):\n    return pydoc.locate('numpy.correlate')(x, w)\n"},
        "pydoc",
    ),
    "os.sys.modules": (
        {"corr1d": "import os\ndef corr1d(x, w):\n    return os.sys.modules['numpy'].correlate(x, w)\n"},
        "os.sys",
    ),
}


@pytest.mark.parametrize("cells, found", BYPASSES.values(), ids=BYPASSES.keys())
def test_a_rule_is_not_bypassed(grading, cells, found):
    grading(cells)
    with pytest.raises(AssertionError, match="write the loops yourself") as err:
        rules.forbid("corr1d", RULE, "corr1d: write the loops yourself.")
    assert re.search(found, str(err.value)), str(err.value)


HONEST_NOTEBOOKS = {
    "magics that run no code": {
        "corr1d": "%matplotlib inline\n%config InlineBackend.figure_format = 'svg'\n!ls\n" + HONEST,
    },
    "a timed call": {
        "corr1d": HONEST + "%time corr1d(np.ones(5), np.ones(2))\n%timeit -n 3 corr1d(np.ones(5), np.ones(2))\n"
    },
    "a timed cell": {"corr1d": "%%time\n" + HONEST},
    "a released stub": {
        "corr1d": "def corr1d(x, w):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n    return y\n",
    },
    "a helper in an if, a loop variable named like a global": {
        "conv2d": "import torch\nfor i in range(3):\n    pass\n"
        "if True:\n    def _dot(a, b):\n        return float(np.sum(a * b))\n",
        "corr1d": "def corr1d(x, w):\n    k = len(w)\n"
        "    return np.array([_dot(w, x[i:i + k]) for i in range(len(x) - k + 1)])\n",
    },
    "a local named like another cell's import": {
        "make_sobel_conv": "from torch import nn as c\n",
        "corr1d": "def corr1d(x, w):\n    c = np.zeros(len(x) - len(w) + 1)\n    for i in range(len(c)):\n"
        "        c[i] = np.dot(w, x[i:i + len(w)])\n    return c\n",
    },
    "installed modules, and arrays loaded safely": {
        "corr1d": "import math\nfrom tqdm import tqdm\n"
        + HONEST
        + "_saved = np.load('/dev/null', allow_pickle=False) if False else None\n",
    },
}


@pytest.mark.parametrize("cells", HONEST_NOTEBOOKS.values(), ids=HONEST_NOTEBOOKS.keys())
def test_honest_notebooks_pass_the_rule(grading, cells):
    grading(cells)
    rules.forbid("corr1d", RULE, "corr1d: write the loops yourself.")


def test_a_written_module_is_not_taken_for_an_installed_one(tmp_path, monkeypatch):
    """The grader's own working folder (a course checkout, with tests/ and tools/) is not where
    installed modules are looked for."""
    from coursekit.scopes import is_installed

    (tmp_path / "helper_written_by_a_notebook.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    is_installed.cache_clear()
    monkeypatch.setattr(sys, "path", [""] + [p for p in sys.path if p != str(tmp_path)])
    assert not is_installed("helper_written_by_a_notebook")
    assert is_installed("numpy") and is_installed("json") and is_installed("coursekit")
    is_installed.cache_clear()


def test_getattr_on_the_interpreters_modules_is_a_writer_anywhere_but_on_torch_it_is_not(grading):
    """getattr(sys, "mod" + "ules") reaches the namespaces; getattr(nn, "ReLU") in a PyTorch part is honest."""
    grading(
        {
            "make_sobel_conv": "import sys\n_m = getattr(sys, 'mod' + 'ules')\n",
            "corr1d": HONEST,
        }
    )
    with pytest.raises(AssertionError, match=r"getattr\(module\) \(cell 'make_sobel_conv'"):
        rules.forbid("corr1d", RULE, "no")
    grading({"make_sobel_conv": "import gc\ngc.collect()\nact = getattr(torch.nn, 'ReLU')()\n", "corr1d": HONEST})
    rules.forbid("corr1d", RULE, "no")


def test_a_star_import_elsewhere_binds_its_module_names(grading):
    """``from math import *`` in one cell makes sqrt a name of the notebook (no unknown name); ``from numpy
    import *`` makes correlate numpy.correlate."""
    grading({"conv2d": "from math import *\n", "corr1d": HONEST.replace("np.dot(w", "sqrt(1.0) * np.dot(w")})
    rules.forbid("corr1d", RULE, "no")
    grading({"conv2d": "from numpy import *\n", "corr1d": "def corr1d(x, w):\n    return correlate(x, w)\n"})
    with pytest.raises(AssertionError, match=r"numpy\.correlate \(cell 'corr1d'"):
        rules.forbid("corr1d", RULE, "no")
