"""The grader's folders follow its trust boundary, and the imports keep to it: the kernel side
(what runs in the sandbox, where student code runs) imports only the channel and the defaults;
the trusted side and the batch import nothing from the kernel side."""

import ast
from pathlib import Path

from autograder import COURSE_ROOT

PACKAGE = COURSE_ROOT / "autograder"


def grader_imports(path: Path) -> set[str]:
    """The ``autograder`` modules that ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(COURSE_ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(COURSE_ROOT).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if m == "autograder" or m.startswith("autograder.")}


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_the_kernel_side_imports_only_the_channel_and_the_defaults():
    allowed = ("autograder.kernel", "autograder.channel", "autograder.defaults")
    for path in modules("kernel") + modules("channel"):
        bad = {m for m in grader_imports(path) if not m.startswith(allowed) and m != "autograder"}
        assert not bad, f"{path.relative_to(COURSE_ROOT)} imports {sorted(bad)}: student code could reach it"


def test_the_trusted_side_imports_nothing_from_the_kernel_side():
    for folder in ("trusted", "batch"):
        for path in modules(folder):
            bad = {m for m in grader_imports(path) if m.startswith("autograder.kernel")}
            assert not bad, f"{path.relative_to(COURSE_ROOT)} imports {sorted(bad)} from the kernel side"


def test_what_the_kernel_runs_of_the_package_root_is_the_standard_library():
    for name in ("__init__.py", "defaults.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {
            n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level
        }
        assert imported <= {"__future__", "pathlib"}, (name, imported)


def test_dask_is_imported_by_the_cluster_module_only():
    """The batch's one Dask module (autograder/batch/cluster.py); a local batch, the grading process
    and the kernel never import it."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        uses_dask = {n for n in names if n.split(".")[0] in ("dask", "distributed")}
        if path.relative_to(PACKAGE).as_posix() != "batch/cluster.py":
            assert not uses_dask, f"{path.relative_to(COURSE_ROOT)} imports {sorted(uses_dask)}"
