"""The schematic figures draw what their arguments say."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from coursekit.chapters.schematics import draw_filter_depth, draw_im2col, draw_stride_padding, patch_matrix


def _count(fig, gid):
    return sum(1 for ax in fig.axes for p in ax.patches if p.get_gid() == gid)


def test_patch_matrix_matches_sliding_windows():
    x = np.arange(35.0).reshape(5, 7)
    for k, s in [(3, 1), (2, 2), (3, 2)]:
        windows = sliding_window_view(x, (k, k))[::s, ::s]
        assert np.array_equal(patch_matrix(x, k, s), windows.reshape(-1, k * k))


def test_filter_depth_highlights_one_window_per_channel():
    fig = draw_filter_depth(c_in=3, size=7, k=3, c_out=4)
    assert _count(fig, "window") == 3 * 3 * 3  # a k x k window in each of the 3 channels
    assert _count(fig, "filter") == 3 * 3 * 3
    assert _count(fig, "output") == 1  # one value of one output map
    plt.close(fig)
    fig = draw_filter_depth(c_in=2, size=6, k=5, c_out=2)
    assert _count(fig, "window") == 2 * 25 and _count(fig, "output") == 1
    plt.close(fig)


def test_im2col_draws_every_number_and_the_highlighted_rows():
    x = np.arange(16.0).reshape(4, 4)
    fig = draw_im2col(x, k=3, show=2)
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert len(texts) == 4 * 9  # 2x2 windows, 9 taps each
    assert texts[:9] == [f"{v:g}" for v in patch_matrix(x, 3)[0]]
    assert _count(fig, "window") == 2 and _count(fig, "row") == 2
    plt.close(fig)


def test_stride_padding_panels():
    fig = draw_stride_padding(n=5, k=3, stride=2, pad=1)
    assert len(fig.axes) == 3 + 1  # floor((5 + 2 - 3) / 2) + 1 = 3 windows, then the output
    assert _count(fig, "window") == 3
    assert _count(fig, "padding") == 3 * (7 * 7 - 5 * 5)
    plt.close(fig)
