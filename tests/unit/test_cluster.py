"""The Dask pool's pieces that need no cluster (tests/stages/test_grading_cluster.py grades on a real one):
a worker whose checkout is not the instructor's refuses to grade, and the report's isolation line."""

from types import SimpleNamespace

import pytest

from autograder.batch.cluster import CheckoutMismatch, DaskPool, GradingPlugin, Settings, checkout_fingerprint
from autograder.model import Assignment

ASSIGNMENT = "hw2_convolution"


def plugin_with(**changes) -> GradingPlugin:
    assignment = Assignment.load(ASSIGNMENT, with_release=False)
    settings = dict(
        assignment=ASSIGNMENT,
        source_fingerprint=assignment.source_fingerprint,
        checkout=checkout_fingerprint(),
        sandbox=False,
        cgroups=False,
        memory=1 << 30,
        kernel_threads=1,
    )
    plugin = GradingPlugin(Settings(**{**settings, **changes}))
    plugin.setup(SimpleNamespace(state=SimpleNamespace(nthreads=1)))
    return plugin


@pytest.mark.parametrize("field", ["source_fingerprint", "checkout"])
def test_a_worker_with_another_checkout_refuses_to_grade_and_names_both_hashes(field):
    plugin = plugin_with(**{field: "f" * 64})
    with pytest.raises(CheckoutMismatch, match="ffffffffffff"):
        plugin.prepare()
    assert plugin.zygote is None, "no zygote starts on a worker that refused"


def test_the_checkout_fingerprint_covers_the_grader_and_the_course_package(tmp_path, monkeypatch):
    import autograder.batch.cluster as cluster

    before = checkout_fingerprint()
    for package in ("autograder", "coursekit"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "x.py").write_text("A = 1\n")
    monkeypatch.setattr(cluster, "COURSE_ROOT", tmp_path)
    one = checkout_fingerprint()
    (tmp_path / "coursekit" / "x.py").write_text("A = 2\n")
    assert len({before, one, checkout_fingerprint()}) == 3


def test_the_report_names_each_isolation_that_workers_had():
    pool = DaskPool.__new__(DaskPool)
    pool.isolation = {}
    assert pool.describe().startswith("no kernel ran")
    pool.isolation = {"tcp://a:1": "sandboxed kernels (X)", "tcp://b:1": "sandboxed kernels (X)"}
    assert pool.describe() == "sandboxed kernels (X)"  # what a local run's report says
    pool.isolation["tcp://c:1"] = "NO SANDBOX"
    assert pool.describe() == "NO SANDBOX [on 1 worker(s)] / sandboxed kernels (X) [on 2 worker(s)]"
