"""A second environment with the newest releases of every dependency (the `latest` stage),
or with the oldest releases that pyproject.toml allows (the `oldest` stage).

    .venv/bin/python tools/latest_env.py            build _build/latest-venv and print its versions
    .venv/bin/python tools/latest_env.py --oldest   build _build/oldest-venv and print its versions
    python tools/run_tests.py latest                build it, then run the pages and the solutions in it
    python tools/run_tests.py oldest                the same with the oldest allowed releases

`make setup` installs the exact versions of requirements/constraints.txt; readers on Colab
and students who `pip install` the course get whatever is newest. This environment is the
latter: a fresh venv, the course installed (editable, with the dev extra, as `make setup`
does) WITHOUT the constraints file, so pip takes the newest release of every dependency
that pyproject.toml's ranges allow.

One exception, torch: the newest release on PyPI is a CUDA build (several GB of nvidia-*
packages), which these CPU machines neither need nor can spare the time to fetch. The
newest CPU build that the package index serves is taken instead (a version with the local
label ``+cpu``, as PyTorch's CPU index and this machine's wheel directory serve them); where
the index serves none, plain ``torch`` (the newest, whatever its build).
``CONVNETS_LATEST_TORCH`` overrides the choice with any requirement (``torch==2.15.0``).

`oldest` installs each dependency of pyproject.toml's ``dependencies`` (what the Colab setup
cell installs beside Colab's own packages) at exactly its lower bound (``numpy>=1.24`` gives
``numpy==1.24``), with the newest releases of what runs the notebooks (nbval, pytest,
pytest-xdist, ipykernel) that go with them, and not the dev extra (whose lower bounds are
the pins, newer than these): the test of those lower bounds. torch's lower bound exists only
as a CUDA build (about 3 GB with its nvidia packages): it runs on the CPU all the same.

The versions installed are written to ``_build/<name>-versions.txt`` (pip freeze) and the
direct dependencies are printed (the README's table of what passed comes from there).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
#: what runs the notebooks in the oldest environment (the dev extra's bounds exclude old numpy)
RUNNERS = ("nbval", "pytest", "pytest-xdist", "ipykernel")
#: environment variables that would put constraints back on pip
PIP_PINS = ("PIP_CONSTRAINT", "PIP_REQUIREMENT")


def pip_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in PIP_PINS and not k.startswith("PYTHON")}


def torch_requirement(python: Path) -> str:
    """``torch==<newest +cpu version the index serves>``, else ``torch``; CONVNETS_LATEST_TORCH wins."""
    if os.environ.get("CONVNETS_LATEST_TORCH"):
        return os.environ["CONVNETS_LATEST_TORCH"]
    listing = subprocess.run(
        [str(python), "-m", "pip", "index", "versions", "torch"], capture_output=True, text=True, env=pip_env()
    ).stdout
    found = re.search(r"Available versions: (.*)", listing)
    versions = found.group(1).split(", ") if found else []  # newest first
    cpu = [v for v in versions if v.endswith("+cpu")]
    return f"torch=={cpu[0]}" if cpu else "torch"


def minimums() -> list[str]:
    """``name==lower bound`` for each of pyproject.toml's dependencies (each is ``name>=version``)."""
    import tomllib

    pins = []
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        found = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*", spec)
        assert found, f"pyproject.toml: {spec!r} is not of the form name>=version"
        pins.append(f"{found[1]}=={found[2]}")
    return pins


def direct_dependencies() -> list[str]:
    """The names that pyproject.toml lists (dependencies and the dev extra)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [re.split(r"[<>=!~ \[;]", s, maxsplit=1)[0] for s in specs]


def installed(python: Path) -> dict[str, str]:
    """{normalised name: version} of what ``python``'s environment holds."""
    frozen = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
        env=pip_env(),
    ).stdout
    return {n.lower().replace("_", "-"): v for n, v in (line.split("==", 1) for line in frozen.split() if "==" in line)}


def build(oldest: bool = False) -> Path:
    """Build _build/latest-venv (or _build/oldest-venv) afresh; return its Python."""
    name = "oldest" if oldest else "latest"
    venv, frozen = BUILD / f"{name}-venv", BUILD / f"{name}-versions.txt"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, env=pip_env())
    wanted = ["-e", ".", *minimums(), *RUNNERS] if oldest else ["-e", ".[dev]", torch_requirement(python)]
    print(f"{name} environment: pip install {' '.join(wanted)} (no constraints file)", flush=True)
    subprocess.run([*pip, "--upgrade", *wanted], cwd=ROOT, check=True, env=pip_env())
    versions = installed(python)
    frozen.write_text("".join(f"{n}=={v}\n" for n, v in sorted(versions.items())))
    shown = [f"{n}=={versions.get(n.lower().replace('_', '-'), '?')}" for n in direct_dependencies()]
    print(f"{name} environment: " + " ".join(shown) + f" (all: {frozen.relative_to(ROOT)})", flush=True)
    return python


if __name__ == "__main__":
    build(oldest="--oldest" in sys.argv[1:])
