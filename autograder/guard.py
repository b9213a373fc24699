"""Defences against the known cheats, used when a submission is assembled.

Two layers:

1. **At run time** (:func:`guard_cells`): before any student code, a cell captures
   the comparison functions that tests rely on (``numpy.allclose``,
   ``math.isclose``, the helpers of :mod:`coursekit.checks`, ...). Every test cell
   then starts by restoring them, in the module and in the notebook's globals, and
   records which ones the student's code had replaced. The names used are drawn
   at random for each grading run, so a submission cannot know them in advance.
   A cheat is thus neutralised (the tests run with the real functions) and
   reported.
2. **Statically** (:func:`scan`): the solution cells' code is read (not run) for
   the patterns of known cheats: rebinding attributes of numpy, math, torch,
   builtins or the course's test helpers, shadowing a helper's name, defining
   ``__eq__``, reaching into ``sys.modules`` or the garbage collector, writing to raw
   file descriptors (where the kernel reports to the grader). These are
   flagged for manual review in the grades report; they cost no points by
   themselves.
"""
from __future__ import annotations

import ast
import secrets

#: (module, attribute) pairs whose identity tests depend on.
PROTECTED = (
    ("numpy", "allclose"), ("numpy", "isclose"), ("numpy", "array_equal"), ("numpy", "asarray"),
    ("numpy", "array"), ("numpy", "abs"), ("numpy", "max"), ("numpy", "all"), ("numpy", "isfinite"),
    ("numpy.testing", "assert_allclose"), ("numpy.testing", "assert_array_equal"),
    ("math", "isclose"), ("torch", "allclose"), ("torch", "equal"),
    ("builtins", "abs"), ("builtins", "max"), ("builtins", "min"), ("builtins", "sum"),
    ("builtins", "isinstance"), ("builtins", "len"), ("builtins", "float"), ("builtins", "print"),
    ("coursekit.checks", "check_close"), ("coursekit.checks", "check_scalar"),
    ("coursekit.checks", "check_shape"), ("coursekit.checks", "to_float64"),
    ("coursekit.checks", "rel_error"),
)

MODULE_ALIASES = {"np": "numpy", "numpy": "numpy", "math": "math", "torch": "torch",
                  "builtins": "builtins", "__builtins__": "builtins", "checks": "coursekit.checks",
                  "coursekit": "coursekit", "testing": "numpy.testing"}
RAW_IO_CALLS = ("os.write", "os.writev", "os.fdopen", "os.dup2", "sys._getframe", "inspect.currentframe",
                "inspect.stack", "os.open")
HELPER_NAMES = {attr for mod, attr in PROTECTED if mod == "coursekit.checks"} | {"allclose", "isclose"}


def guard_cells() -> tuple[str, str, str]:
    """Source of (the capture cell, the line that starts every test cell, the random tag)."""
    tag = "_ag_" + secrets.token_hex(6)
    capture = f'''\
def {tag}_make():
    import builtins as _b, importlib as _il, sys as _sys
    _saved = {{}}
    for _mod, _attr in {PROTECTED!r}:
        try:
            _m = _il.import_module(_mod)
            _saved[(_mod, _attr)] = (_m, getattr(_m, _attr))
        except Exception:
            pass
    _tampered = []
    _allowed = {{}}
    def _allow(_globals, _names):
        for _name in _names:
            if _name in _globals:
                _allowed[_name] = _globals[_name]
    def _restore(_globals):
        for (_mod, _attr), (_m, _orig) in _saved.items():
            _cur = _sys.modules.get(_mod, _m)
            if getattr(_cur, _attr, None) is not _orig or getattr(_m, _attr, None) is not _orig:
                _tampered.append(_mod + "." + _attr)
                setattr(_m, _attr, _orig)
                if _cur is not _m:
                    setattr(_cur, _attr, _orig)
            _expected = _allowed.get(_attr, _orig)
            if _mod == "coursekit.checks" and _attr in _globals and _globals[_attr] is not _expected:
                _tampered.append(_attr)
                _globals[_attr] = _expected
    return _restore, _tampered, _allow
{tag}_restore, {tag}_tampered, {tag}_allow = {tag}_make()
del {tag}_make
'''
    prologue = f"{tag}_restore(globals())\n"
    return capture, prologue, tag


def setup_epilogue(code: str, tag: str) -> str:
    """Line to append to a read-only setup cell that binds a test helper's name itself.

    A setup cell may import, say, ``rel_error`` from another coursekit module: that
    binding is the course's own, so the guard restores it (not coursekit.checks') and
    does not report it. Returns '' when the cell binds no helper name.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
    names = sorted(bound & {attr for mod, attr in PROTECTED if mod == "coursekit.checks"})
    return f"\n{tag}_allow(globals(), {tuple(names)!r})\n" if names else ""


def tampered_expression(tag: str) -> str:
    """Python expression (evaluated in the kernel at the end) listing what was restored."""
    return f"sorted(set({tag}_tampered))"


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
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            name = _dotted(target)
            root = name.split(".")[0]
            if isinstance(target, ast.Attribute) and root in MODULE_ALIASES:
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
            if func == "setattr" and node.args and _dotted(node.args[0]).split(".")[0] in MODULE_ALIASES:
                flags.append(f"setattr on {_dotted(node.args[0])}")
            if func in ("gc.get_referrers", "gc.get_objects", "importlib.reload", "ctypes.pythonapi"):
                flags.append(f"calls {func}")
            if func in RAW_IO_CALLS:  # the kernel reports to the grader on a pipe: forged reports?
                flags.append(f"calls {func} (writes to raw file descriptors or reads the grader's frames)")
        if isinstance(node, ast.Attribute) and _dotted(node) in ("sys.modules",):
            flags.append("uses sys.modules")
        if isinstance(node, ast.Name) and node.id.startswith("_ag_"):
            flags.append("touches the grader's guard")
    return sorted(set(flags))
