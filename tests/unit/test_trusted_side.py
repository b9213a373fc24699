"""The trusted side of a grading run against a kernel that misbehaves on the channel, and what
the student is told: a malformed answer costs only its own request, a student's exception on a
hidden input keeps its message to itself, written answers await a person."""

import nbformat
from toy_assignment import cell, grade

from autograder.model import Cell
from autograder.parts import Part
from autograder.trusted.runner import Runner, collect
from autograder.trusted.sandbox import Zygote

# Installed by a student cell: the kernel answers the n-th request of each kind with a frame whose
# values are not data, or whose error is not a pair of strings.
LIAR = """
import autograder.kernel.server as _K, autograder.channel.wire as _W
_orig, _count = _K.KernelPeer.serve, {}
def _serve(self, header, values):
    op = header.get("op")
    _count[op] = _count.get(op, 0) + 1
    if op == "call" and _count[op] == 1:
        _W.send_frame(self.sock, {"re": header.get("id"), "v": {"ok": {"$c": [1, 2, 3]}}, "blobs": 0}, [])
    elif op == "call" and _count[op] == 2:
        _W.send_frame(self.sock, {"re": header.get("id"), "err": 17, "v": {}, "blobs": 0}, [])
    elif op == "call" and _count[op] == 3:
        _W.send_frame(self.sock, {"re": header.get("id"), "v": {"ok": {"$nd": 0, "dtype": "float64", "shape": [9]}}, "blobs": 1}, [b"xx"])
    elif op == "run_cell" and _count[op] == 1:
        _W.send_frame(self.sock, {"re": header.get("id"), "v": {"ok": [1, 2]}, "blobs": 0}, [])
    else:
        return _orig(self, header, values)
_K.KernelPeer.serve = _serve
def double(x):
    return 2 * x
"""  # noqa: E501 - a student cell, as a student would write it


def run(tmp_path, cells, student_names=("double",)):
    zygote = Zygote(sandboxed=False)
    try:
        runner = Runner(zygote.connect(workdir=str(tmp_path)), 20.0, set(student_names), set())
        try:
            outcomes, notes = runner.run(cells)
        finally:
            runner.close()
    finally:
        zygote.close()
    return outcomes, notes


def test_a_malformed_answer_costs_its_request_only_and_the_channel_goes_on(tmp_path):
    cells = [
        Cell(0, "solution", LIAR, "liar"),
        Cell(1, "test", "print(double(1))", "t1"),  # values that are not data
        Cell(2, "test", "print(double(2))", "t2"),  # an error that is not a pair of strings
        Cell(3, "test", "print(double(3))", "t3"),  # an array whose bytes do not fit its shape
        Cell(4, "solution", "y = 1", "c4"),  # the kernel's report of a cell is not a report
        Cell(5, "test", "assert double(21) == 42\nprint('still talking')", "t5"),
    ]
    outcomes, notes = run(tmp_path, cells)
    assert notes == [] and all(o.completed for o in outcomes.values())
    assert outcomes[1].error[0] == "MalformedReply" and "could not be read" in outcomes[1].error[1]
    assert outcomes[2].error[0] == "MalformedReply"
    assert outcomes[3].error[0] == "MalformedReply" and "size does not match" in outcomes[3].error[1]
    assert outcomes[4].error[0] == "MalformedReply"
    assert outcomes[5].error is None and outcomes[5].stdout == "still talking\n"


def test_the_students_own_exception_on_a_hidden_input_is_named_without_its_message(tmp_path):
    leak = (
        "class Secret_7_11(Exception):\n    pass\n"
        "def double(x):\n    if x == 5:\n        raise ValueError(f'the input was {x!r}')\n"
        "    if x == 6:\n        raise Secret_7_11('x')\n    return 2 * x\n"
    )
    test = "assert double(1) == 2, 'double(1) should be 2'\n### BEGIN HIDDEN TESTS\ndouble({x})\n### END HIDDEN TESTS\n"
    cells = [
        Cell(0, "solution", leak, "double"),
        Cell(1, "test", test.format(x=5), "t1"),
        Cell(2, "test", test.format(x=6), "t2"),
        Cell(3, "test", "double(5)", "t3"),
        Cell(
            4,
            "test",
            "### BEGIN HIDDEN TESTS\nassert double(2) == 5, 'hidden check: double(2)'\n### END HIDDEN TESTS",
            "t4",
        ),
    ]
    outcomes, _ = run(tmp_path, cells)
    parts = [Part(f"t{i}", 1.0, i) for i in range(1, 5)]
    messages = [r.message for r in collect(parts, outcomes, 20.0)]
    assert messages[0].startswith("Your code raised ValueError on an input of the hidden tests")
    assert "5" not in messages[0] and "input was" not in messages[0]
    assert messages[1].startswith("Your code raised an exception on an input") and "Secret" not in messages[1]
    assert messages[2] == "Your code raised ValueError: the input was 5"  # a visible test: shown
    assert messages[3] == "hidden check: double(2)"  # the instructor's own words


def test_a_written_answer_awaits_manual_grading_and_counts_apart(tmp_path):
    from toy_assignment import make_toy, submission

    toy = make_toy(tmp_path)
    nb = nbformat.read(toy, as_version=4)
    nb.cells.append(
        cell(
            "markdown",
            "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
            solution=True,
            grade=True,
            grade_id="why",
            points=2,
        )
    )
    nbformat.write(nb, toy)
    student = submission(toy)
    student.cells[-1].source = "Because the kernel is flipped."
    _, results, out = grade(toy, tmp_path, {"ann": student})
    r = results["ann"]
    assert r["score"] == 5 and r["max_score"] == 5 and r["manual_max"] == 2
    why = r["parts"][-1]
    assert why["manual"] and why["status"] == "manual" and why["points"] == 0 and why["max_points"] == 2
    assert not any(p["manual"] for p in r["parts"][:-1])
    from autograder.trusted.assemble import reconcile

    release = nbformat.read(toy, as_version=4)
    release.cells[-1].source = "YOUR ANSWER HERE"
    restored = reconcile(release, nbformat.read(toy, as_version=4), student)  # what reconciled/ holds
    assert restored.cells[-1].source == "Because the kernel is flipped."
