"""Small matplotlib helpers shared by the chapters (each returns its Figure)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def show_images(
    images,
    titles=None,
    ncols: int = 8,
    cmap: str = "gray",
    size: float = 1.4,
    symmetric: bool = False,
    suptitle: str | None = None,
):
    """Grid of 2-D images ``(N, H, W)`` (or a list of 2-D arrays).

    ``symmetric=True`` centres the colour map on 0, for kernels and gradients.
    """
    images = [np.asarray(im) for im in images]
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        im = images[k]
        if symmetric:
            v = float(np.max(np.abs(im))) or 1.0
            ax.imshow(im, cmap="RdBu_r" if cmap == "gray" else cmap, vmin=-v, vmax=v)
        else:
            ax.imshow(im, cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(
    curves: dict, xlabel: str = "epoch", ylabel: str = "", title: str | None = None, ax=None, logy: bool = False
):
    """One line per entry of ``curves`` (label -> sequence of values)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    else:
        fig = ax.figure
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def draw_block(
    ax,
    branch,
    after_add=(),
    shortcut: bool = True,
    title: str | None = None,
    input_label: str = "x",
    output_label: str = "y",
    colors: dict | None = None,
):
    """Draw a network block bottom-up: the ``branch`` boxes, an addition, the ``after_add`` boxes.

    With ``shortcut=True`` an identity arrow goes from the input, around the branch, into a
    circled "+" placed after the branch (a residual block); with ``shortcut=False`` there is no
    addition and the boxes form a plain chain. ``colors`` maps a box label's first word to a
    face colour. Returns the labels in drawing order, the "+" included, for tests.
    """
    colors = {"conv": "#cfe2f3", "BN": "#fde9c9", "ReLU": "#d9ead3", **(colors or {})}
    step, width, height = 1.0, 2.4, 0.62
    drawn = []
    y = 0.0
    ax.text(0, y, input_label, ha="center", va="center", fontsize=11)
    y_input = y

    def arrow(y0, y1):
        ax.annotate("", xy=(0, y1), xytext=(0, y0), arrowprops=dict(arrowstyle="->", lw=1.1))

    def box(label, y_centre):
        face = colors.get(label.split()[0], "white")
        ax.add_patch(
            plt.Rectangle((-width / 2, y_centre - height / 2), width, height, facecolor=face, edgecolor="k", lw=1.0)
        )
        ax.text(0, y_centre, label, ha="center", va="center", fontsize=9)
        drawn.append(label)

    y_prev_top = y + 0.25
    for label in branch:
        y += step
        arrow(y_prev_top, y - height / 2)
        box(label, y)
        y_prev_top = y + height / 2
    if shortcut:
        y += step
        radius = 0.22
        arrow(y_prev_top, y - radius)
        ax.add_patch(plt.Circle((0, y), radius, facecolor="white", edgecolor="k", lw=1.0))
        ax.text(0, y, "+", ha="center", va="center", fontsize=12)
        drawn.append("+")
        side = width / 2 + 0.6
        ax.plot([0.15, side, side], [y_input + 0.25, y_input + 0.25, y], color="tab:red", lw=1.4)
        ax.annotate("", xy=(radius, y), xytext=(side, y), arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.4))
        ax.text(
            side + 0.1, (y_input + y) / 2, "identity", rotation=90, ha="left", va="center", color="tab:red", fontsize=9
        )
        y_prev_top = y + radius
    for label in after_add:
        y += step
        arrow(y_prev_top, y - height / 2)
        box(label, y)
        y_prev_top = y + height / 2
    y += step * 0.8
    arrow(y_prev_top, y - 0.2)
    ax.text(0, y, output_label, ha="center", va="center", fontsize=11)
    ax.set_xlim(-width / 2 - 0.5, width / 2 + 1.3)
    ax.set_ylim(-0.6, y + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return drawn
