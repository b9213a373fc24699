"""The two setups (make/pip and conda) describe the same environment, and the
README's two commands are what CI and a newcomer run."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def direct_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {re.split(r"[<>=!~ \[]", s, maxsplit=1)[0].lower() for s in specs}


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for entry in pip_section:
        if "==" in entry:
            name, version = entry.split("==")
            pins[name.lower()] = version
    return pins


def test_every_constraint_is_an_exact_pin():
    assert constraints(), "requirements/constraints.txt is empty"
    for name, version in constraints().items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version), f"{name}=={version} is not an exact version"


def test_torch_is_pinned_to_the_local_cpu_build():
    assert constraints()["torch"] == "2.13.0"


def test_environment_yml_pins_what_constraints_pin():
    pins = conda_pins()
    cons = constraints()
    for name, version in pins.items():
        assert cons.get(name) == version, f"environment.yml has {name}=={version}, constraints.txt has {cons.get(name)}"


def test_environment_yml_lists_every_direct_dependency():
    missing = direct_dependencies() - set(conda_pins())
    assert not missing, f"environment.yml lacks {sorted(missing)} (pyproject.toml depends on them)"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert "-e ." in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_package_metadata_stays_loose():
    """Colab installs the package beside its own numpy/torch: no exact pins there."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        assert "==" not in spec, f"pyproject.toml pins {spec}: pins belong in requirements/constraints.txt"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    lines = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()]
    commands = [line for line in lines[:25] if line in ("make book", "make test")]
    assert commands == ["make book", "make test"], "the README's first lines must give `make book` then `make test`"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run the README's test command"


def test_xdist_runs_each_group_in_one_worker(tmp_path):
    """The grading stage (`--dist loadgroup`) grades each batch once because every test that reads it
    runs in one worker; pytest 9.2 with pytest-xdist 3.8 spreads them silently (xdist issue #1386)."""
    (tmp_path / "test_groups.py").write_text(
        "import os, time\nimport pytest\n\n"
        "GROUPS = [pytest.param(g, marks=pytest.mark.xdist_group(g)) for g in ('a', 'b')]\n\n"
        "@pytest.mark.parametrize('group', GROUPS)\n"
        "@pytest.mark.parametrize('k', range(4))\n"
        "def test_in_group(group, k):\n"
        "    time.sleep(0.05)\n"
        f"    with open({str(tmp_path)!r} + '/' + group, 'a') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "test_groups.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {group: set((tmp_path / group).read_text().split()) for group in ("a", "b")}
    assert all(len(w) == 1 for w in workers.values()), f"a group's tests ran in several workers: {workers}"
