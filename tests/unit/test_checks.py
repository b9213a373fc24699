"""The homework comparison helpers: they reject what they should, and they name
the classic mistakes they are told about."""

import numpy as np
import pytest
import torch

from coursekit import checks


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):  # pretends to be an array
        raise TypeError("not numbers")


def test_accepts_arrays_scalars_and_tensors():
    assert checks.check_close(np.ones(3), np.ones(3), "x") == 0.0
    assert checks.check_close(torch.ones(3), np.ones(3), "x") == 0.0
    assert checks.check_scalar(np.float32(2.0), 2.0, "loss") == 0.0


@pytest.mark.parametrize("value", [AlwaysEqual(), "1.0", {"a": 1}])
def test_rejects_objects_that_are_not_numbers(value):
    with pytest.raises(AssertionError):
        checks.check_close(value, np.ones(1), "x")


def test_none_points_at_a_missing_return():
    with pytest.raises(AssertionError, match="return"):
        checks.check_close(None, np.ones(1), "x")


def test_shape_mismatch_is_explained():
    with pytest.raises(AssertionError, match=r"shape \(3,\), expected \(3, 1\)"):
        checks.check_close(np.ones(3), np.ones((3, 1)), "dx")


def test_nan_is_blamed_on_overflow():
    with pytest.raises(AssertionError, match="overflow"):
        checks.check_close(np.array([np.nan]), np.ones(1), "loss")


def test_a_known_mistake_is_named():
    expected = np.array([1.0, 2.0])
    with pytest.raises(AssertionError, match="divide by N"):
        checks.check_close(4 * expected, expected, "dW", mistakes=[(4 * expected, "divide by N")])
    with pytest.raises(AssertionError, match="relative error"):
        checks.check_close(3 * expected, expected, "dW", mistakes=[(4 * expected, "divide by N")])


def test_rebinding_numpy_does_not_fool_the_helpers(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "abs", lambda x: 0 * x)
    with pytest.raises(AssertionError):
        checks.check_close(np.zeros(2), np.ones(2), "x")


def chunked_matmul(a, b, chunk):
    """a @ b in float32, summing the inner dimension in chunks: another summation order,
    as another BLAS kernel or CPU would use."""
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for i in range(0, a.shape[1], chunk):
        out += a[:, i : i + chunk] @ b[i : i + chunk]
    return out


def test_a_float32_wrong_answer_from_another_kernel_is_still_named():
    """hw1's forgotten ReLU: the test computes the wrong answer in float32 with one kernel,
    the student's code computes it on another machine (another summation order)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    w1 = rng.standard_normal((300, 50)).astype(np.float32)
    w2 = rng.standard_normal((50, 10)).astype(np.float32)
    reference = np.maximum(x.astype(np.float64) @ w1, 0) @ w2
    wrong_in_test = (x @ w1) @ w2
    wrong_of_student = chunked_matmul(chunked_matmul(x, w1, 7), w2, 3)
    # the two float32 computations differ by more than the default tolerance (1e-6)
    assert checks.rel_error(wrong_of_student.astype(np.float64), wrong_in_test.astype(np.float64)) > 1e-6
    with pytest.raises(AssertionError, match="forgot the ReLU"):
        checks.check_close(wrong_of_student, reference, "scores", mistakes=[(wrong_in_test, "forgot the ReLU")])
    with pytest.raises(AssertionError, match="forgot the ReLU"):
        checks.check_close(
            torch.from_numpy(wrong_of_student),
            torch.from_numpy(reference),
            "scores",
            mistakes=[(torch.from_numpy(wrong_in_test), "forgot the ReLU")],
        )


def test_a_float32_wrong_scalar_is_named():
    rng = np.random.default_rng(1)
    terms = rng.standard_normal(100_000).astype(np.float32)
    reference = float(np.sum(terms.astype(np.float64))) / terms.size
    wrong_in_test = np.sum(terms)  # forgot to divide by N: float32, pairwise summation
    wrong_of_student = np.cumsum(terms)[-1]  # the same mistake, float32, summed in order
    assert checks.rel_error(np.asarray(wrong_of_student, np.float64), np.asarray(wrong_in_test, np.float64)) > 1e-6
    with pytest.raises(AssertionError, match="divide by N"):
        checks.check_scalar(wrong_of_student, reference, "loss", mistakes=[(wrong_in_test, "divide by N")])


def test_an_inaccurate_value_is_not_blamed_on_a_nearby_mistake():
    """Close to a known wrong answer, but not clearly closer to it than to the reference."""
    expected = np.array([1.0, 2.0])
    wrong = expected * (1 + 1e-4)
    with pytest.raises(AssertionError, match="relative error"):
        checks.check_close(expected * (1 + 0.6e-4), expected, "x", mistakes=[(wrong, "a mistake")])


def test_the_closest_known_mistake_is_named():
    expected = np.array([1.0, 2.0, 3.0])
    mistakes = [(2 * expected, "twice"), (2.00001 * expected, "twice and a bit")]
    with pytest.raises(AssertionError, match="twice and a bit"):
        checks.check_close(2.00001 * expected, expected, "x", mistakes=mistakes)
    with pytest.raises(AssertionError, match="x is wrong: twice$"):
        checks.check_close(2 * expected, expected, "x", mistakes=mistakes)


def test_a_mistake_of_another_shape_is_ignored():
    expected = np.ones(3)
    with pytest.raises(AssertionError, match="relative error"):
        checks.check_close(2 * expected, expected, "x", mistakes=[(2 * np.ones(4), "four")])


def test_an_unrecognised_difference_says_where_and_shows_values_unless_hidden():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    wrong = expected.copy()
    wrong[1, 0] = 3.5
    with pytest.raises(AssertionError, match=r"index \(1, 0\): expected 3, got 3\.5\.$"):
        checks.check_close(wrong, expected, "out")
    with pytest.raises(AssertionError, match=r"Expected 2, got 2\.5\.$"):
        checks.check_scalar(2.5, 2.0, "loss")
    previous = checks.show_expected(False)  # what the grader does while hidden tests run
    try:
        with pytest.raises(AssertionError) as err:
            checks.check_close(wrong, expected, "out")
        assert str(err.value).endswith("The largest error is at index (1, 0).") and "3.5" not in str(err.value)
        with pytest.raises(AssertionError) as err:
            checks.check_scalar(2.5, 2.0, "loss")
        assert "2.5" not in str(err.value) and "Expected" not in str(err.value)
    finally:
        checks.show_expected(previous)
