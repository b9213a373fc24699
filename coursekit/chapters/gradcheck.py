"""Numerical gradients by centred differences, as chapters 1 and 4 build them.

Homework 1 asks students to write :func:`numerical_gradient` themselves, so this module
is one of the chapters' own (:mod:`coursekit.chapters`): the grader's kernels cannot
import it. Homework that wants a gradient check uses
:func:`coursekit.gradcheck.gradient_error`, which returns only the error.

Compare in float64: with float32 the rounding error of ``f(x + h) - f(x - h)``
swamps the truncation error for any useful ``h``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coursekit.gradcheck import rel_error

__all__ = ["numerical_gradient", "numerical_gradient_array", "rel_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` (any shape) by centred differences.

    ``df/dx_i ≈ (f(x + h e_i) - f(x - h e_i)) / (2h)``; the error is O(h²).
    ``x`` is modified in place during the evaluation and restored afterwards.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, upstream: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * upstream)`` with respect to ``x``.

    This is what a layer's backward pass returns when the gradient arriving from
    above is ``upstream`` (same shape as ``f(x)``).
    """
    return numerical_gradient(lambda z: float(np.sum(f(z) * upstream)), x, h)
