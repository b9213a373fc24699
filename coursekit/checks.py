"""Comparison helpers for homework tests.

Every helper turns the student's value into a plain float64 NumPy array first
(an object whose ``__eq__`` always answers True is rejected, not trusted), checks
its shape, and compares with arithmetic captured when this module was imported,
so that a solution cell that rebinds ``np.allclose`` changes nothing here.

A failing check raises ``AssertionError`` whose message is written for the
student: what is wrong and, where a classic mistake is recognised, which one.
"""
from __future__ import annotations

import numbers

import numpy as _np

# Captured once, at import time, before any student code runs.
_asarray = _np.asarray
_abs = _np.abs
_max = _np.max
_maximum = _np.maximum
_isfinite = _np.isfinite
_all = _np.all
_float64 = _np.float64
_ndarray = _np.ndarray


def to_float64(value, name: str) -> _np.ndarray:
    """The student's ``value`` as a fresh float64 ndarray (torch tensors accepted).

    Raises AssertionError with a readable message when ``value`` is not numeric.
    """
    if value is None:
        raise AssertionError(f"{name} is None: did you forget a `return` statement?")
    if type(value).__module__.startswith("torch"):
        try:
            value = value.detach().cpu().double().numpy()
        except Exception as err:  # noqa: BLE001 - any failure is the student's value
            raise AssertionError(f"{name} is a {type(value).__name__} that cannot be read as numbers ({err}).")
    if not isinstance(value, (_ndarray, numbers.Number, list, tuple)) and not type(value).__module__.startswith("numpy"):
        kind = value.student_type() if hasattr(type(value), "student_type") else type(value).__name__
        raise AssertionError(f"{name} should be a NumPy array (or a number), not a {kind}.")
    try:
        arr = _asarray(value, dtype=_float64).copy()
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{name} cannot be converted to an array of numbers ({err}).")
    if type(arr) is not _ndarray:
        raise AssertionError(f"{name} should be a plain NumPy array.")
    return arr


def rel_error(a: _np.ndarray, b: _np.ndarray) -> float:
    """``max |a - b| / max(1e-8, |a| + |b|)`` on float64 arrays of equal shape."""
    if a.size == 0:
        return 0.0
    return float(_max(_abs(a - b) / _maximum(1e-8, _abs(a) + _abs(b))))


def check_shape(value, shape: tuple, name: str) -> _np.ndarray:
    """Convert ``value`` and assert it has ``shape``; returns the float64 array."""
    arr = to_float64(value, name)
    if tuple(arr.shape) != tuple(shape):
        raise AssertionError(f"{name} has shape {tuple(arr.shape)}, expected {tuple(shape)}.")
    return arr


def check_close(value, expected, name: str, tol: float = 1e-6, mistakes=()) -> float:
    """Assert that ``value`` matches ``expected`` (relative error below ``tol``).

    ``mistakes`` is a sequence of ``(wrong_answer, message)``: if the student's value
    matches a known wrong answer instead, that message is raised. Returns the
    relative error, so a test can show it.
    """
    exp = to_float64(expected, "the reference")
    arr = check_shape(value, exp.shape, name)
    if not bool(_all(_isfinite(arr))):
        raise AssertionError(f"{name} contains NaN or inf: look for an overflow (exp of a large "
                             "number) or a division by zero.")
    err = rel_error(arr, exp)
    if err <= tol:
        return err
    for wrong, message in mistakes:
        wrong = to_float64(wrong, "a known mistake")
        if wrong.shape == arr.shape and rel_error(arr, wrong) <= tol:
            raise AssertionError(f"{name} is wrong: {message}")
    raise AssertionError(f"{name} does not match the reference: relative error {err:.2e} "
                         f"(must be at most {tol:.0e}).")


def check_scalar(value, expected: float, name: str, tol: float = 1e-6, mistakes=()) -> float:
    """Like :func:`check_close` for one number (a Python or NumPy scalar, or 0-d array)."""
    arr = to_float64(value, name)
    if arr.size != 1:
        raise AssertionError(f"{name} should be a single number, but has shape {tuple(arr.shape)}.")
    return check_close(arr.reshape(()), _asarray(expected, dtype=_float64).reshape(()), name, tol,
                       [(_asarray(w, dtype=_float64).reshape(()), m) for w, m in mistakes])
