"""Buggy submissions for homework 9 (sliding windows, dilation, decoding, augmentation).

Each entry patches one solution cell of ``solutions/hw9_sliding/hw9_sliding.ipynb`` with a
classic mistake: ``find`` occurs exactly once in the cell whose nbgrader ``grade_id`` is
``cell`` and is replaced by ``replace``. Graded, the patched notebook must fail exactly the
test cells listed in ``breaks`` (and no other), and the failure message must contain
``message`` (case-insensitive). No part calls another one, so every bug costs one part.
"""

BUGS = [
    # Part 1: a fully connected layer's weights as a convolution kernel.
    dict(
        name="fc_channels_last_ignored",
        cell="fc_to_conv",
        find="    if channels_last:\n",
        replace="    if False:\n",
        breaks=["fc_to_conv_tests"],
        message="a reshape alone",
    ),
    dict(
        name="fc_channels_last_reshaped_not_transposed",
        cell="fc_to_conv",
        find="return blocks.transpose(0, 3, 1, 2).copy(), bias.copy()",
        replace="return blocks.reshape(rows, C, h, w).copy(), bias.copy()",
        breaks=["fc_to_conv_tests"],
        message="a reshape alone",
    ),
    dict(
        name="fc_rows_and_columns_swapped",
        cell="fc_to_conv",
        find="return blocks.transpose(0, 3, 1, 2).copy(), bias.copy()",
        replace="return blocks.transpose(0, 3, 2, 1).copy(), bias.copy()",
        breaks=["fc_to_conv_tests"],
        message="rows and columns are swapped",
    ),
    dict(
        name="fc_kernel_flipped",
        cell="fc_to_conv",
        find="return weight.reshape(rows, C, h, w).copy(), bias.copy()",
        replace="return weight.reshape(rows, C, h, w)[:, :, ::-1, ::-1].copy(), bias.copy()",
        breaks=["fc_to_conv_tests"],
        message="the kernel is flipped",
    ),
    # Part 2: the classifier rewritten as a fully convolutional network.
    dict(
        name="fcn_kernel_transposed",
        cell="fully_convolutional",
        find="conv.weight.copy_(layer.weight.reshape(layer.out_features, in_channels, *size))",
        replace="conv.weight.copy_(layer.weight.reshape(layer.out_features, in_channels, *size).transpose(2, 3))",
        breaks=["fully_convolutional_tests"],
        message="rows and columns swapped",
    ),
    dict(
        name="fcn_activation_dropped",
        cell="fully_convolutional",
        find="            kept.append(layer)\n            continue\n",
        replace="            continue\n",
        breaks=["fully_convolutional_tests"],
        message="keep the layers in order, and the activations",
    ),
    # Part 3: the dilated correlation.
    dict(
        name="dilated_span_d_times_f",
        cell="dilated_corr2d",
        find="span_rows = dilation * (w.shape[0] - 1) + 1\n    span_cols = dilation * (w.shape[1] - 1) + 1",
        replace="span_rows = dilation * w.shape[0]\n    span_cols = dilation * w.shape[1]",
        breaks=["dilated_corr2d_tests"],
        message="spans D (F - 1) + 1 pixels",
    ),
    dict(
        name="dilated_kernel_flipped",
        cell="dilated_corr2d",
        find="np.sum(w * x[",
        replace="np.sum(w[::-1, ::-1] * x[",
        breaks=["dilated_corr2d_tests"],
        message="equals the dilated convolution",
    ),
    dict(
        name="dilated_with_sliding_window_view",
        cell="dilated_corr2d",
        find="    return y\n",
        replace="    from numpy.lib.stride_tricks import sliding_window_view as windows\n"
        "    big = np.zeros((span_rows, span_cols))\n"
        "    big[::dilation, ::dilation] = w\n"
        '    return np.einsum("ijkl,kl->ij", windows(x, big.shape), big)\n',
        breaks=["dilated_corr2d_tests"],
        message="numpy.lib.stride_tricks",
    ),
    # a correct dilated correlation written as chapter 10 writes it: one shifted slice of x per tap
    dict(
        name="dilated_by_taps_is_correct",
        cell="dilated_corr2d",
        find="    for i in range(y.shape[0]):\n        for j in range(y.shape[1]):\n"
        "            y[i, j] = np.sum(w * x[i:i + span_rows:dilation, j:j + span_cols:dilation])\n",
        replace="    for k in range(w.shape[0]):\n        for l in range(w.shape[1]):\n"
        "            y += w[k, l] * x[dilation * k:dilation * k + y.shape[0], dilation * l:dilation * l + y.shape[1]]\n",
        breaks=[],
        message="",
    ),
    # Part 4: its backward pass.
    dict(
        name="backward_dx_not_dilated",
        cell="dilated_corr2d_backward",
        find="dx[top:top + rows, left:left + cols] += w[k, l] * dy",
        replace="dx[k:k + rows, l:l + cols] += w[k, l] * dy",
        breaks=["dilated_corr2d_backward_tests"],
        message="dx is not dilated",
    ),
    dict(
        name="backward_dw_not_dilated",
        cell="dilated_corr2d_backward",
        find="dw[k, l] = np.sum(dy * x[top:top + rows, left:left + cols])",
        replace="dw[k, l] = np.sum(dy * x[k:k + rows, l:l + cols])",
        breaks=["dilated_corr2d_backward_tests"],
        message="dw is not dilated",
    ),
    dict(
        name="backward_dx_kernel_flipped",
        cell="dilated_corr2d_backward",
        find="+= w[k, l] * dy",
        replace="+= w[w.shape[0] - 1 - k, w.shape[1] - 1 - l] * dy",
        breaks=["dilated_corr2d_backward_tests"],
        message="dx uses the kernel the wrong way round",
    ),
    # Part 5: non-maximum suppression.
    dict(
        name="nms_threshold_not_strict",
        cell="nms",
        find="candidate = gain > threshold",
        replace="candidate = gain >= threshold",
        breaks=["nms_tests"],
        message="STRICTLY above the threshold",
    ),
    dict(
        name="nms_radius_excluded",
        cell="nms",
        find="candidate[max(0, best - radius):best + radius + 1] = False",
        replace="candidate[max(0, best - radius + 1):best + radius] = False\n        candidate[best] = False",
        breaks=["nms_tests"],
        message="at most radius",
    ),
    dict(
        name="nms_ties_to_the_right",
        cell="nms",
        find="best = int(np.argmax(np.where(candidate, gain, -np.inf)))",
        replace="best = len(gain) - 1 - int(np.argmax(np.where(candidate, gain, -np.inf)[::-1]))",
        breaks=["nms_tests"],
        message="keep the leftmost",
    ),
    # Part 6: the best reading with exactly n characters.
    dict(
        name="decode_argmax_per_position",
        cell="decode_n",
        find="    total = np.full((n + 1, T + 1), -np.inf)",
        replace="    return sorted(np.argsort(-gain, kind='stable')[:n].tolist())\n"
        "    total = np.full((n + 1, T + 1), -np.inf)",
        breaks=["decode_n_tests"],
        message="n largest gains",
    ),
    dict(
        name="decode_gap_off_by_one",
        cell="decode_n",
        find="    total = np.full((n + 1, T + 1), -np.inf)",
        replace="    min_gap -= 1  # positions min_gap - 1 apart allowed\n    total = np.full((n + 1, T + 1), -np.inf)",
        breaks=["decode_n_tests"],
        message="must be at least min_gap",
    ),
    dict(
        name="decode_greedy",
        cell="decode_n",
        find="    total = np.full((n + 1, T + 1), -np.inf)",
        replace="    picked = []\n"
        "    for t in np.argsort(-gain, kind='stable'):\n"
        "        if len(picked) < n and all(abs(int(t) - s) >= min_gap for s in picked):\n"
        "            picked.append(int(t))\n"
        "    return sorted(picked)\n"
        "    total = np.full((n + 1, T + 1), -np.inf)",
        breaks=["decode_n_tests"],
        message="exactly n",
    ),
    dict(
        name="decode_drops_negative_gains",
        cell="decode_n",
        find="    return chosen[::-1]",
        replace="    return [t for t in chosen[::-1] if gain[t] > 0]",
        breaks=["decode_n_tests"],
        message="exactly n",
    ),
    # Part 7: random shifts for augmentation.
    # the draw exactly as the part's text writes it (two lines), and a loop over pixels: correct
    dict(
        name="shift_as_the_text_writes_it_is_correct",
        cell="random_shift",
        find="    shifts = np.random.default_rng(seed).integers(-max_shift, max_shift + 1, size=(len(images), 2))\n",
        replace="    rng = np.random.default_rng(seed)\n"
        "    shifts = rng.integers(-max_shift, max_shift + 1, size=(len(images), 2))\n",
        breaks=[],
        message="",
    ),
    dict(
        name="shift_with_np_roll",
        cell="random_shift",
        find="        shifted[n, rows_to, cols_to] = images[n, rows_from, cols_from]\n",
        replace="        shifted[n] = np.roll(images[n], (dy, dx), axis=(0, 1))\n",
        breaks=["random_shift_tests"],
        message="np.roll",
    ),
    dict(
        name="shift_upper_bound_excluded",
        cell="random_shift",
        find=".integers(-max_shift, max_shift + 1, size=(len(images), 2))",
        replace=".integers(-max_shift, max_shift, size=(len(images), 2))",
        breaks=["random_shift_tests"],
        message="never reach +max_shift",
    ),
    dict(
        name="shift_wrong_direction",
        cell="random_shift",
        find="    for n, (dy, dx) in enumerate(shifts):\n",
        replace="    for n, (dy, dx) in enumerate(-shifts):\n",
        breaks=["random_shift_tests"],
        message="moved the wrong way",
    ),
]
