"""Stage e (continued): every homework graded against a kernel that lies.

The liars (tests/stages/liars.py) are graded in each homework's batch
(tests/stages/homework_batches.py). A test that computed its expected value in the kernel,
or believed a kernel's report of what the student's code did, would pass under one of them:
every auto-graded part must score 0 under every liar. (Written answers await a person and
are not auto-graded.)
"""

import pytest
from homework_batches import LIAR_CHECK, batch, per_batch, same_batch
from liars import MODES, TAILORED

from autograder.release import assignments


@pytest.fixture(params=per_batch(assignments()))
def graded(request, tmp_path_factory):
    return batch(request.param, tmp_path_factory.getbasetemp())


def gained(result: dict) -> list[str]:
    """The parts a submission passed, or the reason its zero proves nothing."""
    if result["status"] != "graded":
        return [f"status {result['status']}: {result['notes']}"]
    timed_out = [p["grade_id"] for p in result["parts"] if "time limit" in p["message"]]
    if timed_out:  # a part that ran out of time scores 0 whatever the grader believes
        return [f"{part} ran out of time" for part in timed_out]
    passed = [p["grade_id"] for p in result["parts"] if p["status"] == "passed"]
    return passed or ([f"score {result['score']}"] if result["score"] else [])


def test_a_lying_kernel_earns_no_point(graded):
    won = {mode: gained(graded["results"][f"liar_{mode}"]) for mode in MODES}
    won = {mode: parts for mode, parts in won.items() if parts}
    assert not won, f"{graded['assignment']}: parts passed under a lying kernel: {won}"


@same_batch(LIAR_CHECK)
def test_the_liar_is_really_installed(tmp_path_factory):
    """The liar works: the solution's code with the zeros liar fails parts that the same code
    passes honestly (otherwise the zero scores above would prove nothing)."""
    results = batch(LIAR_CHECK, tmp_path_factory.getbasetemp())["results"]
    honest, lying = results["solution"]["score"], results["liar_on_solution"]["score"]
    assert honest > 0 and lying < honest, (honest, lying)


@pytest.mark.parametrize("case", per_batch(sorted(TAILORED), lambda case: TAILORED[case][0]))
def test_a_tailored_liar_earns_no_point(case, tmp_path_factory):
    """A student who read a homework's tests replaces a harness operation and the model's forward
    pass in their kernel, or hides a banned call where a rule might not look: every part scores 0."""
    graded = batch(TAILORED[case][0], tmp_path_factory.getbasetemp())
    assert f"tailored_{case}" in graded["liars"]
    won = gained(graded["results"][f"tailored_{case}"])
    assert not won, won
