"""Discrete convolution and cross-correlation of NumPy arrays, vectorised.

The two operations differ only by a flip of the kernel. For a signal ``x`` of
length ``N`` and a kernel ``w`` of length ``K`` (indices from 0):

- cross-correlation ``y[i] = sum_j w[j] * x[i + j]`` (what deep-learning
  "convolution" layers such as ``torch.nn.Conv2d`` compute);
- convolution ``y[i] = sum_j w[j] * x[i - j]`` (the textbook definition),
  which equals the cross-correlation with the reversed kernel ``w[::-1]``.

In 2-D, ``y[i, j] = sum_{k, l} w[k, l] * x[i + k, j + l]`` for correlation, and
convolution reverses both kernel axes (``w[::-1, ::-1]``).

``mode`` says which outputs are kept, as in NumPy and SciPy. Per axis, with an
input of length ``N`` and a kernel of length ``K``:

==========  ================  ==================================================
mode        output length     zero padding (before, after)
==========  ================  ==================================================
``valid``   ``N - K + 1``     ``(0, 0)``: the kernel stays inside the input
``same``    ``N``             ``((K - 1) // 2, K // 2)``, as PyTorch's
                              ``padding="same"``; for an odd ``K`` the kernel is
                              centred on each input sample
``full``    ``N + K - 1``     ``(K - 1, K - 1)``: every partial overlap
==========  ================  ==================================================

In every mode ``conv*(x, w, mode) == corr*(x, flip(w), mode)``: convolution is
*defined* here as correlation with the flipped kernel, on the same padded input.
(In modes ``valid`` and ``full`` this is exactly ``numpy.convolve`` /
``scipy.signal.convolve``, for any kernel; in ``same`` mode too for an odd ``K``,
while for an even ``K`` NumPy and SciPy both crop the full output one sample differently.)

Inputs may carry leading batch axes: ``corr2d`` of an array of shape
``(..., H, W)`` filters every ``(H, W)`` slice with the same kernel. The result
has the dtype NumPy gives ``image * kernel`` (integers stay exact integers).

The computation views every window of the padded input without copying it
(``numpy.lib.stride_tricks.sliding_window_view``) and contracts the window axes
with the kernel (``numpy.einsum``, which iterates over the view instead of
materialising it): besides the padded copy of the input, extra memory is
``O(output size)`` whatever the kernel size, so a large template is fine.

:func:`corr_matrix` returns the (dense) matrix of the linear map
``x -> corr(x, w)``: a Toeplitz matrix in 1-D, a doubly block Toeplitz matrix
in 2-D. Use it on small inputs only (it has ``N_out * N_in`` entries).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "MODES",
    "output_length",
    "pad_widths",
    "corr1d",
    "conv1d",
    "corr2d",
    "conv2d",
    "corr_matrix",
]

#: The accepted values of ``mode``.
MODES = ("valid", "same", "full")


def pad_widths(kernel_length: int, mode: str) -> tuple[int, int]:
    """Zeros added ``(before, after)`` the input along an axis of kernel length ``kernel_length``.

    ``valid``: ``(0, 0)``; ``same``: ``((K - 1) // 2, K // 2)``; ``full``: ``(K - 1, K - 1)``.
    """
    k = int(kernel_length)
    if k < 1:
        raise ValueError(f"a kernel needs at least one sample along each axis, got length {k}")
    if mode == "valid":
        return 0, 0
    if mode == "same":
        return (k - 1) // 2, k // 2
    if mode == "full":
        return k - 1, k - 1
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def output_length(input_length: int, kernel_length: int, mode: str = "valid") -> int:
    """Length of the output along one axis: ``N - K + 1``, ``N`` or ``N + K - 1``."""
    before, after = pad_widths(kernel_length, mode)
    return int(input_length) + before + after - int(kernel_length) + 1


def _correlate(x, w, mode: str, ndim: int) -> np.ndarray:
    """Cross-correlate the last ``ndim`` axes of ``x`` with the ``ndim``-D kernel ``w``."""
    x = np.asarray(x)
    w = np.ascontiguousarray(w)  # a flipped view would change einsum's summation order
    if w.ndim != ndim:
        raise ValueError(f"the kernel must be {ndim}-D, got shape {w.shape}")
    if x.ndim < ndim:
        raise ValueError(f"the input must have at least {ndim} dimension(s), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(w.dtype, np.number)):
        raise TypeError(f"input and kernel must be numeric, got {x.dtype} and {w.dtype}")
    if np.iscomplexobj(x) or np.iscomplexobj(w):
        raise TypeError("complex inputs are not supported (correlation would need a conjugate)")
    pads = [pad_widths(k, mode) for k in w.shape]
    spatial = x.shape[x.ndim - ndim :]
    out_shape = tuple(n + b + a - k + 1 for n, k, (b, a) in zip(spatial, w.shape, pads))
    if min(out_shape) < 1:
        raise ValueError(
            f"kernel {w.shape} is larger than input {spatial} in mode {mode!r}: "
            "the output would be empty (use mode='same' or 'full')"
        )
    if any(b or a for b, a in pads):
        x = np.pad(x, [(0, 0)] * (x.ndim - ndim) + pads)
    # windows[..., i, j, k, l] = x[..., i + k, j + l] (a strided view, no copy)
    windows = sliding_window_view(x, w.shape, axis=tuple(range(x.ndim - ndim, x.ndim)))
    letters = "abcdefgh"[:ndim]
    spec = f"...{letters.upper()}{letters},{letters}->...{letters.upper()}"
    return np.einsum(spec, windows, w)


def corr1d(x, w, mode: str = "valid") -> np.ndarray:
    """Cross-correlation ``y[i] = sum_j w[j] * x[i + j]`` along the last axis.

    x: ``(..., N)``; w: ``(K,)``. Returns ``(..., N_out)`` with ``N_out`` equal to
    ``N - K + 1`` (``valid``), ``N`` (``same``) or ``N + K - 1`` (``full``); the
    input is zero-padded as in :func:`pad_widths`. Matches
    ``torch.nn.functional.conv1d`` (which correlates) with padding ``0``,
    ``"same"`` or ``K - 1``.
    """
    return _correlate(x, w, mode, 1)


def conv1d(x, w, mode: str = "valid") -> np.ndarray:
    """Convolution ``y[i] = sum_j w[j] * x[i - j]`` along the last axis.

    x: ``(..., N)``; w: ``(K,)``; output as :func:`corr1d`. Equal to
    ``corr1d(x, w[::-1], mode)``; for modes ``valid`` and ``full`` it equals
    ``numpy.convolve(x, w, mode)``.
    """
    w = np.asarray(w)
    if w.ndim != 1:
        raise ValueError(f"the kernel must be 1-D, got shape {w.shape}")
    return _correlate(x, w[::-1], mode, 1)


def corr2d(image, kernel, mode: str = "valid") -> np.ndarray:
    """Cross-correlation ``y[i, j] = sum_{k,l} kernel[k, l] * image[i + k, j + l]``.

    image: ``(..., H, W)``; kernel: ``(KH, KW)``. Returns ``(..., H_out, W_out)``
    with, per axis, ``N - K + 1`` (``valid``), ``N`` (``same``) or ``N + K - 1``
    (``full``), the image being zero-padded as in :func:`pad_widths`. This is what
    ``torch.nn.functional.conv2d`` / ``torch.nn.Conv2d`` compute for one channel.
    """
    return _correlate(image, kernel, mode, 2)


def conv2d(image, kernel, mode: str = "valid") -> np.ndarray:
    """Convolution ``y[i, j] = sum_{k,l} kernel[k, l] * image[i - k, j - l]``.

    image: ``(..., H, W)``; kernel: ``(KH, KW)``; output as :func:`corr2d`. Equal to
    ``corr2d(image, kernel[::-1, ::-1], mode)``: the kernel turned by 180 degrees.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"the kernel must be 2-D, got shape {kernel.shape}")
    return _correlate(image, kernel[::-1, ::-1], mode, 2)


def corr_matrix(kernel, input_shape, mode: str = "valid") -> np.ndarray:
    """The matrix ``T`` of the linear map ``x -> corr(x, kernel, mode)``, dense.

    kernel: ``(K,)`` or ``(KH, KW)``; input_shape: ``(N,)`` or ``(H, W)`` (an int is
    accepted for 1-D). Returns ``T`` of shape ``(prod(out_shape), prod(input_shape))``
    such that ``T @ x.ravel() == corr(x, kernel, mode).ravel()`` (row-major order).
    In 1-D ``T`` is Toeplitz (constant along each diagonal); in 2-D it is doubly
    block Toeplitz. For convolution use the flipped kernel. Column ``n`` is the
    response to the ``n``-th unit impulse, which is how it is built.
    """
    kernel = np.asarray(kernel)
    shape = (int(input_shape),) if np.isscalar(input_shape) else tuple(int(s) for s in input_shape)  # type: ignore[arg-type]
    if kernel.ndim not in (1, 2) or len(shape) != kernel.ndim:
        raise ValueError(f"kernel {kernel.shape} and input shape {shape} must both be 1-D or both 2-D")
    size = int(np.prod(shape))
    impulses = np.eye(size, dtype=np.result_type(kernel.dtype, np.int8)).reshape((size,) + shape)
    responses = _correlate(impulses, kernel, mode, kernel.ndim)
    return responses.reshape(size, -1).T.copy()
