"""Execute notebooks in place with the repository's kernel, as CI's nbval will.

    .venv/bin/python tools/execute_notebook.py book/01_mlp_backprop.ipynb [more.ipynb ...]

Run it on a chapter after editing it, then commit the stored outputs.
"""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(paths):
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(nb, path)
        print(f"{path}: executed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
