"""Buggy submissions for homework 2 (convolution, correlation, Sobel).

Each entry patches one solution cell of ``solutions/hw2_convolution/hw2_convolution.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive): the mistake is named, not just
detected. Parts that call a broken earlier part are graded with a reference version
of it, so a bug costs only the points of its own part.
"""

BUGS = [
    dict(name="corr1d_flipped_kernel", cell="corr1d",
         find="np.sum(w * x[i:i + k])", replace="np.sum(w[::-1] * x[i:i + k])",
         breaks=["corr1d_tests"], message="do not flip"),
    dict(name="conv1d_not_flipped", cell="conv1d",
         find="corr1d(x, w[::-1])", replace="corr1d(x, w)",
         breaks=["conv1d_tests"], message="equals the cross-correlation"),
    dict(name="corr2d_stops_one_position_early", cell="corr2d",
         find="out_h, out_w = H - kh + 1, W - kw + 1", replace="out_h, out_w = H - kh, W - kw",
         breaks=["corr2d_tests"], message="one position early"),
    dict(name="corr2d_flipped_kernel", cell="corr2d",
         find="np.sum(kernel * image", replace="np.sum(kernel[::-1, ::-1] * image",
         breaks=["corr2d_tests"], message="equals the convolution"),
    dict(name="conv2d_not_flipped", cell="conv2d",
         find="corr2d(image, kernel[::-1, ::-1])", replace="corr2d(image, kernel)",
         breaks=["conv2d_tests"], message="equals the cross-correlation"),
    dict(name="conv2d_flipped_rows_only", cell="conv2d",
         find="kernel[::-1, ::-1]", replace="kernel[::-1, :]",
         breaks=["conv2d_tests"], message="rows only"),
    dict(name="toeplitz_kernel_reversed", cell="toeplitz_1d",
         find="T[i, i:i + k] = w", replace="T[i, i:i + k] = w[::-1]",
         breaks=["toeplitz_1d_tests"], message="kernel reversed"),
    dict(name="sobel_magnitude_not_energy", cell="sobel_edge_energy",
         find="return I_x ** 2 + I_y ** 2", replace="return np.sqrt(I_x ** 2 + I_y ** 2)",
         breaks=["sobel_edge_energy_tests"], message="without the square root"),
    dict(name="sobel_conv_channels_swapped", cell="make_sobel_conv",
         find="np.stack([M_X, M_Y])", replace="np.stack([M_Y, M_X])",
         breaks=["make_sobel_conv_tests"], message="channels are swapped"),
    dict(name="sobel_conv_flipped_kernels", cell="make_sobel_conv",
         find="torch.from_numpy(np.stack([M_X, M_Y]))",
         replace="torch.from_numpy(np.stack([M_X, M_Y])[:, ::-1, ::-1].copy())",
         breaks=["make_sobel_conv_tests"], message="without flipping"),
]
