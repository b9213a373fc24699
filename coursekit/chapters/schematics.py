"""Schematic figures for the convolution chapters, drawn with matplotlib.

Each function draws one figure from the numbers it is given and returns the figure, so a
page can show it and a test can check what was drawn. The patches that carry meaning
have a ``gid`` ("window", "filter", "output", "row", "padding") for those checks.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle


def patch_matrix(x, k: int, stride: int = 1) -> np.ndarray:
    """im2col of one 2-D array: one row per k x k window (row-major order), one column per tap."""
    x = np.asarray(x)
    H, W = x.shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    return np.array(
        [x[i * stride : i * stride + k, j * stride : j * stride + k].ravel() for i in range(Ho) for j in range(Wo)]
    )


def _grid(ax, x0, y0, rows, cols, cell=1.0, face="white", edge="0.4", lw=0.6, gid=None, alpha=1.0):
    """Draw a rows x cols grid of square cells with top-left corner (x0, y0); y grows upwards."""
    for r in range(rows):
        for c in range(cols):
            p = Rectangle(
                (x0 + c * cell, y0 - (r + 1) * cell), cell, cell, facecolor=face, edgecolor=edge, lw=lw, alpha=alpha
            )
            if gid:
                p.set_gid(gid)
            ax.add_patch(p)


def draw_filter_depth(c_in: int = 3, size: int = 7, k: int = 3, c_out: int = 4, at=(1, 2), out: int = 1):
    """An input of c_in x size x size, one filter of c_in x k x k, and the one output value it gives.

    The input channels are drawn as stacked sheets; the window at output position ``at`` is
    highlighted in every channel (the filter spans the full depth), the filter is drawn as
    c_in small k x k slices, and the output is c_out stacked maps of (size - k + 1)^2 with the
    single value produced highlighted in map ``out``.
    """
    fig, ax = plt.subplots(figsize=(10, 3.6))
    off = 0.9  # offset between stacked sheets
    colours = ["#d62728", "#2ca02c", "#1f77b4"] + [f"C{i}" for i in range(3, 10)]
    i, j = at
    for c in reversed(range(c_in)):  # back sheets first
        _grid(ax, c * off, size + c * off, size, size, face="#f4f4f4", alpha=0.6)
    for c in reversed(range(c_in)):  # the window, drawn over every sheet
        _grid(ax, c * off + j, size + c * off - i, k, k, face=colours[c % len(colours)], alpha=0.6, gid="window")
    ax.text(
        size / 2 + (c_in - 1) * off / 2, -1.0, f"input: {c_in} x {size} x {size}", ha="center", va="top", fontsize=9
    )
    fx = size + c_in * off + 3  # the filter, one k x k slice per channel
    for c in reversed(range(c_in)):
        _grid(
            ax, fx + c * off, size / 2 + k / 2 + c * off, k, k, face=colours[c % len(colours)], alpha=0.8, gid="filter"
        )
    ax.text(
        fx + k / 2 + (c_in - 1) * off / 2,
        size / 2 - k / 2 - 1.0,
        f"filter {out}: {c_in} x {k} x {k}\n= {c_in * k * k} weights + 1 bias",
        ha="center",
        va="top",
        fontsize=9,
    )
    so = size - k + 1  # the output maps
    ox = fx + k + c_in * off + 4
    for o in reversed(range(c_out)):
        _grid(
            ax, ox + o * off * 0.8, so + 1 + o * off * 0.8, so, so, face="#ffe9a8" if o == out else "#f4f4f4", alpha=0.6
        )
    _grid(
        ax, ox + out * off * 0.8 + j, so + 1 + out * off * 0.8 - i, 1, 1, face="black", alpha=0.85, gid="output"
    )  # the one value, drawn over the stack
    ax.text(
        ox + so / 2 + (c_out - 1) * off * 0.4, -1.0, f"output: {c_out} x {so} x {so}", ha="center", va="top", fontsize=9
    )
    ax.annotate(
        "",
        xy=(fx - 0.5, size / 2),
        xytext=(size + (c_in - 1) * off + 0.5, size / 2),
        arrowprops=dict(arrowstyle="->", lw=1.2),
    )
    ax.annotate(
        "",
        xy=(ox - 0.5, size / 2),
        xytext=(fx + k + (c_in - 1) * off + 0.5, size / 2),
        arrowprops=dict(arrowstyle="->", lw=1.2),
    )
    ax.text(
        (fx + k + ox) / 2 + (c_in - 1) * off / 2,
        size / 2 + 0.4,
        "sum of\n" + f"{c_in * k * k} products",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    ax.set_xlim(-0.5, ox + so + c_out * off + 0.5)
    ax.set_ylim(-3.2, size + c_in * off + 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(
        f"One output value reads a {k}x{k} window in all {c_in} input channels (map {out} of {c_out}, position {at})",
        fontsize=10,
    )
    return fig


def draw_im2col(x, k: int = 3, stride: int = 1, show: int = 3):
    """im2col of a small 2-D array with its numbers: the first ``show`` windows become rows."""
    x = np.asarray(x)
    H, W = x.shape
    cols = patch_matrix(x, k, stride)
    Wo = (W - k) // stride + 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [W, k * k]})
    colours = [f"C{n}" for n in range(10)]
    ax = axes[0]
    _grid(ax, 0, H, H, W)
    for r in range(H):
        for c in range(W):
            ax.text(c + 0.5, H - r - 0.5, f"{x[r, c]:g}", ha="center", va="center", fontsize=9)
    for n in range(min(show, len(cols))):
        i, j = divmod(n, Wo)
        inset = 0.06 * (n + 1)
        p = Rectangle(
            (j * stride + inset, H - i * stride - k + inset),
            k - 2 * inset,
            k - 2 * inset,
            fill=False,
            edgecolor=colours[n % 10],
            lw=2.5,
        )
        p.set_gid("window")
        ax.add_patch(p)
    ax.set_title(f"input {H}x{W}, {k}x{k} windows, stride {stride}", fontsize=10)
    ax = axes[1]
    R, C = cols.shape
    _grid(ax, 0, R, R, C)
    for n in range(min(show, R)):
        p = Rectangle((0, R - n - 1), C, 1, facecolor=colours[n % 10], alpha=0.3, edgecolor=colours[n % 10], lw=2)
        p.set_gid("row")
        ax.add_patch(p)
    for r in range(R):
        for c in range(C):
            ax.text(c + 0.5, R - r - 0.5, f"{cols[r, c]:g}", ha="center", va="center", fontsize=9)
    ax.set_title(f"patch matrix: {R} windows (rows) x {C} taps (columns)", fontsize=10)
    for ax, (w, h) in zip(axes, [(W, H), (C, R)]):
        ax.set_xlim(-0.2, w + 0.2)
        ax.set_ylim(-0.2, h + 0.2)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout()
    return fig


def draw_stride_padding(n: int = 5, k: int = 3, stride: int = 2, pad: int = 1):
    """The windows of the first output row of a k x k kernel on an n x n input, padded and strided.

    One panel per output position of the first row, then the output grid; padding cells are grey.
    """
    m = n + 2 * pad
    n_out = (m - k) // stride + 1
    fig, axes = plt.subplots(1, n_out + 1, figsize=(2.6 * (n_out + 1), 2.9))
    for col, ax in enumerate(axes[:-1]):
        for r in range(m):
            for c in range(m):
                is_pad = not (pad <= r < pad + n and pad <= c < pad + n)
                p = Rectangle((c, m - r - 1), 1, 1, facecolor="0.8" if is_pad else "white", edgecolor="0.4", lw=0.6)
                if is_pad:
                    p.set_gid("padding")
                ax.add_patch(p)
        w = Rectangle((col * stride, m - k), k, k, facecolor=f"C{col}", alpha=0.45, edgecolor=f"C{col}", lw=2)
        w.set_gid("window")
        ax.add_patch(w)
        ax.set_title(f"output (0, {col}): columns {col * stride}..{col * stride + k - 1}", fontsize=9)
    ax = axes[-1]
    for r in range(n_out):
        for c in range(n_out):
            ax.add_patch(
                Rectangle(
                    (c, n_out - r - 1),
                    1,
                    1,
                    facecolor=f"C{c}" if r == 0 else "white",
                    alpha=0.45 if r == 0 else 1,
                    edgecolor="0.4",
                    lw=0.6,
                )
            )
    ax.set_title(f"output {n_out}x{n_out}", fontsize=9)
    for a, size in zip(axes, [m] * n_out + [n_out]):
        a.set_xlim(-0.2, size + 0.2)
        a.set_ylim(-0.2, size + 0.2)
        a.set_aspect("equal")
        a.axis("off")
    fig.suptitle(
        f"{n}x{n} input, padding {pad} (grey), {k}x{k} kernel, stride {stride}: "
        f"floor(({n} + 2*{pad} - {k}) / {stride}) + 1 = {n_out} outputs per row",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
