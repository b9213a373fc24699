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

from .harness import is_kernel_object

# Whether a failure may show the expected value (the grader turns it off while hidden tests run:
# their expected values are the hidden tests' own).
_show_expected = True


def show_expected(flag: bool) -> bool:
    """Set whether failure messages show expected values; returns the previous setting."""
    global _show_expected
    previous, _show_expected = _show_expected, bool(flag)
    return previous


# Captured once, at import time. While grading, the tests run in a trusted process where no student
# code runs, so this no longer defends a grade: it keeps a student's own notebook honest with itself
# (a solution cell that rebinds np.allclose does not change what its visible tests say).
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
            raise AssertionError(
                f"{name} is a {type(value).__name__} that cannot be read as numbers ({err})."
            ) from None
    if not isinstance(value, (_ndarray, numbers.Number, list, tuple)) and not type(value).__module__.startswith(
        "numpy"
    ):
        kind = value.student_type() if is_kernel_object(value) else type(value).__name__
        raise AssertionError(f"{name} should be a NumPy array (or a number), not a {kind}.")
    try:
        arr = _asarray(value, dtype=_float64).copy()
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{name} cannot be converted to an array of numbers ({err}).") from None
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


# A student's value is recognised as a known wrong answer when it lies within this
# scale-relative distance of it: wide enough for the float32 differences between CPUs,
# BLAS/oneDNN kernels and summation orders (about 1e-6 of the values' scale), far
# below the distance between a wrong answer and the reference.
MISTAKE_TOL = 1e-4
# ... and only when it is this many times closer to the wrong answer than to the reference.
MISTAKE_MARGIN = 10.0


def _scaled_distance(a: _np.ndarray, b: _np.ndarray) -> float:
    """``max |a - b| / max(1e-8, max |a| + max |b|)``: an error relative to the arrays'
    scale, so that an entry near zero (cancellation in a float32 sum) does not count
    more than the others."""
    if a.size == 0:
        return 0.0
    return float(_max(_abs(a - b)) / _maximum(1e-8, _max(_abs(a)) + _max(_abs(b))))


def _known_mistake(arr: _np.ndarray, exp: _np.ndarray, mistakes, tol: float = 1e-6):
    """The message of the known wrong answer that ``arr`` matches, or None.

    ``arr`` matches ``wrong`` when their scaled distance is at most
    ``max(tol, MISTAKE_TOL)`` and at most 1/MISTAKE_MARGIN of the distance from
    ``arr`` to the reference ``exp``; of several matches the closest wins. So a
    wrong answer computed in float32, by another kernel or in another summation
    order than the student's, is still recognised, and a value that is merely
    inaccurate is never blamed on a mistake it does not make.
    """
    to_reference = _scaled_distance(arr, exp)
    best, best_distance = None, None
    for wrong, message in mistakes:
        wrong = to_float64(wrong, "a known mistake")
        if wrong.shape != arr.shape:
            continue
        distance = _scaled_distance(arr, wrong)
        if distance <= max(tol, MISTAKE_TOL) and distance * MISTAKE_MARGIN <= to_reference:
            if best_distance is None or distance < best_distance:
                best, best_distance = message, distance
    return best


def check_close(value, expected, name: str, tol: float = 1e-6, mistakes=()) -> float:
    """Assert that ``value`` matches ``expected`` (relative error below ``tol``).

    ``mistakes`` is a sequence of ``(wrong_answer, message)``: if the student's value
    matches a known wrong answer instead (see ``_known_mistake``: at a tolerance
    that survives float32 differences between machines), that message is raised.
    Returns the relative error, so a test can show it.
    """
    exp = to_float64(expected, "the reference")
    arr = check_shape(value, exp.shape, name)
    if not bool(_all(_isfinite(arr))):
        raise AssertionError(
            f"{name} contains NaN or inf: look for an overflow (exp of a large number) or a division by zero."
        )
    err = rel_error(arr, exp)
    if err <= tol:
        return err
    message = _known_mistake(arr, exp, mistakes, tol)
    if message is not None:
        raise AssertionError(f"{name} is wrong: {message}")
    raise AssertionError(
        f"{name} does not match the reference: relative error {err:.2e} (must be at most {tol:.0e}).{_worst(arr, exp)}"
    )


def _worst(arr: _np.ndarray, exp: _np.ndarray) -> str:
    """Where the error is largest: the index, and (unless hidden) the expected and actual values."""
    if arr.ndim == 0:
        return f" Expected {float(exp):.6g}, got {float(arr):.6g}." if _show_expected else ""
    errors = _abs(arr - exp) / _maximum(1e-8, _abs(arr) + _abs(exp))
    index = tuple(int(i) for i in _np.unravel_index(int(errors.argmax()), arr.shape))
    shown = index[0] if len(index) == 1 else index
    if not _show_expected:
        return f" The largest error is at index {shown}."
    return f" The largest error is at index {shown}: expected {float(exp[index]):.6g}, got {float(arr[index]):.6g}."


def check_scalar(value, expected: float, name: str, tol: float = 1e-6, mistakes=()) -> float:
    """Like :func:`check_close` for one number (a Python or NumPy scalar, or 0-d array)."""
    arr = to_float64(value, name)
    if arr.size != 1:
        raise AssertionError(f"{name} should be a single number, but has shape {tuple(arr.shape)}.")
    return check_close(
        arr.reshape(()),
        _asarray(expected, dtype=_float64).reshape(()),
        name,
        tol,
        [(_asarray(w, dtype=_float64).reshape(()), m) for w, m in mistakes],
    )
