"""Checking a hand-written gradient: ``rel_error`` and :func:`gradient_error`.

:func:`gradient_error` compares a backward pass with centred differences and returns
only how far apart they are, so homework can ask students to check their own layers
with it (CS231n-style) without handing them a numerical gradient, which homework 1
asks them to write (the chapters' version is :mod:`coursekit.chapters.gradcheck`).

Compare in float64: with float32 the rounding error of ``f(x + h) - f(x - h)``
swamps the truncation error for any useful ``h``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rel_error(a, b) -> float:
    """``max |a - b| / max(1e-8, |a| + |b|)``, elementwise then the maximum.

    In float64, a backward pass compared with autograd differs by rounding error only
    (chapter 1 asserts below 1e-14), and compared with centred differences at h = 1e-5 a
    correct one stays below about 1e-8 (as :func:`gradient_error` says); ~1e-2 or more
    means a bug.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def gradient_error(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dx: np.ndarray,
    upstream: np.ndarray | None = None,
    h: float = 1e-5,
) -> float:
    """How far the gradient ``dx`` that a backward pass gave is from centred differences.

    ``f`` maps ``x`` (float64, any shape) to an output array; ``upstream`` (same shape as
    ``f(x)``, default: ones) is the gradient arriving from above, so ``dx`` should be the
    gradient of ``sum(f(x) * upstream)`` with respect to ``x``. Returns
    :func:`rel_error` between ``dx`` and the numerical gradient: about 1e-8 or less for a
    correct float64 backward pass, 1e-2 or more for a wrong one. ``x`` is left unchanged.
    """
    x = np.array(x, dtype=np.float64)
    out = np.asarray(f(x.copy()), dtype=np.float64)
    up = np.ones_like(out) if upstream is None else np.asarray(upstream, dtype=np.float64)
    if up.shape != out.shape:
        raise ValueError(f"upstream has shape {up.shape}, f(x) has shape {out.shape}")
    dx = np.asarray(dx, dtype=np.float64)
    if dx.shape != x.shape:
        raise ValueError(f"dx has shape {dx.shape}, x has shape {x.shape}")
    flat = x.reshape(-1)
    numeric = np.empty(flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = float(np.sum(np.asarray(f(x.copy()), dtype=np.float64) * up))
        flat[i] = old - h
        minus = float(np.sum(np.asarray(f(x.copy()), dtype=np.float64) * up))
        flat[i] = old
        numeric[i] = (plus - minus) / (2 * h)
    return rel_error(dx, numeric.reshape(x.shape))
