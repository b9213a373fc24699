"""Write the Colab setup cell into every course notebook, from the repository URL
in ``_config.yml`` (the one place it is set).

    .venv/bin/python tools/sync_setup_cells.py          # rewrite cells in place
    .venv/bin/python tools/sync_setup_cells.py --check  # exit 1 if any is stale

The cell is the first code cell, tagged ``colab-setup``. On Colab it installs the
course package (unpinned, beside Colab's own numpy/torch/matplotlib); anywhere else
it does nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-setup"
NOTEBOOK_DIRS = ("book", "solutions")


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def setup_source(url: str | None = None) -> str:
    url = url or repository_url()
    return (
        "# Colab setup: install the course package, the only thing Colab lacks.\n"
        "# Elsewhere (JupyterLab after `make setup`) this cell does nothing.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "coursekit @ git+{url}"'
    )


def course_notebooks() -> list[Path]:
    found = []
    for folder in NOTEBOOK_DIRS:
        found += [p for p in sorted((ROOT / folder).rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    return found


def setup_cell_index(nb) -> int | None:
    for i, cell in enumerate(nb.cells):
        if TAG in cell.get("metadata", {}).get("tags", []):
            return i
    return None


def sync(path: Path, check: bool) -> bool:
    """Return True if the notebook is (now) up to date."""
    nb = nbformat.read(path, as_version=4)
    want = setup_source()
    i = setup_cell_index(nb)
    if i is not None and nb.cells[i].source == want:
        return True
    if check:
        return False
    if i is None:
        cell = nbformat.v4.new_code_cell(want, metadata={"tags": [TAG]})
        first_code = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        nb.cells.insert(first_code, cell)
    else:
        nb.cells[i].source = want
    nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = [p for p in course_notebooks() if not sync(p, check)]
    for p in stale:
        print(f"stale Colab setup cell: {p.relative_to(ROOT)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
