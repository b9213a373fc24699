"""Execute notebooks in place with the repository's kernel, as CI's nbval will.

    .venv/bin/python tools/execute_notebook.py book/01_mlp_backprop.ipynb [more.ipynb ...]

Run it on a chapter after editing it, then commit the stored outputs: the book is built
from them (nothing executes the pages at build time), after `make test`'s pages stage has
proven them on other math kernels (see tools/run_tests.py). The kernel gets the same
PYTHONHASHSEED and matplotlib backend as the pages stage's; the math libraries keep
their default settings.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(paths):
    os.environ["PYTHONHASHSEED"] = "0"  # as in tools/run_tests.py
    os.environ.pop("MPLBACKEND", None)  # the inline backend: pages store their figures
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        nbformat.write(nb, path)
        print(f"{path}: executed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
