"""What a notebook cell's code binds and reads in the notebook's global namespace, for
:mod:`coursekit.rules`.

A rule follows the names a part's code reads to the cells that bind them. Python binds a global
in more ways than a top-level ``def`` or ``x = ...``: inside ``if``/``try``/``for``/``with`` at
the top level, with a walrus, with ``global x`` in a function, with an import; and IPython runs
the code of some magics (``%time x = f()``, ``%%capture``) in the notebook's namespace. This
module answers, with :mod:`symtable` (Python's own scoping):

- :func:`expand_magics`: a cell's syntax tree with the code of those magics read as the cell's own
  statements;
- :func:`global_bindings`: the global names a piece of code binds;
- :func:`global_reads`: the global names it reads (its functions' free names included, their
  locals and parameters not).
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import importlib.machinery
import os
import re
import symtable
import sys

#: IPython magics whose argument is Python code that runs in the notebook's namespace
CODE_MAGICS = frozenset({"time", "timeit", "prun", "capture"})
#: magics that run none of the notebook's code (plotting, settings, installs)
QUIET_MAGICS = frozenset({"matplotlib", "config", "pip", "conda", "who", "whos", "who_ls", "precision", "xmode"})
#: names that every IPython kernel defines before the first cell runs
KERNEL_NAMES = frozenset(dir(builtins)) | {
    "get_ipython",
    "display",
    "In",
    "Out",
    "exit",
    "quit",
    "_",
    "__",
    "___",
    "_i",
    "_ii",
    "_iii",
    "_ih",
    "_oh",
    "_dh",
    "__name__",
    "__doc__",
    "__builtins__",
    "__builtin__",
    "__IPYTHON__",
}
_HISTORY = re.compile(r"_(i?\d+)$")  # _i3, _3: IPython's history of inputs and outputs


def is_kernel_name(name: str) -> bool:
    return name in KERNEL_NAMES or bool(_HISTORY.match(name))


# --------------------------------------------------------------------------- magics


def _shell_call(node: ast.AST) -> tuple[str, list[ast.expr]] | None:
    """``("run_line_magic", args)`` for ``get_ipython().run_line_magic(...)`` and the like."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        return node.func.attr, node.args
    return None


def magic_name(node: ast.AST) -> str | None:
    """The magic a ``get_ipython().run_line_magic/run_cell_magic('name', ...)`` call runs."""
    call = _shell_call(node)
    if call and call[0] in ("run_line_magic", "run_cell_magic") and call[1]:
        first = call[1][0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _parse_code(text: str) -> list[ast.stmt] | None:
    """``text`` as statements, after dropping up to four leading options (``-n 10 f(x)``)."""
    for k in range(5):
        rest = re.sub(r"^(\s*\S+){" + str(k) + "}", "", text, count=1) if k else text
        if k and not text.lstrip().startswith("-"):
            return None
        try:
            return ast.parse(rest.strip("\n") or "pass").body
        except SyntaxError:
            continue
    return None


def _magic_code(node: ast.AST) -> list[ast.stmt] | None:
    """The statements a code magic (:data:`CODE_MAGICS`) runs; None when ``node`` is none, or its
    code cannot be read."""
    name = magic_name(node)
    if name not in CODE_MAGICS:
        return None
    kind, args = _shell_call(node)  # type: ignore[misc]
    texts = [a.value for a in args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if len(texts) != len(args) - 1:
        return None
    if kind == "run_cell_magic":  # (name, line, body): %%timeit's line is set-up code, %%capture's a name
        texts = texts[1:] if name in ("capture", "prun", "time") else texts
    out: list[ast.stmt] = []
    for text in texts:
        body = _parse_code(text)
        if body is None:
            return None
        out += body
    return out


class _Expand(ast.NodeTransformer):
    def visit_Expr(self, node: ast.Expr):
        code = _magic_code(node.value)
        return node if code is None else code

    def visit_Assign(self, node: ast.Assign):  # r = %timeit -o f(x): the assignment keeps the magic's value
        code = _magic_code(node.value)
        if code and isinstance(code[-1], ast.Expr):
            return [*code[:-1], ast.Assign(targets=node.targets, value=code[-1].value, lineno=node.lineno)]
        return node


def expand_magics(tree: ast.Module) -> ast.Module:
    """``tree`` with each code magic (``%time``, ``%timeit``, ``%%capture`` ...) replaced by the
    statements it runs (in place; line numbers of the magic's code count from its own first line)."""
    tree = _Expand().visit(tree)
    return ast.fix_missing_locations(tree)


# --------------------------------------------------------------------------- scopes


@functools.lru_cache(maxsize=4096)
def _table(source: str) -> symtable.SymbolTable | None:
    try:
        return symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return None


class _DropDeadCode(ast.NodeTransformer):
    """Statements after a ``raise``, ``return``, ``break`` or ``continue`` in the same block never
    run (a released stub's ``raise NotImplementedError`` before ``return loss, grads``)."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                end = next((i for i, st in enumerate(block) if isinstance(st, _ENDS)), len(block))
                setattr(node, name, block[: end + 1])
        return node


_ENDS = (ast.Raise, ast.Return, ast.Break, ast.Continue)


def _source(node: ast.AST, live_only: bool = False) -> str:
    body: list[ast.stmt] = node.body if isinstance(node, ast.Module) else [node]  # type: ignore[list-item]
    module = ast.Module(body=list(body), type_ignores=[])
    if live_only:
        module = _DropDeadCode().visit(copy.deepcopy(module))
    return ast.unparse(module)


def _nested(table: symtable.SymbolTable):
    for child in table.get_children():
        yield child
        yield from _nested(child)


def global_bindings(node: ast.AST) -> set[str]:
    """The global names ``node`` (a cell or one of its statements) binds: at its top level, in any
    ``if``/``for``/``try``/``with`` there, by a walrus or an import, or by ``global x`` in a function."""
    table = _table(_source(node))
    if table is None:
        return set()
    names = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for child in _nested(table):
        names |= {s.get_name() for s in child.get_symbols() if s.is_declared_global() and s.is_assigned()}
    return names | changed_in_place(node)


#: methods that change their object in place (a dict, a list, a set)
MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "add", "__setitem__", "__setattr__"})


def changed_in_place(node: ast.AST) -> set[str]:
    """Names whose value ``node`` changes without rebinding them: ``f.impl = ...``, ``np.alias = ...``,
    ``table["c"] = ...``, ``table.update(...)``, ``setattr(f, ...)`` (the name at the root of the
    target). A name read elsewhere is then followed here too (locals count as well: harmless)."""
    roots = set()
    for sub in ast.walk(node):
        target = None
        if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            target = sub.value
        elif isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
                target = func.value
            elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and sub.args:
                target = sub.args[0]
        while isinstance(target, (ast.Attribute, ast.Subscript)):
            target = target.value
        if isinstance(target, ast.Name):
            roots.add(target.id)
    return roots


def global_reads(node: ast.AST) -> set[str]:
    """The global names ``node`` reads: at its top level, and in its functions, classes, lambdas and
    comprehensions wherever a name is not their own (local or a parameter); code that can never run
    (after a ``raise`` or ``return`` in its block) is left out."""
    table = _table(_source(node, live_only=True))
    if table is None:
        return set()
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    for child in _nested(table):
        names |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
    return names


# --------------------------------------------------------------------------- modules


def imported_modules(tree: ast.AST) -> list[tuple[str, int]]:
    """The top-level package of every absolute import in ``tree`` (``import a.b`` -> ``a``), with its
    line; a relative import (``from . import x``) as ``"."``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module.split(".")[0] if node.module and not node.level else ".", node.lineno))
    return found


@functools.lru_cache(maxsize=1024)
def is_installed(package: str) -> bool:
    """Whether ``package`` is part of Python or installed where the grader runs (it is looked for,
    never imported). A module that a notebook wrote into its scratch folder is not."""
    if package in sys.stdlib_module_names or package in sys.builtin_module_names:
        return True
    if not package.isidentifier():
        return False
    here = os.path.abspath(os.getcwd())  # the grader's working folder is no installation
    paths = [p for p in sys.path if p and os.path.abspath(p) != here]
    if importlib.machinery.PathFinder.find_spec(package, paths) is not None:
        return True
    editable = [
        f for f in sys.meta_path if str(getattr(f, "__module__", "")).startswith("__editable__")
    ]  # pip install -e
    return any(getattr(f, "find_spec", lambda *a: None)(package, None) is not None for f in editable)
