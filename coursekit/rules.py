"""Rules a homework part states ("loops only, no ``np.correlate``", "no ``conv2d`` from torch"),
checked on the student's source code, where the student's running code cannot reach.

A test cell calls :func:`forbid` with the names of the part's functions or classes; the
check reads the code of the cells that define them, and of the cells that bind the globals
those read in turn, however they bind them (a helper in another cell, an alias made inside an
``if``, by a walrus or by ``global x`` in a function, an import in another cell, the code of
``%time``/``%%capture`` magics: :mod:`coursekit.scopes`), and fails the part when that code

- uses a forbidden name, however it was imported (``np.correlate``, ``from numpy import
  correlate as c``, ``import scipy.signal``, ``torch.convolution`` ...), or under another path
  of its package (``np.ma.correlate``, ``np._core.multiarray.correlate``);
- looks names up dynamically (``getattr``, ``eval``, ``exec``, ``__import__``, ``importlib``,
  ``globals()``, ``vars``, ``__dict__``, ``sys.modules``, a function's ``__globals__``,
  ``pickle``, ``pkgutil.resolve_name``, IPython's ``run_cell``, a star import ...), which no static
  check could follow; where a part allows that (``dynamic=False``), a string that holds a
  forbidden name (``getattr(np, "correlate")``) counts as using it.

While grading, with ``dynamic`` on, the part also fails when the notebook can change its
globals behind the rule's back, in any cell (:data:`WRITERS`: ``exec``, ``globals()``,
``import __main__``, frames' ``f_globals``, ``sys.path``, ``%run`` ...), imports a module that is
not installed (one it wrote itself), or when the part's code reads a global that none of its
cells binds. Every part with a rule then fails: the rules cannot vouch for any of them.

Where the code comes from:

- while grading (:mod:`autograder.trusted.runner`), from the submission itself: the grader hands
  the solution cells and the setup cells to :func:`use_sources` in the trusted process;
  nothing the kernel says is involved;
- in the student's own notebook (JupyterLab's Validate, the solutions stage), from the
  cells IPython ran, found through the functions' code objects.

A rule on the autograd graph (no ``ConvolutionBackward`` node in what a module computes)
complements this for PyTorch parts: :func:`coursekit.harness.forward_backward_graph`.
"""

from __future__ import annotations

import ast
import functools
import linecache
import sys
from dataclasses import dataclass, field

from .rule_names import DYNAMIC, WRITERS
from .scopes import (
    QUIET_MAGICS,
    expand_magics,
    global_bindings,
    global_reads,
    imported_modules,
    is_installed,
    is_kernel_name,
    magic_name,
)


@dataclass
class Sources:
    """The code the rules read: the student's cells (key: a name for messages) and the setup cells
    (only their imports are used, to resolve names such as ``np``)."""

    student: dict[str, str] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)


_sources: Sources | None = None


def use_sources(student: dict[str, str] | None, setup: list[str] | None = None) -> None:
    """Called by the grader in the trusted process: from now on the rules read these cells
    (``None``: read the cells IPython ran, as in a student's own notebook)."""
    global _sources
    _sources = None if student is None else Sources(dict(student), list(setup or []))


# --------------------------------------------------------------------------- reading code


@functools.lru_cache(maxsize=256)
def _parse(source: str) -> ast.Module | None:
    """The syntax tree of a cell (IPython's magics turned into Python first), parents marked;
    cached: every part's test reads the same cells."""
    tree = _parse_once(source)
    return None if tree is None else _mark_parents(tree)


def _parse_once(source: str) -> ast.Module | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - plain Python without IPython
        pass
    try:
        return expand_magics(ast.parse(source))
    except SyntaxError:
        return None


def bound_names(tree: ast.Module, imports: bool = False) -> set[str]:
    """Names a cell binds at its top level with ``def``, ``class`` or an assignment (and with
    ``import`` when ``imports`` is true)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """``{local name: dotted module path}`` of every import in ``tree`` (at any depth)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
        return ["IPython", "shell"] + parts[::-1]  # get_ipython().user_ns, .run_cell ...
    return ["()"] + parts[::-1]  # an attribute of a value: f(x).__globals__, x[0].__class__ ...


#: modules whose attributes reach the interpreter's namespaces (a getattr on one is a writer)
_INTERPRETER_MODULES = {"sys", "builtins", "os", "__main__", "importlib", "inspect", "gc", "types", "ctypes", "IPython"}


def _unpickles(keyword: ast.keyword) -> bool:
    """``allow_pickle=...`` (NumPy) or ``weights_only=...`` (PyTorch) set to anything but the safe
    constant: loading then unpickles, which calls whatever the file names."""
    value = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
    return (keyword.arg == "allow_pickle" and value is not False) or (
        keyword.arg == "weights_only" and value is not True
    )


def _shell_use_is_quiet(attribute: ast.Attribute) -> bool:
    """``get_ipython().attribute(...)`` runs a magic that runs none of the notebook's code
    (``%matplotlib inline``, ``%pip install``, ``!ls``)."""
    call = getattr(attribute, "_parent", None)
    if not isinstance(attribute.value, ast.Call) or not isinstance(call, ast.Call) or call.func is not attribute:
        return False
    return attribute.attr in ("system", "getoutput") or magic_name(call) in QUIET_MAGICS


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand alone as statements (docstrings): no code reads them."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def references(
    tree: ast.AST, aliases: dict[str, str], elsewhere: dict[str, set[str]] | None = None
) -> list[tuple[str, int]]:
    """Every dotted name ``tree`` reads, with import aliases resolved (``np.correlate`` ->
    ``numpy.correlate``), its imports, and every string constant but docstrings (quoted); with
    line numbers. A star import reads as ``import *``; an attribute of a value (``f(x).attr``)
    as ``().attr``; IPython's shell (``get_ipython().run_cell``) as ``IPython.shell.run_cell``,
    unless it runs a quiet magic. ``elsewhere`` gives more modules a name may stand for (imported
    under that name in another cell): each is read as well."""
    aliases = {**aliases, **import_aliases(tree)}
    elsewhere = elsewhere or {}
    docstrings = _docstrings(tree)
    found: list[tuple[str, int]] = []

    def read(chain: list[str], line: int) -> None:
        for root in {aliases.get(chain[0], chain[0])} | elsewhere.get(chain[0], set()):
            found.append((".".join([root, *chain[1:]]), line))

    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "_parent", None), ast.Attribute):
            chain = _dotted(node)
            if chain and not (chain[0] == "IPython" and _shell_use_is_quiet(node)):
                read(chain, line)
        elif isinstance(node, ast.Name):
            call = getattr(node, "_parent", None)
            if node.id == "get_ipython":  # get_ipython().name is read with that attribute (above)
                if not isinstance(getattr(call, "_parent", None), ast.Attribute):
                    found.append(("IPython.get_ipython", line))  # the shell kept for later: what for?
                continue
            read([node.id], line)
        elif isinstance(node, ast.Import):
            found += [(a.name, line) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(f"{node.module}.{a.name}" if a.name != "*" else "import *", line) for a in node.names]
        elif isinstance(node, ast.Call) and _dotted(node.func) == ["getattr"] and node.args:
            first = _dotted(node.args[0])
            if first and aliases.get(first[0], "").split(".")[0] in _INTERPRETER_MODULES:
                found.append(("getattr(module)", line))  # getattr(sys, "mod" + "ules"): the interpreter's own state
        elif isinstance(node, ast.keyword) and _unpickles(node):
            found.append(("pickle", getattr(getattr(node, "_parent", None), "lineno", 0)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.append(("'" + node.value + "'", line))
    return found


def _mark_parents(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child._parent = node  # type: ignore[attr-defined]
    return tree


# --------------------------------------------------------------------------- where the code is


@dataclass
class _Piece:
    """Code a rule reads: a part's whole cell, or the statement of another cell that defines a
    name the part's code uses; ``aliases`` resolve its names (its cell's imports, the setup's)."""

    label: str
    node: ast.AST
    aliases: dict[str, str]


def definitions(tree: ast.Module, name: str) -> list[ast.stmt]:
    """The top-level statements of ``tree`` that bind the global ``name`` (``def``, ``class``,
    assignment, import, also inside an ``if``/``try``/``for``/``with``, or by ``global`` in a function)."""
    return [node for node in tree.body if name in global_bindings(node)]


def _follow(pieces: list[_Piece], lookup) -> list[_Piece]:
    """``pieces``, then the definitions of every name they use that ``lookup(name)`` finds (a list of
    pieces, or None), in turn."""
    seen: set[str] = set()
    todo = [n for piece in pieces for n in global_reads(piece.node)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for piece in lookup(name) or []:
            pieces.append(piece)
            todo += global_reads(piece.node)
    return pieces


@dataclass
class _Submission:
    """The submission's cells as the rules read them (see :func:`_submission`)."""

    trees: dict[str, ast.Module]  # the student's cells, parsed, by key
    setup_aliases: dict[str, str]  # the setup cells' imports
    setup_names: set[str]  # every global the setup cells bind
    binders: dict[str, list[str]]  # global name -> the student's cells that bind it
    imported: dict[str, set[str]]  # name -> the modules some student cell imports under that name

    def aliases(self, key: str) -> dict[str, str]:
        return {**self.setup_aliases, **import_aliases(self.trees[key])}


def _submission() -> _Submission:
    assert _sources is not None
    trees = {key: t for key, src in _sources.student.items() if (t := _parse(src)) is not None}
    setup_trees = [t for src in _sources.setup if (t := _parse(src)) is not None]
    binders: dict[str, list[str]] = {}
    imported: dict[str, set[str]] = {}
    for key, tree in trees.items():
        for name in global_bindings(tree):
            binders.setdefault(name, []).append(key)
        for name, module in {**import_aliases(tree), **_star_imports(tree)}.items():
            imported.setdefault(name, set()).add(module)
    setup_aliases = {k: v for t in setup_trees for k, v in {**import_aliases(t), **_star_imports(t)}.items()}
    return _Submission(
        trees,
        setup_aliases,
        {n for t in setup_trees for n in global_bindings(t)} | set(setup_aliases),
        binders,
        imported,
    )


def _star_imports(tree: ast.AST) -> dict[str, str]:
    """``{name: "module.name"}`` for the public names of each ``from module import *`` in ``tree`` whose
    module the grader has loaded itself (numpy, math, torch ...; never imported here for a student)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            module = sys.modules.get(node.module)
            if module is not None and any(a.name == "*" for a in node.names):
                public = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
                found.update({str(n): f"{node.module}.{n}" for n in public})
    return found


def _grading_pieces(sub: _Submission, names: list[str], others: list[str]) -> list[_Piece]:
    """From the submission: the cells that bind ``names`` (an import counts), whole; then the
    definitions, in any other cell, of what they use, in turn, except ``others`` (other parts'
    functions, which their own tests check; a helper defined beside one of them is still read)."""
    starts = list(dict.fromkeys(key for name in names for key in sub.binders.get(name, [])))
    skipped = set(names) | set(others)

    def lookup(name: str):
        if name in skipped:
            return None
        return [
            _Piece(f"cell '{key}'", node, sub.aliases(key))
            for key in sub.binders.get(name, [])
            if key not in starts  # a start cell is read whole already
            for node in definitions(sub.trees[key], name)
        ]

    return _follow([_Piece(f"cell '{key}'", sub.trees[key], sub.aliases(key)) for key in starts], lookup)


def _unreadable(sub: _Submission, pieces: list[_Piece]) -> list[str]:
    """What keeps the rules from knowing what the code runs: a cell that can rebind globals at run
    time (``exec``, ``globals()``, ``%run`` ...) or imports a module that is not installed, wherever
    it is; a global that the code reads and no cell binds (made by such means)."""
    found = []
    for key, tree in sub.trees.items():
        for ref, line in references(tree, sub.aliases(key)):
            if not ref.startswith("'") and any(_matches(ref, w) for w in WRITERS):
                found.append(f"{ref} (cell '{key}', line {line}), which can rebind names while the notebook runs")
        for module, line in imported_modules(tree):
            if not is_installed(module):
                found.append(
                    f"import {module} (cell '{key}', line {line}), a module that is not installed here "
                    "(one the notebook wrote itself?)"
                )
    known = sub.setup_names | set(sub.binders) | set(sub.imported)
    for piece in pieces:
        for name in sorted(global_reads(piece.node) - known):
            if not is_kernel_name(name):
                found.append(f"the name {name} ({piece.label}), which none of your cells defines")
    return found


def _code_of(obj):
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code
    if isinstance(obj, type):
        for value in vars(obj).values():
            value = getattr(value, "__func__", value)
            if getattr(value, "__code__", None) is not None:
                return value.__code__
    return None


def _local_pieces(names: list[str], others: list[str]) -> list[_Piece]:
    """The same in the student's own kernel: the cells that IPython ran, found through the functions'
    code objects, names resolved through the notebook's globals."""
    main = vars(sys.modules["__main__"])
    aliases = _global_aliases()

    def cell_of(name: str) -> ast.Module | None:
        code = _code_of(main.get(name))
        if code is None or getattr(main.get(name), "__module__", None) != "__main__":
            return None
        return _parse("".join(linecache.getlines(code.co_filename)))

    starts = {id(t): t for t in map(cell_of, names) if t is not None}
    skip = set(names) | set(others)

    def lookup(name: str):
        tree = None if name in skip else cell_of(name)
        if tree is None or id(tree) in starts:
            return None
        return [_Piece("your cell", node, aliases) for node in definitions(tree, name)]

    return _follow([_Piece("your cell", t, aliases) for t in starts.values()], lookup)


def _global_aliases() -> dict[str, str]:
    """In a notebook: what each global name is (a module's name, or a function's full name)."""
    found = {}
    for key, value in vars(sys.modules["__main__"]).items():
        if type(value).__name__ == "module":
            found[key] = value.__name__
        elif callable(value) and getattr(value, "__module__", "__main__") not in (None, "__main__"):
            found[key] = f"{value.__module__}.{getattr(value, '__name__', key)}"
    return found


# --------------------------------------------------------------------------- the rule


def _matches(name: str, forbidden: str) -> bool:
    if name.startswith("'"):  # a string constant: the forbidden name's last part anywhere in it
        leaf = forbidden.rsplit(".", 1)[-1]
        return len(leaf) >= 4 and leaf in name
    parts = name.split(".")
    if forbidden.startswith("__"):  # a dunder attribute, on whatever object
        return forbidden in parts
    if forbidden.startswith("."):  # an attribute of that name, on whatever object (.f_globals)
        return forbidden[1:] in parts
    if name == forbidden or name.startswith(forbidden + "."):
        return True
    # the same function under another path of its package: np.ma.correlate, np._core.numeric.correlate,
    # np.lib._stride_tricks_impl.sliding_window_view for numpy.correlate, numpy.lib.stride_tricks
    root, _, leaf = forbidden.partition(".")
    leaf = leaf.rsplit(".", 1)[-1]
    return bool(leaf) and parts[0] == root and any(_same_leaf(part, leaf) for part in parts[1:])


def _same_leaf(part: str, leaf: str) -> bool:
    """``part`` names ``leaf`` or its private implementation (``_stride_tricks_impl`` for ``stride_tricks``)."""
    bare = part.lstrip("_")
    return bare == leaf or bare.startswith(leaf + "_")


def violations(names: list[str], forbidden: list[str], dynamic: bool = True, others=()) -> list[str]:
    """What the code behind ``names`` does against the rule (readable, one entry per finding);
    the cells of ``others`` are not followed (see :func:`forbid`)."""
    others = [others] if isinstance(others, str) else list(others)
    grading = _sources is not None
    sub = _submission() if grading else None
    pieces = _grading_pieces(sub, list(names), others) if sub else _local_pieces(list(names), others)
    bad = list(forbidden) + (list(DYNAMIC) if dynamic else [])
    found = []
    if not grading:  # in a notebook: a part's name bound by an import shows in the globals only
        aliases = _global_aliases()
        for name in names:
            target = aliases.get(name, "")
            if any(_matches(target, f) for f in forbidden):
                found.append(f"{name} is {target}, imported rather than written")
    for piece in pieces:
        elsewhere = {n: sub.imported[n] for n in global_reads(piece.node) if n in sub.imported} if sub else {}
        for ref, line in references(piece.node, piece.aliases, elsewhere):
            # strings matter where dynamic look-ups are allowed (getattr(np, "correlate")); a message
            # may well say "correlate" or "evaluate"
            if ref.startswith("'") and dynamic:
                continue
            hit = next((f for f in (forbidden if ref.startswith("'") else bad) if _matches(ref, f)), None)
            if hit is not None:
                shown = ref if not ref.startswith("'") else f"the string {ref}'"
                found.append(f"{shown} ({piece.label}, line {line})")
    if sub and dynamic:
        found += _unreadable(sub, pieces)
    return list(dict.fromkeys(found))


def forbid(names, forbidden, message: str, dynamic: bool = True, others=()) -> None:
    """Fail (AssertionError with ``message``) when the code of ``names`` (a function or class
    name, or a list of them) or of what it calls uses any of ``forbidden`` (dotted names:
    ``"numpy.correlate"``, ``"scipy"``, ``"torch.nn.functional.conv2d"``), or looks names up
    dynamically (unless ``dynamic`` is false).

    ``others`` names the functions of earlier parts that this part may call: they are not
    followed, since each is checked by its own part's test (so a mistake there costs that part
    only). Every other name the code reaches is read where it is defined, in whatever cell (a
    helper defined beside an earlier part included)."""
    names = [names] if isinstance(names, str) else list(names)
    found = violations(names, list(forbidden), dynamic, others)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise AssertionError(f"{message} Found: {'; '.join(found[:3])}{more}.")


def forbid_nodes(nodes, forbidden, message: str) -> None:
    """Fail with ``message`` when an autograd node name in ``nodes`` (from
    :func:`coursekit.harness.forward_backward_graph`) contains one of ``forbidden`` (e.g.
    ``"Convolution"``, ``"GroupNorm"``): the output was computed by a forbidden operation,
    whatever name it was called by (``F.conv2d``, ``torch.convolution``, ``torch.ops.aten`` ...)."""
    hits = sorted({str(n) for n in (nodes or []) if any(f in str(n) for f in forbidden)})
    if hits:
        raise AssertionError(f"{message} (autograd recorded {', '.join(hits)})")
