"""Buggy submissions for homework 3 (a convolution layer).

Each entry patches one solution cell of ``solutions/hw3_conv_layer/hw3_conv_layer.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive). The reference solution calls
``conv_output_size`` from ``conv_forward``, ``im2col`` and ``conv_forward_im2col``,
``im2col`` from ``conv_forward_im2col``, and ``conv_forward``/``conv_backward`` from
``tiny_cnn_loss``: the bugs in parts 1, 3, 4 and 5 also check that those later parts are
graded with reference versions of the earlier ones. A rule (NumPy only, no convolution
in part 7 ...) applies to a part's function and to the student's functions that it calls,
except those of earlier parts, which their own tests check (``coursekit.rules.forbid``'s
``others``): torch in ``conv_forward`` or ``conv_backward`` costs those parts only, not
``tiny_cnn_loss``, which calls them.
"""

BUGS = [
    # Part 1: output size.
    dict(
        name="output_size_returns_float",
        cell="conv_output_size",
        find="return span // s + 1",
        replace="return span / s + 1",
        breaks=["conv_output_size_tests"],
        message="should return an int",
    ),
    # Part 3: forward pass with loops.
    dict(
        name="forward_flipped_kernel",
        cell="conv_forward",
        find="np.tensordot(window, w,",
        replace="np.tensordot(window, w[:, :, ::-1, ::-1],",
        breaks=["conv_forward_tests"],
        message="do not flip the kernel",
    ),
    dict(
        name="forward_uses_torch",
        cell="conv_forward",
        find="out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b",
        replace="import torch as tt\n"
        "            flat = tt.from_numpy(np.ascontiguousarray(window)).flatten(1)\n"
        "            out[:, :, i, j] = (flat @ tt.from_numpy(w).flatten(1).T).numpy() + b",
        breaks=["conv_forward_tests"],
        message="no torch",
    ),
    # Part 4: backward pass.
    dict(
        name="backward_crop_empty_when_pad_0",
        cell="conv_backward",
        find="dxp[:, :, pad:pad + H, pad:pad + W]",
        replace="dxp[:, :, pad:-pad, pad:-pad]",
        breaks=["conv_backward_tests"],
        message="empty when p = 0",
    ),
    dict(
        name="backward_dx_overwrites_overlaps",
        cell="conv_backward",
        find="dxp[:, :, top:top + HH, left:left + WW] += np.tensordot",
        replace="dxp[:, :, top:top + HH, left:left + WW] = np.tensordot",
        breaks=["conv_backward_tests"],
        message="add them up",
    ),
    dict(
        name="backward_uses_torch",
        cell="conv_backward",
        find="db = dout.sum(axis=(0, 2, 3))",
        replace="db = torch.as_tensor(dout).sum(dim=(0, 2, 3)).numpy()",
        breaks=["conv_backward_tests"],
        message="no torch",
    ),
    # Part 5: im2col.
    dict(
        name="im2col_padding_one_side",
        cell="im2col",
        find="(pad, pad), (pad, pad)))",
        replace="(2 * pad, 0), (2 * pad, 0)))",
        breaks=["im2col_tests"],
        message="all four sides",
    ),
    dict(
        name="im2col_sliding_window_view",
        cell="im2col",
        find="    cols = np.zeros((C, hh, ww, N, H_out, W_out))\n",
        replace="    from numpy.lib import stride_tricks as st\n"
        "    v = st.sliding_window_view(xp, (hh, ww), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :H_out, :W_out]\n"
        "    return v.transpose(1, 4, 5, 0, 2, 3).reshape(C * hh * ww, N * H_out * W_out)\n",
        breaks=["im2col_tests"],
        message="sliding-window views",
    ),
    # Part 6: the forward pass as one matrix product.
    dict(
        name="im2col_forward_calls_conv_forward",
        cell="conv_forward_im2col",
        find="    cols = im2col(x, HH, WW, stride, pad)",
        replace="    return conv_forward(x, w, b, stride, pad)[0]",
        breaks=["conv_forward_im2col_tests"],
        message="do not call conv_forward",
    ),
    dict(
        name="im2col_forward_without_im2col",
        cell="conv_forward_im2col",
        find="    cols = im2col(x, HH, WW, stride, pad)",
        replace="    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"
        "    cols = np.stack([xp[:, :, k:k + stride * H_out:stride, l:l + stride * W_out:stride].transpose(1, 0, 2, 3)\n"
        "                     for k in range(HH) for l in range(WW)], axis=1).reshape(C * HH * WW, -1)",
        breaks=["conv_forward_im2col_tests"],
        message="does not call im2col",
    ),
    # Part 7: UnfoldConv2d.
    dict(
        name="unfold_calls_conv2d_imported_by_name",
        cell="unfold_conv2d",
        find="        cols = torch.nn.functional.unfold(",
        replace="        from torch.nn.functional import conv2d\n"
        "        return conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)\n"
        "        cols = torch.nn.functional.unfold(",
        breaks=["unfold_conv2d_tests"],
        message="no convolution operation",
    ),
    dict(
        name="unfold_calls_torch_convolution",
        cell="unfold_conv2d",
        find="        cols = torch.nn.functional.unfold(",
        replace="        return torch.convolution(x, self.weight, self.bias, (self.stride,) * 2, (self.padding,) * 2,\n"
        "                                 (1, 1), False, (0, 0), 1)\n"
        "        cols = torch.nn.functional.unfold(",
        breaks=["unfold_conv2d_tests"],
        message="no convolution operation",
    ),
    # Part 8: the small CNN.
    dict(
        name="cnn_gradient_not_divided_by_n",
        cell="tiny_cnn_loss",
        find="    dscores /= N\n",
        replace="",
        breaks=["tiny_cnn_loss_tests"],
        message="N times too large",
    ),
    dict(
        name="cnn_backward_ignores_relu",
        cell="tiny_cnn_loss",
        find="da = dh * (a > 0)",
        replace="da = dh",
        breaks=["tiny_cnn_loss_tests"],
        message="ignore the ReLU",
    ),
    dict(
        name="cnn_unstable_softmax",
        cell="tiny_cnn_loss",
        find="shifted = scores - scores.max(axis=1, keepdims=True)",
        replace="shifted = scores",
        breaks=["tiny_cnn_loss_tests"],
        message="overflow",
    ),
    dict(
        name="cnn_uses_torch_autograd",
        cell="tiny_cnn_loss",
        find="dw2, db2 = pooled.T @ dscores,",
        replace="dw2, db2 = (torch.from_numpy(pooled).T @ torch.from_numpy(dscores)).numpy(),",
        breaks=["tiny_cnn_loss_tests"],
        message="no torch",
    ),
    # Part 9: the end-to-end gradient check.
    dict(
        name="gradient_errors_never_varies_the_parameter",
        cell="gradient_errors",
        find="return loss_fn({**params, name: p}, x, y)[0]",
        replace="return loss_fn(params, x, y)[0]",
        breaks=["gradient_errors_tests"],
        message="vary only params",
    ),
]
