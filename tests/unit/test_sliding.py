"""Chapter 10's helpers: lines of digits, segmentation, decoders, shifts, receptive fields."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.chapters.sliding import (
    blank_segments,
    compose_line,
    digit_gain,
    dp_decode,
    ink_columns,
    nms_decode,
    receptive_field,
    relative_change,
    translate,
    window_targets,
)


def _bar(width, height=6, size=8, value=1.0):
    image = np.zeros((height, size), dtype=np.float32)
    image[1:-1, 2 : 2 + width] = value
    return image


def test_ink_columns_and_blank_image():
    assert ink_columns(_bar(3)) == (2, 5)
    assert ink_columns(np.zeros((4, 4))) == (0, 0)


def test_compose_line_places_trimmed_digits_with_gaps_and_overlaps():
    images = np.stack([_bar(3), _bar(2, value=0.5), _bar(4)])
    canvas, centres = compose_line(images, [2, -1], margin=3)
    # widths 3, 2, 4; starts 3, 3 + 3 + 2 = 8, 8 + 2 - 1 = 9; width = 9 + 4 + 3 = 16
    assert canvas.shape == (6, 16) and canvas.dtype == np.float32
    assert np.allclose(centres, [4.0, 8.5, 10.5])
    assert blank_segments(canvas) == [(3, 6), (8, 13)]  # the overlapping pair is one piece
    assert canvas[2, 8] == 0.5 and canvas[2, 9] == 1.0  # overlap at column 9: the maximum wins
    with pytest.raises(ValueError):
        compose_line(images, [1])


def test_window_targets_near_far_and_ignored():
    t = window_targets([0, 2, 4, 7, 10], centres=[1.0, 9.0], labels=[3, 7], near=1, far=3, background=10)
    assert t.tolist() == [3, 3, 10, -100, 7]


def test_digit_gain_is_the_log_odds_of_the_best_digit():
    log_p = np.log(np.array([[0.7, 0.1], [0.2, 0.1], [0.1, 0.8]]))  # 2 digits + background, 2 columns
    gain, best = digit_gain(log_p)
    assert best.tolist() == [0, 0] and np.allclose(gain, [np.log(7.0), np.log(0.125)])


def _brute_force(gain, min_gap):
    best, chosen = 0.0, []
    T = len(gain)
    for n in range(T + 1):
        for subset in itertools.combinations(range(T), n):
            if all(b - a >= min_gap for a, b in zip(subset, subset[1:])):
                total = float(np.sum(gain[list(subset)])) if subset else 0.0
                if total > best + 1e-12:
                    best, chosen = total, list(subset)
    return chosen, best


def test_dp_decode_is_optimal_and_nms_never_better():
    rng = np.random.default_rng(0)
    for _ in range(60):
        gain = rng.normal(size=int(rng.integers(1, 11)))
        m = int(rng.integers(1, 4))
        kept, total = dp_decode(gain, m)
        chosen, best = _brute_force(gain, m)
        assert np.isclose(total, best) and np.isclose(gain[kept].sum() if kept else 0.0, total)
        assert all(b - a >= m for a, b in zip(kept, kept[1:]))
        greedy = nms_decode(gain, m - 1)
        assert all(b - a >= m for a, b in zip(greedy, greedy[1:]))
        assert (gain[greedy].sum() if greedy else 0.0) <= total + 1e-12


def test_nms_keeps_peaks_and_suppresses_neighbours():
    gain = np.array([0.5, 2.0, 1.5, -1.0, 0.2, 3.0, 2.9, 0.1])
    assert nms_decode(gain, 1) == [1, 5, 7]
    assert nms_decode(gain, 0) == [0, 1, 2, 4, 5, 6, 7]
    assert nms_decode(gain, 1, threshold=2.5) == [5]


def test_translate_zero_fills_and_inverts_inside():
    x = np.arange(20.0).reshape(4, 5)
    y = translate(x, 1, -2)
    assert y[0].tolist() == [0] * 5 and y[1, :3].tolist() == x[0, 2:].tolist() and y[1, 3:].tolist() == [0, 0]
    assert np.array_equal(translate(translate(x, 0, 1), 0, -1)[:, :-1], x[:, :-1])


def test_relative_change():
    a = np.array([[3.0, 4.0]])
    assert relative_change(a, a) == 0.0 and np.isclose(relative_change(a, np.zeros_like(a)), 1.0)


def test_receptive_field_matches_gradients():
    for layers in ([(3, 1, 1)] * 3, [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(3, 2, 1), (3, 1, 2)], [(5, 2, 1), (2, 1, 3)]):
        x = torch.zeros(1, 1, 1, 64, dtype=torch.float64, requires_grad=True)
        h = x
        for k, s, d in layers:
            h = F.conv2d(h, torch.ones(1, 1, 1, k, dtype=torch.float64), stride=(1, s), dilation=(1, d))
        h[0, 0, 0, h.shape[-1] // 2].backward()
        assert x.grad is not None
        cols = np.flatnonzero(x.grad[0, 0, 0].numpy())
        assert receptive_field(layers)[-1] == cols.max() - cols.min() + 1
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == [3, 7, 15]
