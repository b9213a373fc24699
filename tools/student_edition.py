"""The student edition: what students clone, with nothing that gives an answer away.

    .venv/bin/python tools/student_edition.py DIR      (make student-edition DIR=...)

writes into DIR (which must not exist or be empty) the book (its pages, bibliography and
configuration), ``exercises/``, the course package (``coursekit``, whose
``coursekit.chapters`` the book's pages use and the grader's kernels cannot import) with
the student's check (``autograder``, for ``python -m autograder check``), the setup files, a
Makefile with the student's targets, and the student part of the README. It holds no
``solutions/``, no hidden test, no buggy submission, no test stage.

:func:`secret_lines` lists what must never be in it: every line of a solution block and of
a hidden-test block of ``solutions/`` (code, and the model answers of written questions),
except short generic lines by rule (:func:`generic`). :func:`leaks` searches an edition
for them; the release stage runs it on a fresh edition.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: paths copied as they are (folders whole, minus caches)
COPIED = (
    "book",
    "exercises",
    "coursekit",
    "autograder",
    "_config.yml",
    "_toc.yml",
    "pyproject.toml",
    "requirements",
    "environment.yml",
    "package.json",
    "package-lock.json",
    "tools/install_system_packages.sh",
    "tools/execute_notebook.py",
    ".gitignore",
)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
#: README sections (second-level headings) that students need
README_SECTIONS = ("Readers", "Students", "Data")
MIN_SECRET = 30  # characters, whitespace collapsed: a shorter line is generic by rule

_BLOCKS = (
    re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S),
    re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S),
)

MAKEFILE = """\
# The student edition of "Convolutional networks, from scratch".
#   make setup   the course's environment in .venv (pinned versions)
#   make book    the HTML book in _build/html
#   make check NOTEBOOK=exercises/hw1_mlp/hw1_mlp.ipynb   your homework, checked as the grader does
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MATHJAX := node_modules/mathjax/es5/tex-mml-chtml.js

.PHONY: setup book check

setup: $(STAMP) $(MATHJAX)
\tsh tools/install_system_packages.sh

$(MATHJAX): package.json package-lock.json
\tnpm ci --no-audit --no-fund --loglevel=error
\ttouch $(MATHJAX)

$(STAMP): pyproject.toml requirements/constraints.txt
\ttest -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --upgrade pip
\t$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
\ttouch $(STAMP)

book: setup
\tenv -u MPLBACKEND PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build . -W -n --keep-going

check: setup
\tPATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m autograder check $(NOTEBOOK)
"""


def normalise(line: str) -> str:
    return re.sub(r"\s+", " ", line.strip())


def generic(line: str) -> bool:
    """A line that says nothing about an answer, by rule: shorter than :data:`MIN_SECRET`
    characters (whitespace collapsed), a comment, or an import statement."""
    if len(line) < MIN_SECRET or line.startswith("#"):
        return True
    return line.startswith("import ") or (line.startswith("from ") and " import " in line)


def secret_lines(root: Path = ROOT) -> dict[str, str]:
    """``{normalised line: where it comes from}`` for every line that no student may see."""
    found: dict[str, str] = {}
    for path in sorted((root / "solutions").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        for index, cell in enumerate(nb["cells"]):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for pattern in _BLOCKS:
                for block in pattern.findall(source):
                    for line in map(normalise, block.splitlines()):
                        if not generic(line):
                            found.setdefault(line, f"{path.relative_to(root)} cell {index}")
    return found


def _text_lines(path: Path) -> set[str]:
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError):
        return set()
    lines = text.splitlines()
    if path.suffix == ".ipynb":  # every string in the notebook (sources, outputs), line by line
        lines = []

        def walk(value):
            if isinstance(value, str):
                lines.extend(value.splitlines())
            elif isinstance(value, list):
                if all(isinstance(v, str) for v in value):
                    lines.extend("".join(value).splitlines())
                else:
                    for v in value:
                        walk(v)
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)

        walk(json.loads(text))
    return {normalise(line) for line in lines}


def leaks(edition: Path, root: Path = ROOT) -> list[str]:
    """Secret lines found in the files of ``edition``: ``'<line>' (from <origin>) in <file>``."""
    secrets = secret_lines(root)
    found = []
    for path in sorted(p for p in edition.rglob("*") if p.is_file()):
        for line in _text_lines(path) & secrets.keys():
            found.append(f"{line!r} (from {secrets[line]}) in {path.relative_to(edition)}")
    return found


def readme(root: Path = ROOT) -> str:
    """The student part of the README: its title and introduction, and :data:`README_SECTIONS`."""
    text = (root / "README.md").read_text()
    title = text.splitlines()[0]
    intro = text.split("\n---\n", 1)[1].split("\n## ", 1)[0].strip() if "\n---\n" in text else ""
    sections = re.split(r"(?m)^## ", text)[1:]
    kept = ["## " + s.strip() for s in sections if s.split("\n", 1)[0].strip() in README_SECTIONS]
    setup = (
        "On a fresh machine (Python 3.11, `make`, `npm`; no GPU needed), from a clone of this "
        "repository:\n\n```\nmake setup\nmake book\n```\n\nThe first installs the course's "
        "environment in `.venv`; the second builds the HTML book into `_build/html`."
    )
    return "\n\n".join([title, setup, intro, *kept]) + "\n"


def write_edition(dest: Path, root: Path = ROOT) -> Path:
    """Write the student edition into ``dest`` (created; it must be empty if it exists)."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=IGNORED)
        elif source.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / "Makefile").write_text(MAKEFILE)
    (dest / "README.md").write_text(readme(root))
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    dest = write_edition(Path(argv[0]))
    found = leaks(dest)
    for line in found:
        print(f"LEAK: {line}")
    print(f"student edition written to {dest}" + (f"; {len(found)} secret line(s) found in it" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
