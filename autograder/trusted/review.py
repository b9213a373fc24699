"""Review flags: the solution cells' code read (never run) for the patterns of known cheats.

This is a flag for a person to look at, never a defence: the tests run in a trusted
process that student code never runs beside (:mod:`autograder.trusted.runner`), so a cheat
can only change the student's own answers. :func:`scan` reads the solution cells' code for
the patterns of known cheats: rebinding attributes of numpy, math, torch, builtins or the
course's test helpers, shadowing a helper's name, defining ``__eq__``, reaching into
``sys.modules`` or the garbage collector, writing to raw file descriptors (the kernel's
channel to the grader is a Unix socket). These are flagged for manual review in the grades
report; they cost no points by themselves.
"""

from __future__ import annotations

import ast

#: the names a module is usually imported under (numpy as np ...): rebinding an attribute of one is flagged
MODULE_NAMES = {"np", "numpy", "math", "torch", "builtins", "__builtins__", "checks", "coursekit", "testing"}
RAW_IO_CALLS = (
    "os.write",
    "os.writev",
    "os.fdopen",
    "os.dup2",
    "sys._getframe",
    "inspect.currentframe",
    "inspect.stack",
    "os.open",
)
#: the test helpers of coursekit.checks, and numpy's comparisons: a student function of that name is flagged
HELPER_NAMES = {"check_close", "check_scalar", "check_shape", "to_float64", "rel_error", "allclose", "isclose"}


# --------------------------------------------------------------------------- static scan


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def scan(code: str) -> list[str]:
    """Known-cheat patterns in one cell's code, as readable flags (empty: nothing seen)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []  # magics or broken code: running it will tell
    flags = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            name = _dotted(target)
            root = name.split(".")[0]
            if isinstance(target, ast.Attribute) and root in MODULE_NAMES:
                flags.append(f"rebinds {name}")
            elif isinstance(target, ast.Name) and target.id in HELPER_NAMES:
                flags.append(f"rebinds the test helper name {target.id}")
            elif isinstance(target, ast.Subscript) and _dotted(target.value) in ("sys.modules", "globals"):
                flags.append("writes into sys.modules or globals()")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in ("__eq__", "__ne__", "__bool__", "__array__", "__float__"):
                flags.append(f"defines {node.name} (an object that compares equal to anything?)")
            elif node.name in HELPER_NAMES:
                flags.append(f"defines a function named like the test helper {node.name}")
        if isinstance(node, ast.Call):
            func = _dotted(node.func)
            if func == "setattr" and node.args and _dotted(node.args[0]).split(".")[0] in MODULE_NAMES:
                flags.append(f"setattr on {_dotted(node.args[0])}")
            if func in ("gc.get_referrers", "gc.get_objects", "importlib.reload", "ctypes.pythonapi"):
                flags.append(f"calls {func}")
            if func in RAW_IO_CALLS:  # forged frames on the kernel's socket?
                flags.append(f"calls {func} (writes to raw file descriptors or reads the grader's frames)")
        if isinstance(node, ast.Attribute) and _dotted(node) in ("sys.modules",):
            flags.append("uses sys.modules")
    return sorted(set(flags))
