"""The portability configuration of tools/run_tests.py is not a no-op: on this machine
each of its variables changes the float32 results of the library it names, compared
with the settings outside the test run (those with which the stored outputs of the
pages were made). If one stopped doing so (a new CPU, a new wheel), the pages stage
would silently stop proving that the stored outputs survive another kernel; this test
says so instead."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import run_tests  # noqa: E402

PROBE = """
import hashlib, numpy as np, torch, torch.nn.functional as F
rng = np.random.default_rng(0)
a = rng.standard_normal((257, 300)).astype(np.float32)
b = rng.standard_normal((300, 129)).astype(np.float32)
x = torch.from_numpy(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
w = torch.from_numpy(rng.standard_normal((16, 3, 5, 5)).astype(np.float32))
t = torch.from_numpy(rng.standard_normal(1_000_003).astype(np.float32))
results = {"numpy": a @ b, "conv": F.conv2d(x, w).numpy(),
           "linear": F.linear(torch.from_numpy(a), torch.from_numpy(b.T.copy())).numpy(), "sum": t.sum().numpy()}
for name, r in results.items():
    print(name, hashlib.md5(np.ascontiguousarray(r).tobytes()).hexdigest())
"""

# variable -> the result it must change
CHANGES = {"OPENBLAS_CORETYPE": "numpy", "ONEDNN_MAX_CPU_ISA": "conv", "MKL_CBWR": "linear", "OMP_NUM_THREADS": "sum"}


def probe_all(variants: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The probe's result hashes under each variant of the environment (run side by side)."""
    base = {k: v for k, v in os.environ.items() if k not in run_tests.VARIABLES}
    base.update(run_tests.AMBIENT)  # the settings outside the test run
    runs = {
        name: subprocess.Popen([sys.executable, "-c", PROBE], env={**base, **extra}, stdout=subprocess.PIPE, text=True)
        for name, extra in variants.items()
    }
    results = {}
    for name, run in runs.items():
        out, _ = run.communicate()
        assert run.returncode == 0, f"the probe failed under {variants[name]}"
        results[name] = dict(line.split() for line in out.splitlines())
    return results


@pytest.fixture(scope="module")
def results():
    variants: dict[str, dict[str, str]] = {"default": {}}
    variants.update({k: {k: v} for k, v in run_tests.PORTABILITY.items()})
    return probe_all(variants)


@pytest.mark.parametrize("variable", sorted(run_tests.PORTABILITY))
def test_each_portability_variable_changes_results(variable, results):
    if variable == "OMP_NUM_THREADS" and int(run_tests.AMBIENT.get(variable, run_tests.WORKERS)) < 2:
        pytest.skip("one core: the stored outputs are made with one thread too")
    target = CHANGES[variable]
    assert results[variable][target] != results["default"][target], (
        f"{variable}={run_tests.PORTABILITY[variable]} no longer changes {target} results on this machine: "
        "pick another value in tools/run_tests.py, or the pages stage proves less than it claims"
    )


def test_the_configuration_covers_blas_convolutions_and_threads():
    assert set(run_tests.PORTABILITY) == set(run_tests.VARIABLES)
    assert run_tests.PORTABILITY["OMP_NUM_THREADS"] == "1"
    assert run_tests.PORTABILITY["OPENBLAS_CORETYPE"] != run_tests.AMBIENT.get("OPENBLAS_CORETYPE")


def test_full_pages_is_opt_in_and_forces_the_full_configuration():
    """`python tools/run_tests.py full-pages`: chapters 6-9 with CONVNETS_FULL=1, every cell
    must run and every assert hold (nbval-lax: the outputs differ from the stored ones)."""
    assert "full-pages" not in run_tests.STAGES
    assert run_tests.OPT_IN_ENV["full-pages"] == {"CONVNETS_FULL": "1"}
    args = run_tests.OPT_IN["full-pages"]
    assert "--nbval-lax" in args and "--nbval" not in args
    assert all((ROOT / page).is_file() for page in run_tests.FULL_PAGES)
