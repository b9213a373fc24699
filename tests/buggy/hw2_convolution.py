"""Buggy submissions for homework 2 (convolution, correlation, Sobel).

Each entry patches one solution cell of ``solutions/hw2_convolution/hw2_convolution.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive): the mistake is named, not just
detected. Parts that call a broken earlier part are graded with a reference version
of it, so a bug costs only the points of its own part. An entry with ``breaks=[]`` is a
correct solution written another way: it must keep full marks.
"""

BUGS = [
    dict(
        name="corr1d_flipped_kernel",
        cell="corr1d",
        find="np.sum(w * x[i:i + k])",
        replace="np.sum(w[::-1] * x[i:i + k])",
        breaks=["corr1d_tests"],
        message="do not flip",
    ),
    dict(
        name="conv1d_not_flipped",
        cell="conv1d",
        find="corr1d(x, w[::-1])",
        replace="corr1d(x, w)",
        breaks=["conv1d_tests"],
        message="equals the cross-correlation",
    ),
    dict(
        name="corr2d_stops_one_position_early",
        cell="corr2d",
        find="out_h, out_w = H - kh + 1, W - kw + 1",
        replace="out_h, out_w = H - kh, W - kw",
        breaks=["corr2d_tests"],
        message="one position early",
    ),
    dict(
        name="corr2d_flipped_kernel",
        cell="corr2d",
        find="np.sum(kernel * image",
        replace="np.sum(kernel[::-1, ::-1] * image",
        breaks=["corr2d_tests"],
        message="equals the convolution",
    ),
    dict(
        name="conv2d_not_flipped",
        cell="conv2d",
        find="corr2d(image, kernel[::-1, ::-1])",
        replace="corr2d(image, kernel)",
        breaks=["conv2d_tests"],
        message="equals the cross-correlation",
    ),
    dict(
        name="conv2d_flipped_rows_only",
        cell="conv2d",
        find="kernel[::-1, ::-1]",
        replace="kernel[::-1, :]",
        breaks=["conv2d_tests"],
        message="rows only",
    ),
    dict(
        name="toeplitz_kernel_reversed",
        cell="toeplitz_1d",
        find="T[i, col] = w[j]",
        replace="T[i, col] = w[k - 1 - j]",
        breaks=["toeplitz_1d_tests"],
        message="kernel reversed",
    ),
    dict(
        name="toeplitz_padding_not_shifted",
        cell="toeplitz_1d",
        find="col = i * stride + j - pad",
        replace="col = i * stride + j",
        breaks=["toeplitz_1d_tests"],
        message="padding is on the wrong side",
    ),
    dict(
        name="sobel_magnitude_not_energy",
        cell="sobel_edge_energy",
        find="return I_x ** 2 + I_y ** 2",
        replace="return np.sqrt(I_x ** 2 + I_y ** 2)",
        breaks=["sobel_edge_energy_tests"],
        message="without the square root",
    ),
    dict(
        name="sobel_conv_channels_swapped",
        cell="make_sobel_conv",
        find="np.stack([M_X, M_Y])",
        replace="np.stack([M_Y, M_X])",
        breaks=["make_sobel_conv_tests"],
        message="channels are swapped",
    ),
    dict(
        name="sobel_conv_flipped_kernels",
        cell="make_sobel_conv",
        find="torch.from_numpy(np.stack([M_X, M_Y]))",
        replace="torch.from_numpy(np.stack([M_X, M_Y])[:, ::-1, ::-1].copy())",
        breaks=["make_sobel_conv_tests"],
        message="without flipping",
    ),
    # a correct layer written another way: valid mode spelled padding="valid" (review H2-15)
    dict(
        name="sobel_conv_padding_valid_is_correct",
        cell="make_sobel_conv",
        find="nn.Conv2d(1, 2, kernel_size=3, bias=False)",
        replace='nn.Conv2d(1, 2, 3, padding="valid", bias=False)',
        breaks=[],
        message="",
    ),
    # The NumPy parts' rule (loops, no library correlation), read from the submitted code whatever
    # the import alias: the part is lost even though its values are right.
    dict(
        name="corr1d_calls_np_correlate",
        cell="corr1d",
        find="    return y\n",
        replace='    return np.correlate(x, w, "valid")\n',
        breaks=["corr1d_tests"],
        message="numpy.correlate",
    ),
    dict(
        name="corr1d_correlate_imported_under_an_alias",
        cell="corr1d",
        find="    return y\n",
        replace='    from numpy import correlate as slide\n    return slide(x, w, mode="valid")\n',
        breaks=["corr1d_tests"],
        message="numpy.correlate",
    ),
    dict(
        name="conv1d_np_convolve_through_a_module_alias",
        cell="conv1d",
        find="    return corr1d(x, w[::-1])",
        replace='    import numpy as onp\n    return onp.convolve(x, w, "valid")',
        breaks=["conv1d_tests"],
        message="numpy.convolve",
    ),
    # Part 8: the gradients of a correlation
    dict(
        name="corr1d_backward_dx_without_the_flip",
        cell="corr1d_backward",
        find="dx[i + j] += dy[i] * w[j]",
        replace="dx[i + j] += dy[i] * w[k - 1 - j]",
        breaks=["corr1d_backward_tests"],
        message="dx uses the kernel the wrong way round",
    ),
    dict(
        name="corr1d_backward_dw_reversed",
        cell="corr1d_backward",
        find="dw[j] += dy[i] * x[i + j]",
        replace="dw[k - 1 - j] += dy[i] * x[i + j]",
        breaks=["corr1d_backward_tests"],
        message="dw is reversed",
    ),
    # Part 9: autograd
    dict(
        name="torch_grads_returned_as_tensors",
        cell="corr1d_grads_torch",
        find="    return x_t.grad.numpy(), w_t.grad.numpy()",
        replace="    return x_t.grad, w_t.grad",
        breaks=["corr1d_grads_torch_tests"],
        message="is a torch tensor",
    ),
]
