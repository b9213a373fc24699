"""Buggy submissions for homework 4 (pooling).

Each entry patches one solution cell of ``solutions/hw4_pooling/hw4_pooling.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive). The reference solution calls
``pool_output_size`` from ``max_pool_forward`` and ``avg_pool_forward``, and
``max_pool_forward`` from ``pooling_invariance``: the bugs in parts 1 and 2 also check
that those later parts are graded with reference versions of the earlier ones. Parts 2, 3, 4
and 7 are NumPy only, and part 5 may not use ``torch.logsumexp``: the rule entries break
them with the forbidden function under another name, or (part 5) as a tensor method that
only the autograd graph reveals.
"""

BUGS = [
    dict(
        name="output_size_missing_plus_one",
        cell="pool_output_size",
        find="return (n - size) // stride + 1",
        replace="return (n - size) // stride",
        breaks=["pool_output_size_tests"],
        message="forgot the + 1",
    ),
    dict(
        name="output_size_returns_float",
        cell="pool_output_size",
        find="return (n - size) // stride + 1",
        replace="return np.floor((n - size) / stride) + 1",
        breaks=["pool_output_size_tests"],
        message="should return an int",
    ),
    dict(
        name="output_size_rounds_up",
        cell="pool_output_size",
        find="return (n - size) // stride + 1",
        replace="return -(-(n - size) // stride) + 1",
        breaks=["pool_output_size_tests"],
        message="round down",
    ),
    dict(
        name="max_forward_window_ignores_stride",
        cell="max_pool_forward",
        find="top, left = i * sh, j * sw",
        replace="top, left = i, j",
        breaks=["max_pool_forward_tests"],
        message="instead of by the stride",
    ),
    dict(
        name="max_forward_takes_mean",
        cell="max_pool_forward",
        find=".max(axis=(2, 3))",
        replace=".mean(axis=(2, 3))",
        breaks=["max_pool_forward_tests"],
        message="averaged the window",
    ),
    dict(
        name="max_forward_uses_torch",
        cell="max_pool_forward",
        find="    out = np.zeros((N, C, H_out, W_out))\n",
        replace="    import torch.nn.functional as tf\n"
        "    return tf.max_pool2d(torch.from_numpy(x), (ph, pw), (sh, sw)).numpy(), (x, size, stride)\n",
        breaks=["max_pool_forward_tests"],
        message="no torch",
    ),
    dict(
        name="max_backward_every_tied_element",
        cell="max_pool_backward",
        find="winner = np.arange(ph * pw) == window.argmax(axis=2)[:, :, None]",
        replace="winner = window == window.max(axis=2, keepdims=True)",
        breaks=["max_pool_backward_tests"],
        message="every maximum of a window with ties",
    ),
    dict(
        name="max_backward_last_tied_element",
        cell="max_pool_backward",
        find="window.argmax(axis=2)",
        replace="(ph * pw - 1 - window[:, :, ::-1].argmax(axis=2))",
        breaks=["max_pool_backward_tests"],
        message="not the last one",
    ),
    dict(
        name="max_backward_overwrites_overlaps",
        cell="max_pool_backward",
        find="dx[:, :, top:top + ph, left:left + pw] += g",
        replace="dx[:, :, top:top + ph, left:left + pw] = g",
        breaks=["max_pool_backward_tests"],
        message="overwrote the gradient where windows overlap",
    ),
    dict(
        name="max_backward_window_ignores_stride",
        cell="max_pool_backward",
        find="top, left = i * sh, j * sw",
        replace="top, left = i, j",
        breaks=["max_pool_backward_tests"],
        message="instead of by the stride",
    ),
    dict(
        name="max_backward_uses_autograd",
        cell="max_pool_backward",
        find="    dx = np.zeros_like(x)\n",
        replace="    xt = torch.tensor(x, requires_grad=True)\n"
        "    torch.nn.functional.max_pool2d(xt, (ph, pw), (sh, sw)).backward(torch.from_numpy(dout))\n"
        "    return xt.grad.numpy()\n",
        breaks=["max_pool_backward_tests"],
        message="no torch",
    ),
    dict(
        name="avg_forward_sums",
        cell="avg_pool",
        find=".mean(axis=(2, 3))",
        replace=".sum(axis=(2, 3))",
        breaks=["avg_pool_tests"],
        message="summed the window",
    ),
    dict(
        name="avg_backward_not_divided",
        cell="avg_pool",
        find=" / (ph * pw)",
        replace="",
        breaks=["avg_pool_tests"],
        message="did not divide by the window size",
    ),
    dict(
        name="avg_backward_overwrites_overlaps",
        cell="avg_pool",
        find="dx[:, :, top:top + ph, left:left + pw] += dout",
        replace="dx[:, :, top:top + ph, left:left + pw] = dout",
        breaks=["avg_pool_tests"],
        message="overwrote the gradient where windows overlap",
    ),
    dict(
        name="lse_without_max_subtraction",
        cell="lse_pool",
        find="m = windows.amax(dim=-1, keepdim=True)",
        replace="m = torch.zeros_like(windows[..., :1])",
        breaks=["lse_pool_tests"],
        message="numerical stability",
    ),
    dict(
        name="lse_sum_instead_of_mean",
        cell="lse_pool",
        find=".mean(dim=-1, keepdim=True)",
        replace=".sum(dim=-1, keepdim=True)",
        breaks=["lse_pool_tests"],
        message="sum instead of the mean",
    ),
    dict(
        name="lse_log_not_divided_by_b",
        cell="lse_pool",
        find=" / self.b",
        replace="",
        breaks=["lse_pool_tests"],
        message="divide the log by b",
    ),
    dict(
        name="lse_detached_from_autograd",
        cell="lse_pool",
        find="x.unfold(2, kh, sh)",
        replace="x.detach().unfold(2, kh, sh)",
        breaks=["lse_pool_tests"],
        message="keep the computation in autograd",
    ),
    dict(
        name="lse_calls_logsumexp",
        cell="lse_pool",
        find="lse = m + torch.log(torch.exp(self.b * (windows - m)).mean(dim=-1, keepdim=True)) / self.b",
        replace="from torch import logsumexp as lse_of\n"
        "        lse = (lse_of(self.b * windows, dim=-1, keepdim=True) - math.log(kh * kw)) / self.b",
        breaks=["lse_pool_tests"],
        message="logsumexp",
    ),
    dict(
        name="lse_logsumexp_tensor_method",
        cell="lse_pool",
        find="lse = m + torch.log(torch.exp(self.b * (windows - m)).mean(dim=-1, keepdim=True)) / self.b",
        replace="lse = ((self.b * windows).logsumexp(dim=-1, keepdim=True) - math.log(kh * kw)) / self.b",
        breaks=["lse_pool_tests"],
        message="logsumexp",
    ),
    dict(
        name="invariance_compares_unpooled_maps",
        cell="pooling_invariance",
        find="a, b = (max_pool_forward(maps, size, size)[0] for maps in (x, shifted))",
        replace="a, b = x, shifted",
        breaks=["pooling_invariance_tests"],
        message="compared the unpooled maps",
    ),
    dict(
        name="invariance_counts_changed_outputs",
        cell="pooling_invariance",
        find="return unchanged.sum() / valid.sum()",
        replace="return 1 - unchanged.sum() / valid.sum()",
        breaks=["pooling_invariance_tests"],
        message="counted the outputs that change",
    ),
    dict(
        name="invariance_counts_invalid_windows",
        cell="pooling_invariance",
        find="return unchanged.sum() / valid.sum()",
        replace="return unchanged.sum() / unchanged.size",
        breaks=["pooling_invariance_tests"],
        message="divided by all the pooled outputs",
    ),
    dict(
        name="shared_first_maximum_only",
        cell="max_pool_backward_shared",
        find="tied = window == window.max(axis=(2, 3), keepdims=True)",
        replace="tied = (np.arange(ph * pw) == window.reshape(*window.shape[:2], -1).argmax(axis=2)[:, :, None])"
        ".reshape(window.shape)",
        breaks=["max_pool_backward_shared_tests"],
        message="first maximum",
    ),
    dict(
        name="shared_not_divided",
        cell="max_pool_backward_shared",
        find=" / tied.sum(axis=(2, 3), keepdims=True)",
        replace="",
        breaks=["max_pool_backward_shared_tests"],
        message="divide it by the number of maxima",
    ),
    dict(
        name="shared_overwrites_overlaps",
        cell="max_pool_backward_shared",
        find="dx[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw] += tied * share",
        replace="dx[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw] = tied * share",
        breaks=["max_pool_backward_shared_tests"],
        message="instead of assigning",
    ),
]
