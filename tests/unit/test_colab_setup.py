"""The Colab setup cell works: run as Colab runs it, in an environment without the course,
it installs ``coursekit`` from the repository and every ``coursekit`` import of the pages
and the homework then works.

The cell is the real one, read from the book's pages (``colab-setup`` tag; its URL is
``repository.url`` of ``_config.yml``). Only that URL is replaced, by a ``git+file://`` URL
of a temporary repository holding this repository's HEAD (what Colab fetches is what is
committed, not the working tree).
The environment is a fresh venv that sees the packages of the course's own environment
(numpy, torch, matplotlib ..., standing for Colab's) but not the course: neither this
checkout nor its editable install, so ``coursekit`` comes from the cell's install or not at
all. pip then finds every dependency installed and downloads nothing but its build
backend (setuptools, for the isolated build), as on Colab.
"""

import ast
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TAG = "colab-setup"
COURSE = ("coursekit", "autograder")  # the course's own packages: never seen from the clean venv


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def setup_cells() -> dict[str, str]:
    """Each book page's Colab setup cell, by page."""
    cells = {}
    for page in sorted((ROOT / "book").glob("*.ipynb")):
        tagged = [c.source for c in code_cells(page) if TAG in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{page.name}: {len(tagged)} cells tagged {TAG}"
        cells[page.name] = tagged[0]
    return cells


def course_imports() -> list[str]:
    """Every ``coursekit`` import statement of the book's pages and the student notebooks."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    found: dict = {}
    for nb in [*sorted((ROOT / "book").glob("*.ipynb")), *sorted((ROOT / "exercises").glob("*/*.ipynb"))]:
        for cell in code_cells(nb):
            for node in ast.walk(ast.parse(transform(cell.source))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "coursekit":
                    found[ast.unparse(node)] = None
                elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "coursekit" for a in node.names):
                    found[ast.unparse(node)] = None
    return list(found)


def head_repository(clone: Path) -> Path:
    """A git repository at ``clone`` whose one commit holds the tree of this repository's HEAD.

    Not ``git clone``: in a shallow checkout (CI's usual) that gives a shallow clone, and
    pip's own ``git clone --filter=blob:none`` of a shallow repository hangs, printing
    "shallow roots are not allowed to be updated" for minutes."""
    clone.mkdir()
    tree = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(clone)], input=tree, check=True)
    git = ["git", "-C", str(clone), "-c", "user.name=course", "-c", "user.email=course@localhost"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "commit", "--quiet", "--no-verify", "-m", "HEAD"], check=True)
    return clone


def clean_venv(where: Path) -> Path:
    """A venv that sees this environment's packages, except the course's own, and not this checkout."""
    deps = where / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if name.split("-")[0].split(".")[0] in COURSE or name.startswith("__editable__"):
            continue  # the course and its editable finder
        (deps / entry.name).symlink_to(entry)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path in a .pth file: deps/ joins sys.path after the venv's own site-packages
    # (the .pth files inside deps/ are not run, so no editable install comes back through it).
    (Path(purelib) / "colab_stand_in.pth").write_text(f"{deps}\n")
    return python


#: Runs in the clean venv: Colab's kernel (google.colab imported), the setup cell, then the imports.
COLAB = textwrap.dedent("""
    import importlib, json, sys, types
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(colors="nocolor")
    cell, imports = json.loads(sys.argv[1])
    result = shell.run_cell(cell)
    result.raise_error()
    code = shell.user_ns.get("_exit_code")
    if code != 0:
        sys.exit(f"the setup cell's install exited with {code}")
    importlib.invalidate_caches()
    for statement in imports:
        result = shell.run_cell(statement)
        if not result.success:
            sys.exit(f"after the setup cell, `{statement}` fails: {result.error_in_exec!r}")
    loaded = {
        name: getattr(m, "__file__", None) for name, m in sys.modules.items() if name.split(".")[0] == "coursekit"
    }
    print("LOADED " + json.dumps(loaded))
""")


def test_every_page_has_the_same_setup_cell_with_the_configured_url():
    cells = setup_cells()
    assert len(set(cells.values())) == 1, f"the pages' setup cells differ: {sorted(cells)}"
    cell = next(iter(cells.values()))
    assert f'git+{repository_url()}"' in cell, "the setup cell does not install from _config.yml's repository.url"
    assert "%pip install" in cell and '"google.colab" in sys.modules' in cell


@pytest.mark.slow
def test_the_setup_cell_installs_the_course_for_the_pages(tmp_path):
    cell = next(iter(setup_cells().values()))
    clone = head_repository(tmp_path / "clone")
    local = cell.replace(f'git+{repository_url()}"', f'git+{clone.as_uri()}"')
    assert local != cell
    python = clean_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "PIP_CONSTRAINT"}
    env.update(MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1")
    imports = course_imports()
    assert any("coursekit.chapters" in s for s in imports), "the pages import coursekit.chapters: the list is wrong"
    run = subprocess.run(
        [str(python), "-I", "-c", COLAB, json.dumps([local, imports])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"the Colab setup cell fails:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    loaded = json.loads(run.stdout.split("LOADED ", 1)[1])
    venv = python.parent.parent
    outside = {name: file for name, file in loaded.items() if file and not Path(file).is_relative_to(venv)}
    assert not outside, f"coursekit came from outside the installed package: {outside}"
    assert "coursekit.chapters" in loaded
