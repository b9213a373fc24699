"""Small matplotlib helpers shared by the chapters (each returns its Figure)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def show_images(images, titles=None, ncols: int = 8, cmap: str = "gray", size: float = 1.4,
                symmetric: bool = False, suptitle: str | None = None):
    """Grid of 2-D images ``(N, H, W)`` (or a list of 2-D arrays).

    ``symmetric=True`` centres the colour map on 0, for kernels and gradients.
    """
    images = [np.asarray(im) for im in images]
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
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


def plot_curves(curves: dict, xlabel: str = "epoch", ylabel: str = "", title: str | None = None,
                ax=None, logy: bool = False):
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
