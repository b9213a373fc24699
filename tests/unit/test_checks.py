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
