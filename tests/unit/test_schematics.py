"""The schematic figures draw what their arguments say."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from coursekit.chapters.schematics import (
    dilate_kernel,
    draw_backprop,
    draw_dilated_taps,
    draw_filter_depth,
    draw_im2col,
    draw_maxpool_routing,
    draw_overlap_add,
    draw_stride_padding,
    draw_subsampling,
    overlap_add,
    patch_matrix,
    subsampling_gap,
)


def _count(fig, gid):
    return sum(1 for ax in fig.axes for p in ax.patches if p.get_gid() == gid)


def _texts(fig, gid):
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


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


def test_backprop_draws_the_signals_it_is_given():
    g = np.random.default_rng(0)
    x, h, y_hat, delta_h = g.normal(size=4), g.random(3), np.array([0.25, 0.75]), g.normal(size=3)
    y_star = np.array([0.0, 1.0])
    fig = draw_backprop(x, h, y_hat, y_star, delta_h, y_hat - y_star)
    assert _texts(fig, "forward") == [f"{v:.2f}" for v in [*x, *h, *y_hat]]
    assert _texts(fig, "delta") == [f"δ={v:+.3f}" for v in [*delta_h, *(y_hat - y_star)]]
    assert _texts(fig, "target") == ["y*=0", "y*=1"]
    edges = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "edge"]
    assert len(edges) == 4 * 3 + 3 * 2  # every input to every hidden unit, every hidden unit to every output
    plt.close(fig)
    with pytest.raises(ValueError):  # a delta of the wrong length is refused, not drawn
        draw_backprop(x, h, y_hat, y_star, delta_h[:2], y_hat - y_star)


def test_overlap_add_is_the_transposed_convolution():
    g = np.random.default_rng(1)
    for shape, k, s in [((2, 2), 3, 2), ((3, 2), 2, 1), ((2, 3), 3, 3)]:
        a, w = g.normal(size=shape), g.normal(size=(k, k))
        ref = F.conv_transpose2d(torch.from_numpy(a)[None, None], torch.from_numpy(w)[None, None], stride=s)
        assert np.allclose(overlap_add(a, w, s), ref[0, 0].numpy())


def test_overlap_add_figure_counts_the_copies():
    k = np.arange(1.0, 10.0).reshape(3, 3)
    g = np.array([[1.0, 2.0], [-1.0, 1.0]])
    fig = draw_overlap_add(g, k, stride=2)
    assert _count(fig, "copy") == 4 * 9  # one 3x3 copy per entry of g
    counts = [float(t) for t in _texts(fig, "count")]
    assert max(counts) == 4 and counts.count(4) == 1 and counts.count(2) == 8  # the uneven overlap
    assert _texts(fig, "sum") == [f"{v:g}" for v in overlap_add(g, k, 2).ravel()]
    plt.close(fig)


def test_dilated_taps_sit_dilation_apart():
    k = np.arange(1.0, 10.0).reshape(3, 3)
    for d in (1, 2, 4):
        dk = dilate_kernel(k, d)
        assert dk.shape == (2 * d + 1, 2 * d + 1) and np.array_equal(dk[::d, ::d], k)
        assert np.count_nonzero(dk) == 9
    fig = draw_dilated_taps(k, dilations=(1, 2, 4))
    for ax, d in zip(fig.axes, (1, 2, 4)):
        taps = [p.get_xy() for p in ax.patches if p.get_gid() == "tap"]
        xs, ys = sorted({x for x, _ in taps}), sorted({y for _, y in taps})
        assert len(taps) == 9 and np.allclose(np.diff(xs), d) and np.allclose(np.diff(ys), d)
        assert [t.get_text() for t in ax.texts if t.get_gid() == "tap"] == [f"{v:g}" for v in k.ravel()]
    plt.close(fig)


def test_maxpool_routing_points_at_the_argmax():
    x = np.array([[1.0, 3, 3, 0], [2, 3, 1, 1], [0, 0, 5, 5], [0, 0, 5, 5]])
    out = np.array([[3.0, 3], [0, 5]])
    arg = np.array([[1, 0], [0, 0]])  # the first maximum of each window, row-major
    dx = np.zeros((4, 4))
    dx[0, 1] = dx[0, 2] = dx[2, 0] = dx[2, 2] = 1
    fig = draw_maxpool_routing(x, out, arg, dx, k=2, stride=2)
    ax = fig.axes[0]
    chosen = sorted((int(4 - p.get_y() - 1), int(p.get_x())) for p in ax.patches if p.get_gid() == "argmax")
    assert chosen == [(0, 1), (0, 2), (2, 0), (2, 2)]
    # the other maxima of each window are hatched: one 3, three 0s, three 5s
    assert _count(fig, "tie") == 1 + 3 + 3
    starts = sorted((int(4 - a.xyann[1] - 0.5), int(a.xyann[0] - 0.5)) for a in ax.texts if a.get_gid() == "forward")
    assert starts == chosen
    assert len([a for a in ax.texts if a.get_gid() == "backward"]) == out.size
    assert _texts(fig, "x") == [f"{v:g}" for v in x.ravel()]
    assert _texts(fig, "dx") == [f"{v:g}" for v in dx.ravel()]
    plt.close(fig)


def test_subsampling_gap_and_figure():
    alternating = np.tile([1.0, 0.0], 8)
    assert subsampling_gap(alternating) == pytest.approx(1.0)  # even samples all 1, odd ones all 0
    assert subsampling_gap(np.ones(10)) == 0.0
    ramp = np.arange(12.0)  # odd samples lie between even ones: off by one half of a step
    assert 0 < subsampling_gap(ramp) < subsampling_gap(alternating)
    with pytest.raises(ValueError):
        subsampling_gap(np.ones(7))
    s = np.abs(np.sin(np.arange(20) * 1.3))
    fig = draw_subsampling({"signal": s})
    left, right = fig.axes
    for ax in (left, right):
        lines = {line.get_gid(): line.get_ydata() for line in ax.lines if line.get_gid()}
        assert np.array_equal(lines["even"], s[::2]) and np.array_equal(lines["odd"], s[1::2])
    assert f"{subsampling_gap(s):.2f}" in right.get_title()
    plt.close(fig)
