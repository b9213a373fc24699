"""coursekit.chapters.conv against two independent oracles: PyTorch's conv1d/conv2d (which
cross-correlate) and direct loops written from the defining formulas."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.chapters.conv import MODES, conv1d, conv2d, corr1d, corr2d, corr_matrix, output_length, pad_widths

# PyTorch warns that padding="same" with an even kernel copies the input; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


# ----------------------------------------------------------------- oracles: loops


def loop_corr1d(x, w, mode):
    """y[i] = sum_j w[j] x[i + j - p], with x = 0 outside [0, N)."""
    n, k = len(x), len(w)
    p, q = pad_widths(k, mode)
    y = np.zeros(n + p + q - k + 1)
    for i in range(len(y)):
        for j in range(k):
            src = i + j - p
            if 0 <= src < n:
                y[i] += w[j] * x[src]
    return y


def loop_conv1d_full(x, w):
    """y[i] = sum_j w[j] x[i - j] for i = 0 .. N + K - 2 (textbook convolution)."""
    n, k = len(x), len(w)
    y = np.zeros(n + k - 1)
    for i in range(n + k - 1):
        for j in range(k):
            if 0 <= i - j < n:
                y[i] += w[j] * x[i - j]
    return y


def loop_corr2d(x, w, mode):
    """y[i, j] = sum_{k,l} w[k, l] x[i + k - p, j + l - r], zero outside the image."""
    (h, wd), (kh, kw) = x.shape, w.shape
    p, _ = pad_widths(kh, mode)
    r, _ = pad_widths(kw, mode)
    y = np.zeros((output_length(h, kh, mode), output_length(wd, kw, mode)))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            for k in range(kh):
                for l in range(kw):
                    a, b = i + k - p, j + l - r
                    if 0 <= a < h and 0 <= b < wd:
                        y[i, j] += w[k, l] * x[a, b]
    return y


def loop_conv2d_full(x, w):
    """y[i, j] = sum_{k,l} w[k, l] x[i - k, j - l] over the full support."""
    (h, wd), (kh, kw) = x.shape, w.shape
    y = np.zeros((h + kh - 1, wd + kw - 1))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            for k in range(kh):
                for l in range(kw):
                    if 0 <= i - k < h and 0 <= j - l < wd:
                        y[i, j] += w[k, l] * x[i - k, j - l]
    return y


# ----------------------------------------------------------------- oracle: torch


def torch_padding(k, mode):
    return {"valid": 0, "same": "same", "full": k - 1}[mode]


def torch_corr1d(x, w, mode):
    out = F.conv1d(
        torch.from_numpy(x)[None, None], torch.from_numpy(w.copy())[None, None], padding=torch_padding(len(w), mode)
    )
    return out[0, 0].numpy()


def torch_corr2d(x, w, mode):
    pad = "same" if mode == "same" else (torch_padding(w.shape[0], mode), torch_padding(w.shape[1], mode))
    out = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(w.copy())[None, None], padding=pad)
    return out[0, 0].numpy()


SHAPES_1D = [(11, 3), (17, 4), (9, 1), (8, 8), (23, 6)]
SHAPES_2D = [((7, 11), (3, 5)), ((12, 9), (4, 2)), ((6, 6), (1, 1)), ((5, 13), (5, 4)), ((10, 7), (2, 3))]


# ----------------------------------------------------------------- 1-D


@pytest.mark.parametrize("n,k", SHAPES_1D)
@pytest.mark.parametrize("mode", MODES)
def test_corr1d_matches_torch_and_loops(n, k, mode):
    rng = np.random.default_rng(n * 100 + k)
    x, w = rng.normal(size=n), rng.normal(size=k)
    got = corr1d(x, w, mode)
    assert got.shape == (output_length(n, k, mode),)
    np.testing.assert_allclose(got, torch_corr1d(x, w, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, loop_corr1d(x, w, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,k", SHAPES_1D)
@pytest.mark.parametrize("mode", MODES)
def test_conv1d_is_torch_with_flipped_kernel(n, k, mode):
    rng = np.random.default_rng(n * 100 + k + 1)
    x, w = rng.normal(size=n), rng.normal(size=k)
    np.testing.assert_allclose(conv1d(x, w, mode), torch_corr1d(x, w[::-1], mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,k", SHAPES_1D)
def test_conv1d_full_and_valid_match_the_textbook_formula(n, k):
    rng = np.random.default_rng(n * 100 + k + 2)
    x, w = rng.normal(size=n), rng.normal(size=k)
    full = loop_conv1d_full(x, w)
    np.testing.assert_allclose(conv1d(x, w, "full"), full, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv1d(x, w, "valid"), full[k - 1 : n], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv1d(x, w, "full"), np.convolve(x, w, "full"), rtol=1e-12, atol=1e-12)


def test_convolution_commutes_correlation_does_not():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=9), rng.normal(size=4)
    np.testing.assert_allclose(conv1d(x, w, "full"), conv1d(w, x, "full"), rtol=1e-12, atol=1e-12)
    assert not np.allclose(corr1d(x, w, "full"), corr1d(w, x, "full"))
    # correlation swaps its arguments by reversing the output
    np.testing.assert_allclose(corr1d(x, w, "full"), corr1d(w, x, "full")[::-1], rtol=1e-12, atol=1e-12)


def test_small_1d_example_by_hand():
    x = np.array([1, 2, 3, 4, 5])
    w = np.array([1, 0, -1])
    assert corr1d(x, w).tolist() == [-2, -2, -2]
    assert conv1d(x, w).tolist() == [2, 2, 2]
    assert corr1d(x, w, "same").tolist() == [-2, -2, -2, -2, 4]
    assert corr1d(x, w, "full").tolist() == [-1, -2, -2, -2, -2, 4, 5]


# ----------------------------------------------------------------- 2-D


@pytest.mark.parametrize("xshape,kshape", SHAPES_2D)
@pytest.mark.parametrize("mode", MODES)
def test_corr2d_matches_torch_and_loops(xshape, kshape, mode):
    rng = np.random.default_rng(sum(xshape) * 100 + sum(kshape))
    x, w = rng.normal(size=xshape), rng.normal(size=kshape)
    got = corr2d(x, w, mode)
    want_shape = tuple(output_length(n, k, mode) for n, k in zip(xshape, kshape))
    assert got.shape == want_shape
    np.testing.assert_allclose(got, torch_corr2d(x, w, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, loop_corr2d(x, w, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xshape,kshape", SHAPES_2D)
@pytest.mark.parametrize("mode", MODES)
def test_conv2d_is_torch_with_kernel_turned_180_degrees(xshape, kshape, mode):
    rng = np.random.default_rng(sum(xshape) * 100 + sum(kshape) + 1)
    x, w = rng.normal(size=xshape), rng.normal(size=kshape)
    np.testing.assert_allclose(conv2d(x, w, mode), torch_corr2d(x, w[::-1, ::-1], mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("xshape,kshape", SHAPES_2D)
def test_conv2d_full_and_valid_match_the_textbook_formula(xshape, kshape):
    rng = np.random.default_rng(sum(xshape) * 100 + sum(kshape) + 2)
    x, w = rng.normal(size=xshape), rng.normal(size=kshape)
    full = loop_conv2d_full(x, w)
    np.testing.assert_allclose(conv2d(x, w, "full"), full, rtol=1e-12, atol=1e-12)
    (h, wd), (kh, kw) = xshape, kshape
    np.testing.assert_allclose(conv2d(x, w, "valid"), full[kh - 1 : h, kw - 1 : wd], rtol=1e-12, atol=1e-12)


def test_cnam_kernel_flip():
    h = np.array([[-4, 0, 0], [0, 0, 0], [0, 0, 4]])
    flipped = np.array([[4, 0, 0], [0, 0, 0], [0, 0, -4]])
    x = np.arange(30).reshape(5, 6) ** 2
    assert np.array_equal(conv2d(x, h), corr2d(x, flipped))
    assert np.array_equal(conv2d(x, h), -corr2d(x, h))  # h is antisymmetric under a 180° turn


def test_integer_inputs_stay_exact_integers():
    x = np.arange(20).reshape(4, 5)
    w = np.array([[1, -2], [3, 0]])
    y = corr2d(x, w)
    assert np.issubdtype(y.dtype, np.integer)
    assert np.array_equal(y, loop_corr2d(x, w, "valid").astype(int))


def test_float32_stays_float32():
    x = np.ones((4, 5), dtype=np.float32)
    assert corr2d(x, np.ones((2, 2), dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("mode", MODES)
def test_leading_batch_axes_filter_each_slice(mode):
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 3, 6, 8)), rng.normal(size=(3, 2))
    got = corr2d(x, w, mode)
    for a in range(2):
        for b in range(3):
            np.testing.assert_allclose(got[a, b], corr2d(x[a, b], w, mode), rtol=1e-13, atol=1e-13)
    batched_1d = corr1d(x[0], w[:, 0], mode)
    np.testing.assert_allclose(batched_1d[1, 2], corr1d(x[0, 1, 2], w[:, 0], mode), rtol=1e-13, atol=1e-13)


def test_accepts_lists_and_views():
    x = np.arange(24.0).reshape(4, 6)
    w = [[1.0, 2.0], [0.5, -1.0]]
    np.testing.assert_allclose(corr2d(x[:, ::-1], w), corr2d(np.ascontiguousarray(x[:, ::-1]), np.array(w)))
    assert corr1d([1, 2, 3], [1, 1]).tolist() == [3, 5]


def test_large_template_does_not_need_a_huge_copy():
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(120, 100)), rng.normal(size=(30, 40))
    got = corr2d(x, w, "valid")
    np.testing.assert_allclose(got, torch_corr2d(x, w, "valid"), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------- matrices


@pytest.mark.parametrize("mode", MODES)
def test_corr_matrix_1d_is_toeplitz_and_applies_the_correlation(mode):
    rng = np.random.default_rng(7)
    w, x = rng.normal(size=4), rng.normal(size=10)
    t = corr_matrix(w, 10, mode)
    assert t.shape == (output_length(10, 4, mode), 10)
    np.testing.assert_allclose(t @ x, corr1d(x, w, mode), rtol=1e-12, atol=1e-12)
    # constant along each diagonal: T[i, n] depends on n - i only
    for i in range(1, t.shape[0]):
        np.testing.assert_array_equal(t[i, 1:], t[i - 1, :-1])


@pytest.mark.parametrize("mode", MODES)
def test_corr_matrix_2d_applies_the_correlation(mode):
    rng = np.random.default_rng(8)
    w, x = rng.normal(size=(3, 2)), rng.normal(size=(5, 7))
    t = corr_matrix(w, x.shape, mode)
    out = corr2d(x, w, mode)
    assert t.shape == (out.size, x.size)
    np.testing.assert_allclose(t @ x.ravel(), out.ravel(), rtol=1e-12, atol=1e-12)
    # the transpose is the full convolution (the backward pass of a valid correlation)
    if mode == "valid":
        g = rng.normal(size=out.shape)
        np.testing.assert_allclose((t.T @ g.ravel()).reshape(x.shape), conv2d(g, w, "full"), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- errors


def test_errors_are_explicit():
    x = np.zeros((4, 5))
    with pytest.raises(ValueError, match="mode"):
        corr2d(x, np.ones((2, 2)), mode="circular")
    with pytest.raises(ValueError, match="larger than input"):
        corr2d(x, np.ones((5, 2)))
    with pytest.raises(ValueError, match="2-D"):
        corr2d(x, np.ones(3))
    with pytest.raises(ValueError, match="1-D"):
        conv1d(np.zeros(5), np.ones((2, 2)))
    with pytest.raises(ValueError, match="at least one sample"):
        corr1d(np.zeros(5), np.ones(0))
    with pytest.raises(TypeError):
        corr1d(np.zeros(5, dtype=complex), np.ones(2))
    # a kernel larger than the input is fine when the output is not empty
    assert corr2d(x, np.ones((5, 2)), "same").shape == (4, 5)
    assert corr2d(x, np.ones((6, 7)), "full").shape == (9, 11)


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_same_mode_matches_numpy_and_scipy_for_odd_kernels_only(k):
    """What the module's docstring says: in ``same`` mode an even kernel is cropped one sample
    differently from both numpy.convolve and scipy.signal.convolve; an odd one is not."""
    import scipy.signal

    x, w = np.arange(10.0) ** 1.3, np.arange(1.0, k + 1)
    ours = conv1d(x, w, "same")
    for other in (np.convolve(x, w, "same"), scipy.signal.convolve(x, w, "same")):
        assert np.allclose(ours, other) == (k % 2 == 1)
