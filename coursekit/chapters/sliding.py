"""Chapter 10's toolkit: lines of handwritten digits, reading them, and shift measures.

A *line* is a grey-level canvas ``(28, L)`` float32 in [0, 1], made by placing real
digits ``(28, 28)`` side by side, each trimmed to its inked columns, with gaps that may be
negative (the digits then touch or overlap; overlapping ink is combined by a maximum).
A *score map* is what a network that slides over the line returns: ``(C, T)``, one column
of scores per window position, the last class ``C - 1`` meaning "no digit centred here".
"""

from __future__ import annotations

import numpy as np


def ink_columns(image: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """``(first, stop)``: the columns of ``image`` ``(H, W)`` that hold ink above ``threshold``.

    ``image[:, first:stop]`` is the narrowest slice that keeps every such pixel; a blank
    image gives ``(0, 0)``.
    """
    cols = np.flatnonzero((np.asarray(image) > threshold).any(axis=0))
    if cols.size == 0:
        return 0, 0
    return int(cols[0]), int(cols[-1]) + 1


def compose_line(images, gaps, margin: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Place digits side by side: ``(canvas, centres)``.

    ``images``: ``(n, H, W)`` digits; ``gaps``: ``n - 1`` integers, the number of blank
    columns between the inked parts of neighbours (negative: they overlap by that many
    columns, and the ink is combined by a pixel-wise maximum). ``margin`` blank columns
    go before the first digit and after the last. Returns ``canvas`` ``(H, L)`` of the
    images' dtype and ``centres`` ``(n,)`` float64, the centre column of each digit's ink
    on the canvas (the midpoint of its first and last inked column).
    """
    images = np.asarray(images)
    gaps = [int(g) for g in gaps]
    if len(gaps) != len(images) - 1:
        raise ValueError(f"{len(images)} digits need {len(images) - 1} gaps, got {len(gaps)}")
    parts = [image[:, slice(*ink_columns(image))] for image in images]
    starts, x = [], margin
    for k, part in enumerate(parts):
        starts.append(x)
        x += part.shape[1] + (gaps[k] if k < len(gaps) else 0)
    width = max(s + p.shape[1] for s, p in zip(starts, parts)) + margin
    canvas = np.zeros((images.shape[1], width), dtype=images.dtype)
    for s, part in zip(starts, parts):
        np.maximum(canvas[:, s : s + part.shape[1]], part, out=canvas[:, s : s + part.shape[1]])
    centres = np.array([s + (p.shape[1] - 1) / 2 for s, p in zip(starts, parts)])
    return canvas, centres


def window_targets(
    positions, centres, labels, near: float, far: float, background: int, ignore: int = -100
) -> np.ndarray:
    """Training target of each window: a digit, "no digit centred here", or ignored.

    ``positions``: ``(T,)`` centre columns of the windows; ``centres``, ``labels``: ``(n,)``
    the digits' centres and classes. A window whose nearest digit centre lies within
    ``near`` columns gets that digit's label, one whose nearest centre is ``far`` or more
    away gets ``background``, and the windows in between get ``ignore``. Returns ``(T,)`` int64.
    """
    positions = np.asarray(positions, dtype=np.float64)
    dist = np.abs(positions[:, None] - np.asarray(centres, dtype=np.float64)[None, :])
    nearest = dist.argmin(axis=1)
    d = dist[np.arange(len(positions)), nearest]
    out = np.full(len(positions), ignore, dtype=np.int64)
    out[d <= near] = np.asarray(labels)[nearest[d <= near]]
    out[d >= far] = background
    return out


def blank_segments(canvas: np.ndarray, threshold: float = 0.0) -> list[tuple[int, int]]:
    """Runs of inked columns of ``canvas`` ``(H, L)``, separated by blank ones: ``[(start, stop), ...]``.

    A column is blank when no pixel exceeds ``threshold``. This is the classical
    segmentation that touching digits defeat: two digits that share a column form one run.
    """
    inked = (np.asarray(canvas) > threshold).any(axis=0).astype(np.int8)
    edges = np.diff(np.concatenate([[0], inked, [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def digit_gain(log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(gain, best)`` of a log-probability map ``(C, T)`` whose last class is the background.

    ``best[t]``: the most probable digit at position ``t``; ``gain[t]``: its log-probability
    minus the background's, the log-odds of "digit ``best[t]`` is centred here" against
    "nothing is" (positive where the digit wins).
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    best = log_probs[:-1].argmax(axis=0)
    gain = log_probs[best, np.arange(log_probs.shape[1])] - log_probs[-1]
    return gain, best


def nms_decode(gain: np.ndarray, radius: int, threshold: float = 0.0) -> list[int]:
    """Greedy non-maximum suppression over a 1-D map: the kept positions, left to right.

    Repeatedly keep the position of largest ``gain`` (above ``threshold``) and drop every
    position within ``radius`` of it; ties go to the leftmost position.
    """
    gain = np.asarray(gain, dtype=np.float64)
    alive = gain > threshold
    kept = []
    for t in np.argsort(-gain, kind="stable"):
        if alive[t]:
            kept.append(int(t))
            alive[max(0, t - radius) : t + radius + 1] = False
    return sorted(kept)


def dp_decode(gain: np.ndarray, min_gap: int) -> tuple[list[int], float]:
    """The set of positions, any two at least ``min_gap`` apart, of largest total ``gain``.

    A dynamic programme over positions (the best total up to ``t`` either skips ``t`` or
    takes it and continues from ``t - min_gap``); positions with a negative gain are never
    worth taking. Returns the positions, left to right, and their total gain. Ties go to
    skipping, so that of two equal totals the one with fewer positions wins.
    """
    gain = np.asarray(gain, dtype=np.float64)
    T = len(gain)
    best = np.zeros(T + 1)  # best[t]: best total over positions < t
    take = np.zeros(T + 1, dtype=bool)
    for t in range(T):
        with_t = gain[t] + best[max(0, t + 1 - min_gap)]
        take[t + 1] = with_t > best[t]
        best[t + 1] = with_t if take[t + 1] else best[t]
    kept, t = [], T
    while t > 0:
        if take[t]:
            kept.append(t - 1)
            t = max(0, t - min_gap)
        else:
            t -= 1
    return kept[::-1], float(best[T])


def translate(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images ``(..., H, W)`` moved ``dy`` rows down and ``dx`` columns right; vacated pixels are 0.

    The translation of chapter 5: pixels pushed over the border are lost, not wrapped.
    """
    x = np.asarray(x)
    out = np.zeros_like(x)
    H, W = x.shape[-2:]
    out[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        ..., max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def relative_change(before: np.ndarray, after: np.ndarray) -> float:
    """Chapter 5's measure of invariance: ``||after - before|| / ||before||`` over whole arrays.

    ``before`` and ``after`` have the same shape (for instance ``(N, D)``, the features of
    ``N`` images and of the same images shifted); 0 means exactly invariant.
    """
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    return float(np.sqrt(np.sum((after - before) ** 2) / np.sum(before**2)))


def receptive_field(layers) -> list[int]:
    """Receptive-field size after each layer of ``[(kernel, stride, dilation), ...]``, input first.

    Chapter 4's rule: a layer adds ``dilation * (kernel - 1)`` steps of the jump between
    neighbouring units of its input, and multiplies that jump by its stride.
    """
    size, jump, sizes = 1, 1, []
    for kernel, stride, dilation in layers:
        size += dilation * (kernel - 1) * jump
        jump *= stride
        sizes.append(size)
    return sizes
