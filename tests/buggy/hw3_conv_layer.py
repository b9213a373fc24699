"""Buggy submissions for homework 3 (a convolution layer).

Each entry patches one solution cell of ``solutions/hw3_conv_layer/hw3_conv_layer.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive). The reference solution calls
``conv_output_size`` from ``conv_forward``, ``im2col`` and ``conv_forward_im2col``, and
``im2col`` from ``conv_forward_im2col``: the bugs in parts 1 and 5 also check that those
later parts are graded with reference versions of the earlier ones.
"""

BUGS = [
    dict(name="output_size_missing_plus_one", cell="conv_output_size",
         find="return span // s + 1", replace="return span // s",
         breaks=["conv_output_size_tests"], message="forgot the + 1"),
    dict(name="param_count_without_bias", cell="conv_param_count",
         find="(f * f * c_in + 1) * c_out", replace="f * f * c_in * c_out",
         breaks=["conv_param_count_tests"], message="forgot the biases"),
    dict(name="forward_flipped_kernel", cell="conv_forward",
         find="np.tensordot(window, w,", replace="np.tensordot(window, w[:, :, ::-1, ::-1],",
         breaks=["conv_forward_tests"], message="do not flip the kernel"),
    dict(name="forward_padding_one_side", cell="conv_forward",
         find="(pad, pad), (pad, pad)))", replace="(2 * pad, 0), (2 * pad, 0)))",
         breaks=["conv_forward_tests"], message="all four sides"),
    dict(name="forward_window_ignores_stride", cell="conv_forward",
         find="top, left = i * stride, j * stride", replace="top, left = i, j",
         breaks=["conv_forward_tests"], message="instead of by the stride"),
    dict(name="backward_db_wrong_axis", cell="conv_backward",
         find="db = dout.sum(axis=(0, 2, 3))", replace="db = dout.sum(axis=(1, 2, 3))",
         breaks=["conv_backward_tests"], message="wrong axis"),
    dict(name="backward_crop_empty_when_pad_0", cell="conv_backward",
         find="dxp[:, :, pad:pad + H, pad:pad + W]", replace="dxp[:, :, pad:-pad, pad:-pad]",
         breaks=["conv_backward_tests"], message="empty when p = 0"),
    dict(name="im2col_padding_one_side", cell="im2col",
         find="(pad, pad), (pad, pad)))", replace="(2 * pad, 0), (2 * pad, 0)))",
         breaks=["im2col_tests"], message="all four sides"),
    dict(name="im2col_windows_ignore_stride", cell="im2col",
         find="k:k + stride * H_out:stride, l:l + stride * W_out:stride]",
         replace="k:k + H_out, l:l + W_out]",
         breaks=["im2col_tests"], message="instead of by the stride"),
    dict(name="im2col_forward_missing_bias", cell="conv_forward_im2col",
         find="w.reshape(F, -1) @ cols + b[:, None]", replace="w.reshape(F, -1) @ cols",
         breaks=["conv_forward_im2col_tests"], message="forgot to add the bias"),
    dict(name="im2col_forward_wrong_reshape", cell="conv_forward_im2col",
         find="out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)", replace="out.reshape(N, F, H_out, W_out)",
         breaks=["conv_forward_im2col_tests"], message="move the batch axis first"),
    dict(name="unfold_flipped_kernel", cell="unfold_conv2d",
         find="self.weight.reshape(F, -1) @ cols", replace="self.weight.flip(-1, -2).reshape(F, -1) @ cols",
         breaks=["unfold_conv2d_tests"], message="do not flip the weight"),
    dict(name="unfold_weight_detached", cell="unfold_conv2d",
         find="self.weight.reshape(F, -1) @ cols", replace="self.weight.detach().reshape(F, -1) @ cols",
         breaks=["unfold_conv2d_tests"], message="keep the computation in autograd"),
]
