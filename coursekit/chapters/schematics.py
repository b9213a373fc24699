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


def _cell_text(ax, x, y, value, gid, fmt="{:g}", **kw):
    """Write ``value`` at (x, y) with the given gid (the tests read the numbers back)."""
    kw = {"ha": "center", "va": "center", **kw}
    t = ax.text(x, y, fmt.format(value), **kw)
    t.set_gid(gid)
    return t


def _finish(ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_backprop(x, h, y_hat, y_star, delta_h, delta_y):
    """One example through a network with one hidden layer: forward values and δ signals.

    ``x`` (d,), ``h`` (M,) and ``y_hat`` (K,) are the forward values, written in the units
    (texts with gid "forward", in that order); ``delta_h`` (M,) and ``delta_y`` (K,) are
    the error signals at the pre-activations, written under the hidden and output units
    (gid "delta", hidden first); ``y_star`` is the one-hot target, written beside the
    outputs (gid "target"). Every connection is a line with gid "edge"; the arrows above
    (gid "forward-arrow") and below (gid "backward-arrow") give the equations of each step.
    """
    x, h, y_hat, y_star = (np.ravel(np.asarray(a, dtype=float)) for a in (x, h, y_hat, y_star))
    delta_h, delta_y = np.ravel(np.asarray(delta_h, dtype=float)), np.ravel(np.asarray(delta_y, dtype=float))
    d, M, K = len(x), len(h), len(y_hat)
    if len(delta_h) != M or len(delta_y) != K or len(y_star) != K:
        raise ValueError(f"shapes differ: h {M}, delta_h {len(delta_h)}, y_hat {K}, delta_y {len(delta_y)}")
    cols = [0.0, 5.0, 10.0]  # x positions of the three layers
    tallest = max(d, M, K)
    ys = [tallest - 1 - (tallest - n) / 2 - np.arange(n) * 1.0 for n in (d, M, K)]
    fig, ax = plt.subplots(figsize=(9, 1.9 + 0.6 * tallest))
    for (c0, y0), (c1, y1) in [((cols[0], ys[0]), (cols[1], ys[1])), ((cols[1], ys[1]), (cols[2], ys[2]))]:
        for a in y0:
            for b in y1:
                (line,) = ax.plot([c0 + 0.4, c1 - 0.4], [a, b], color="0.8", lw=0.7, zorder=1)
                line.set_gid("edge")
    colours = ["#dbe9f6", "#fde0c5", "#d9f0d3"]
    for col, yy, values, colour in zip(cols, ys, (x, h, y_hat), colours):
        for yv, v in zip(yy, values):
            ax.add_patch(plt.Circle((col, yv), 0.4, facecolor=colour, edgecolor="0.3", lw=0.8, zorder=2))
            _cell_text(ax, col, yv, v, "forward", "{:.2f}", fontsize=8, zorder=3)
    for col, yy, deltas in ((cols[1], ys[1], delta_h), (cols[2], ys[2], delta_y)):
        for yv, v in zip(yy, deltas):
            _cell_text(ax, col + 0.55, yv - 0.3, v, "delta", "δ={:+.3f}", fontsize=7, color="C3", ha="left")
    for yv, t in zip(ys[2], y_star):
        _cell_text(ax, cols[2] + 0.55, yv + 0.22, t, "target", "y*={:g}", fontsize=7, color="0.35", ha="left")
    top, bottom = ys[0].max() + 1.3, min(y.min() for y in ys) - 1.5
    for col, label in zip(cols, (f"x: 1×{d}", f"u, h: 1×{M}", f"s, ŷ: 1×{K}")):
        ax.text(col, bottom + 0.55, label, ha="center", va="center", fontsize=9)
    for mid, label in zip((2.5, 7.5), (f"$W^h$: {d}×{M}", f"$W^y$: {M}×{K}")):
        ax.text(mid, top - 0.75, label, ha="center", va="center", fontsize=9)
    steps = [
        (cols[0], cols[1], top, r"$u = xW^h + b^h,\ h = \sigma(u)$", "forward-arrow", "black"),
        (cols[1], cols[2], top, r"$s = hW^y + b^y,\ \hat y = \mathrm{softmax}(s)$", "forward-arrow", "black"),
        (
            cols[2],
            cols[1],
            bottom,
            r"$\delta^y = \hat y - y^*$, $\partial\ell/\partial W^y = h^\top\delta^y$",
            "backward-arrow",
            "C3",
        ),
        (
            cols[1],
            cols[0],
            bottom,
            r"$\delta^h = (\delta^y W^{y\top}) \odot h(1-h)$, "
            r"$\partial\ell/\partial W^h = x^\top\delta^h$",
            "backward-arrow",
            "C3",
        ),
    ]
    for a, b, yv, label, gid, colour in steps:
        arrow = ax.annotate("", xy=(b, yv), xytext=(a, yv), arrowprops=dict(arrowstyle="->", lw=1.4, color=colour))
        arrow.set_gid(gid)
        ax.text(
            (a + b) / 2,
            yv + (0.25 if gid == "forward-arrow" else -0.3),
            label,
            ha="center",
            va="bottom" if gid == "forward-arrow" else "top",
            fontsize=8.5,
            color=colour,
        )
    _finish(ax, (-1.0, 12.2), (bottom - 0.9, top + 0.8))
    ax.set_title(
        f"One example through a {d}-{M}-{K} network: forward values in the units, δ signals (red) flowing back",
        fontsize=10,
    )
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
    return fig


def overlap_add(g, k, stride: int = 1) -> np.ndarray:
    """Transposed convolution of a 2-D array ``g`` with kernel ``k``: every g[i, j] pastes
    g[i, j] * k at rows i*stride.., columns j*stride.. of the output, and overlaps add up."""
    g, k = np.asarray(g, dtype=float), np.asarray(k, dtype=float)
    (gh, gw), (kh, kw) = g.shape, k.shape
    out = np.zeros(((gh - 1) * stride + kh, (gw - 1) * stride + kw))
    for i in range(gh):
        for j in range(gw):
            out[i * stride : i * stride + kh, j * stride : j * stride + kw] += g[i, j] * k
    return out


def draw_overlap_add(g, k, stride: int = 2):
    """The transposed convolution of ``g`` with ``k`` as a sum of scaled kernel copies.

    Top row: ``g``, the kernel, and how many copies cover each output pixel (the overlap
    count, texts with gid "count"). Bottom row: one panel per entry of ``g`` with the copy
    g[i, j] * k on the output grid (gid "copy": one patch per covered pixel), then their
    sum (texts with gid "sum", row-major), which is :func:`overlap_add`.
    """
    g, k = np.asarray(g, dtype=float), np.asarray(k, dtype=float)
    out = overlap_add(g, k, stride)
    count = overlap_add(np.ones_like(g), np.ones_like(k), stride)
    H, W = out.shape
    n = g.size
    fig = plt.figure(figsize=(1.9 * (n + 1), 4.4))
    grid = fig.add_gridspec(2, n + 1)
    top = [fig.add_subplot(grid[0, c]) for c in range(3)]
    bottom = [fig.add_subplot(grid[1, c]) for c in range(n + 1)]
    for ax, arr, title, gid in ((top[0], g, f"g: {g.shape[0]}x{g.shape[1]}", "g"), (top[1], k, "kernel", "k")):
        rows, cols = arr.shape
        _grid(ax, 0, rows, rows, cols)
        for r in range(rows):
            for c in range(cols):
                _cell_text(ax, c + 0.5, rows - r - 0.5, arr[r, c], gid, fontsize=9)
        ax.set_title(title, fontsize=9)
        _finish(ax, (-0.2, cols + 0.2), (-0.2, rows + 0.2))
    ax = top[2]
    shades = plt.get_cmap("Greys")
    for r in range(H):
        for c in range(W):
            ax.add_patch(
                Rectangle((c, H - r - 1), 1, 1, facecolor=shades(0.1 + 0.18 * count[r, c]), edgecolor="0.4", lw=0.6)
            )
            _cell_text(
                ax, c + 0.5, H - r - 0.5, count[r, c], "count", fontsize=9, color="white" if count[r, c] > 2 else "k"
            )
    ax.set_title(f"copies per output pixel (stride {stride})", fontsize=9)
    _finish(ax, (-0.2, W + 0.2), (-0.2, H + 0.2))
    for idx, ax in enumerate(bottom[:-1]):
        i, j = divmod(idx, g.shape[1])
        _grid(ax, 0, H, H, W, edge="0.75")
        for r in range(k.shape[0]):
            for c in range(k.shape[1]):
                p = Rectangle((j * stride + c, H - i * stride - r - 1), 1, 1, facecolor=f"C{idx % 10}", alpha=0.35)
                p.set_gid("copy")
                ax.add_patch(p)
                ax.text(
                    j * stride + c + 0.5,
                    H - i * stride - r - 0.5,
                    f"{g[i, j] * k[r, c] + 0.0:g}",  # + 0.0: no "-0"
                    ha="center",
                    va="center",
                    fontsize=8,
                )
        ax.set_title(f"g[{i},{j}] = {g[i, j]:g} times the kernel", fontsize=8)
        _finish(ax, (-0.2, W + 0.2), (-0.2, H + 0.2))
        ax.text(W + 0.25, H / 2, "+" if idx < n - 1 else "=", ha="left", va="center", fontsize=14)
    ax = bottom[-1]
    _grid(ax, 0, H, H, W)
    for r in range(H):
        for c in range(W):
            _cell_text(ax, c + 0.5, H - r - 0.5, out[r, c], "sum", fontsize=9)
    ax.set_title(f"sum: {H}x{W} output", fontsize=9)
    _finish(ax, (-0.2, W + 0.2), (-0.2, H + 0.2))
    fig.suptitle(
        f"Transposed convolution, stride {stride}: one scaled copy of the kernel per entry of g, "
        "added up where the copies overlap",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def dilate_kernel(k, dilation: int) -> np.ndarray:
    """The kernel ``k`` (2-D) with ``dilation - 1`` zeros inserted between its taps."""
    k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    out = np.zeros((dilation * (kh - 1) + 1, dilation * (kw - 1) + 1))
    out[::dilation, ::dilation] = k
    return out


def draw_dilated_taps(k, dilations=(1, 2, 4), size: int | None = None):
    """Where the taps of kernel ``k`` fall on the input grid, one panel per dilation.

    Each tap is a coloured cell with the kernel value in it (patches with gid "tap"); the
    square that the dilated kernel spans is outlined (gid "span"). The grid has ``size``
    cells a side (default: the span of the largest dilation plus a border of one cell).
    """
    k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    spans = [(d * (kh - 1) + 1, d * (kw - 1) + 1) for d in dilations]
    n = size if size is not None else max(max(s) for s in spans) + 2
    fig, axes = plt.subplots(1, len(dilations), figsize=(3.0 * len(dilations), 3.3))
    for ax, d, (sh, sw) in zip(np.atleast_1d(axes), dilations, spans):
        _grid(ax, 0, n, n, n, edge="0.8")
        r0, c0 = (n - sh) // 2, (n - sw) // 2
        span = Rectangle((c0, n - r0 - sh), sw, sh, fill=False, edgecolor="C0", lw=1.5, ls="--")
        span.set_gid("span")
        ax.add_patch(span)
        dk = dilate_kernel(k, d)
        for r, c in zip(*np.nonzero(dilate_kernel(np.ones_like(k), d))):
            p = Rectangle((c0 + c, n - r0 - r - 1), 1, 1, facecolor="C1", alpha=0.55, edgecolor="0.3", lw=0.6)
            p.set_gid("tap")
            ax.add_patch(p)
            _cell_text(ax, c0 + c + 0.5, n - r0 - r - 0.5, dk[r, c], "tap", fontsize=8)
        ax.set_title(f"dilation {d}: {k.size} taps span {sh}x{sw}", fontsize=9)
        _finish(ax, (-0.2, n + 0.2), (-0.2, n + 0.2))
    fig.tight_layout()
    return fig


def draw_maxpool_routing(x, out, arg, dx, k: int, stride: int, dout=None):
    """Max pooling of a small 2-D map, forward and backward, with the numbers.

    Left: the input ``x``, windows outlined, the element that each window picked (``arg``,
    its flat row-major index within the window) filled (gid "argmax") and the other
    elements equal to the window's maximum hatched (gid "tie"). Middle: the pooled output
    ``out``, with the upstream gradient ``dout`` (default: ones). Right: the gradient
    ``dx`` with respect to the input. One arrow per window goes forward from its argmax to
    its output (gid "forward"), and one back from the output to the element that receives
    the gradient (gid "backward"); the texts of the three grids have gids "x", "out", "dx".
    """
    x, out, dx = (np.asarray(a, dtype=float) for a in (x, out, dx))
    arg = np.asarray(arg)
    dout = np.ones_like(out) if dout is None else np.asarray(dout, dtype=float)
    H, W = x.shape
    Ho, Wo = out.shape
    gap = 3.0
    ox, gx = W + gap, W + gap + Wo + gap  # left edges of the output and gradient grids
    oy = (H - Ho) / 2  # the output grid, centred vertically
    fig, ax = plt.subplots(figsize=(0.62 * (2 * W + Wo + 2 * gap + 0.6), 0.62 * (H + 2.2) + 0.4))
    colours = [f"C{n}" for n in range(10)]
    _grid(ax, 0, H, H, W)
    _grid(ax, gx, H, H, W)
    _grid(ax, ox, oy + Ho, Ho, Wo)
    for i in range(Ho):
        for j in range(Wo):
            colour = colours[(i * Wo + j) % 10]
            r0, c0 = i * stride, j * stride
            window = x[r0 : r0 + k, c0 : c0 + k]
            ar, ac = r0 + int(arg[i, j]) // k, c0 + int(arg[i, j]) % k
            for r, c in zip(*np.nonzero(window == window.max())):
                if (r0 + r, c0 + c) != (ar, ac):
                    p = Rectangle((c0 + c, H - r0 - r - 1), 1, 1, fill=False, hatch="///", edgecolor=colour, lw=0)
                    p.set_gid("tie")
                    ax.add_patch(p)
            p = Rectangle((ac, H - ar - 1), 1, 1, facecolor=colour, alpha=0.45, edgecolor=colour, lw=1.5)
            p.set_gid("argmax")
            ax.add_patch(p)
            inset = 0.08
            ax.add_patch(
                Rectangle(
                    (c0 + inset, H - r0 - k + inset), k - 2 * inset, k - 2 * inset, fill=False, edgecolor=colour, lw=2
                )
            )
            ax.add_patch(Rectangle((ox + j, oy + Ho - i - 1), 1, 1, facecolor=colour, alpha=0.3))
            ax.add_patch(Rectangle((gx + ac, H - ar - 1), 1, 1, facecolor=colour, alpha=0.3))
            start, mid = (ac + 0.5, H - ar - 0.5), (ox + j + 0.5, oy + Ho - i - 0.5)
            end = (gx + ac + 0.5, H - ar - 0.5)
            # the arrows of the upper half bend upwards, those of the lower half downwards, more
            # for the windows further left, so that they do not run on top of each other
            up = 1 if i < Ho / 2 else -1
            bend = f"arc3,rad={-up * (0.15 + 0.2 * (Wo - 1 - j) / max(Wo - 1, 1)):.2f}"
            fwd = ax.annotate(
                "",
                xy=mid,
                xytext=start,
                arrowprops=dict(
                    arrowstyle="->", color=colour, lw=1.2, shrinkA=6, shrinkB=8, alpha=0.8, connectionstyle=bend
                ),
            )
            fwd.set_gid("forward")
            back = ax.annotate(
                "",
                xy=end,
                xytext=mid,
                arrowprops=dict(
                    arrowstyle="->",
                    color=colour,
                    lw=1.2,
                    ls="--",
                    shrinkA=8,
                    shrinkB=6,
                    alpha=0.8,
                    connectionstyle=bend,
                ),
            )
            back.set_gid("backward")
            _cell_text(ax, ox + j + 0.5, oy + Ho - i - 0.35, out[i, j], "out", fontsize=10, fontweight="bold")
            ax.text(
                ox + j + 0.5,
                oy + Ho - i - 0.75,
                f"dout {dout[i, j]:g}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="C3",
            )
    for r in range(H):
        for c in range(W):
            _cell_text(ax, c + 0.5, H - r - 0.5, x[r, c], "x", fontsize=10)
            _cell_text(ax, gx + c + 0.5, H - r - 0.5, dx[r, c], "dx", fontsize=10, color="C3" if dx[r, c] else "0.6")
    for left, width, label in (
        (0, W, f"input {H}x{W}"),
        (ox, Wo, f"max pool {k}x{k}, stride {stride}"),
        (gx, W, "gradient dL/dx"),
    ):
        ax.text(left + width / 2, -0.45, label, ha="center", va="top", fontsize=9)
    _finish(ax, (-0.3, gx + W + 0.3), (-1.0, H + 1.2))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92)
    ax.set_title(
        "Forward (solid): each window's maximum; backward (dashed): its gradient goes back to that "
        "one element (hatched: tied maxima that get nothing)",
        fontsize=9,
    )
    return fig


def subsampling_gap(signal) -> float:
    """How far the stride-2 samples at odd positions are from those at even positions,
    allowing the best whole-cell alignment: min over t in {0, 1} of
    ||s[1::2] - s[2t::2]|| / ||s[::2]|| on a circular signal of even length."""
    s = np.asarray(signal, dtype=float)
    if len(s) % 2:
        raise ValueError("the signal needs an even length")
    even, odd = s[::2], s[1::2]
    return float(min(np.linalg.norm(odd - np.roll(even, -t)) for t in (0, 1)) / np.linalg.norm(even))


def draw_subsampling(signals: dict):
    """Stride-2 sampling of 1-D signals at the even and the odd positions, one row per signal.

    ``signals`` maps a name (for instance "feature map" and "blurred") to a 1-D array of
    even length. Left: the signal, with the samples that stride 2 keeps (even positions,
    line gid "even") and those it keeps after a one-pixel shift of the input (odd
    positions, gid "odd"). Right: the two subsampled signals on the coarse grid, and their
    relative difference (:func:`subsampling_gap`) in the title.
    """
    fig, axes = plt.subplots(
        len(signals), 2, figsize=(11, 2.4 * len(signals)), squeeze=False, gridspec_kw={"width_ratios": [2, 1]}
    )
    for (name, s), (left, right) in zip(signals.items(), axes):
        s = np.asarray(s, dtype=float)
        n = np.arange(len(s))
        left.plot(n, s, color="0.7", lw=1)
        for start, gid, marker, label in ((0, "even", "o", "even positions"), (1, "odd", "s", "odd positions")):
            (line,) = left.plot(n[start::2], s[start::2], marker, color=f"C{start}", ms=4, ls="none", label=label)
            line.set_gid(gid)
            (coarse,) = right.plot(
                np.arange(len(s) // 2), s[start::2], marker + "-", color=f"C{start}", ms=3, lw=1, label=label
            )
            coarse.set_gid(gid)
        left.set_title(f"{name}: {len(s)} samples", fontsize=9)
        right.set_title(f"after stride 2, odd against even: relative difference {subsampling_gap(s):.2f}", fontsize=9)
        left.set_xlabel("position")
        right.set_xlabel("position on the stride-2 grid")
        for ax in (left, right):
            ax.grid(alpha=0.3)
        left.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig
