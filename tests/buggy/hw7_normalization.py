"""Buggy submissions for homework 7 (normalization).

Each entry patches one solution cell of ``solutions/hw7_normalization/hw7_normalization.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive). No part calls another one (the
batch-norm backward test builds its cache itself), so every bug costs one part. Besides the
classic mistakes, part 5 has submissions that break its rule (PyTorch's normalisations, under
any name), which the static check of ``coursekit.rules`` must catch.
"""

BUGS = [
    # Part 1: batch norm, forward pass.
    dict(
        name="bn_running_var_biased",
        cell="batchnorm_forward",
        find="momentum * var * m / (m - 1)",
        replace="momentum * var",
        breaks=["batchnorm_forward_tests"],
        message="unbiased batch variance",
    ),
    dict(
        name="bn_momentum_wrong_way",
        cell="batchnorm_forward",
        find="new_running_mean = (1 - momentum) * running_mean + momentum * mean",
        replace="new_running_mean = momentum * running_mean + (1 - momentum) * mean",
        breaks=["batchnorm_forward_tests"],
        message="momentum the wrong way round",
    ),
    dict(
        name="bn_axis_0_only",
        cell="batchnorm_forward",
        find="axes = (0, 2, 3)",
        replace="axes = (0,)",
        breaks=["batchnorm_forward_tests"],
        message="batch axis only",
    ),
    dict(
        name="bn_per_sample",
        cell="batchnorm_forward",
        find="axes = (0, 2, 3)",
        replace="axes = (1, 2, 3)",
        breaks=["batchnorm_forward_tests"],
        message="that is layer norm",
    ),
    dict(
        name="bn_eps_outside_sqrt",
        cell="batchnorm_forward",
        find="x_hat = (x - batch_mu) / np.sqrt(v + eps)",
        replace="x_hat = (x - batch_mu) / (np.sqrt(v) + eps)",
        breaks=["batchnorm_forward_tests"],
        message="eps goes inside the square root",
    ),
    dict(
        name="bn_eval_uses_batch_statistics",
        cell="batchnorm_forward",
        find="x_hat = (x - running_mean[None, :, None, None]) / np.sqrt(running_var[None, :, None, None] + eps)",
        replace="x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)",
        breaks=["batchnorm_forward_tests"],
        message="in eval mode, normalise with running_mean",
    ),
    dict(
        name="bn_single_value_not_refused",
        cell="batchnorm_forward",
        find="if m < 2:",
        replace="if m < 1:",
        breaks=["batchnorm_forward_tests"],
        message="raise ValueError",
    ),
    dict(
        name="bn_single_value_refused_in_eval_mode",
        cell="batchnorm_forward",  # review H2-14
        find="    g, b = gamma[None, :, None, None], beta[None, :, None, None]\n",
        replace="    g, b = gamma[None, :, None, None], beta[None, :, None, None]\n"
        "    if x.shape[0] * x.shape[2] * x.shape[3] < 2:\n"
        "        raise ValueError('batch norm needs more than one value per channel')\n",
        breaks=["batchnorm_forward_tests"],
        message="only train mode needs more than one value",
    ),
    # Part 2: batch norm, backward pass.
    dict(
        name="bn_backward_statistics_constant",
        cell="batchnorm_backward",
        find="dx = inv_std / m * (m * dx_hat - dx_hat.sum(axis=axes, keepdims=True)\n"
        "                        - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True))",
        replace="dx = dx_hat * inv_std",
        breaks=["batchnorm_backward_tests"],
        message="as constants",
    ),
    dict(
        name="bn_backward_no_variance_path",
        cell="batchnorm_backward",
        find="\n                        - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True))",
        replace=")",
        breaks=["batchnorm_backward_tests"],
        message="path through the variance",
    ),
    dict(
        name="bn_backward_dgamma_wrong_axes",
        cell="batchnorm_backward",
        find="dgamma = (dout * x_hat).sum(axis=axes)",
        replace="dgamma = (dout * x_hat).sum(axis=0)",
        breaks=["batchnorm_backward_tests"],
        message="summed over the wrong axes",
    ),
    dict(
        name="bn_backward_dgamma_without_xhat",
        cell="batchnorm_backward",
        find="dgamma = (dout * x_hat).sum(axis=axes)",
        replace="dgamma = dout.sum(axis=axes)",
        breaks=["batchnorm_backward_tests"],
        message="not of dout",
    ),
    dict(
        name="bn_backward_dbeta_mean",
        cell="batchnorm_backward",
        find="dbeta = dout.sum(axis=axes)",
        replace="dbeta = dout.mean(axis=axes)",
        breaks=["batchnorm_backward_tests"],
        message="not the mean",
    ),
    # Part 3: layer norm.
    dict(
        name="ln_over_the_batch",
        cell="layernorm",
        find="axes = tuple(range(1, x.ndim))",
        replace="axes = (0,)",
        breaks=["layernorm_tests"],
        message="over the batch",
    ),
    dict(
        name="ln_backward_sums_over_batch",
        cell="layernorm",
        find="axes = tuple(range(1, dout.ndim))",
        replace="axes = (0,)",
        breaks=["layernorm_tests"],
        message="batch norm's backward",
    ),
    dict(
        name="ln_backward_statistics_constant",
        cell="layernorm",
        find="dx = inv_std * (dx_hat - dx_hat.mean(axis=axes, keepdims=True)\n"
        "                    - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True))",
        replace="dx = dx_hat * inv_std",
        breaks=["layernorm_tests"],
        message="as constants",
    ),
    dict(
        name="ln_dgamma_wrong_axes",
        cell="layernorm",
        find="dgamma = (dout * x_hat).sum(axis=0)",
        replace="dgamma = (dout * x_hat).sum(axis=axes)",
        breaks=["layernorm_tests"],
        message="batch axis only",
    ),
    # Part 4: group norm, forward pass.
    dict(
        name="gn_wrong_channel_order",
        cell="groupnorm_forward",
        find="xg = x.reshape(N, G, C // G, H, W)",
        replace="xg = x.reshape(N, C // G, G, H, W)",
        breaks=["groupnorm_forward_tests"],
        message="reshape to (N, G, C // G, H, W)",
    ),
    dict(
        name="gn_unbiased_variance",
        cell="groupnorm_forward",
        find="var = xg.var(axis=(2, 3, 4), keepdims=True)",
        replace="var = xg.var(axis=(2, 3, 4), ddof=1, keepdims=True)",
        breaks=["groupnorm_forward_tests"],
        message="biased variance",
    ),
    # Part 5: the GroupNorm module.
    dict(
        name="gn_module_affine_per_group",
        cell="groupnorm_module",
        find="self.weight = nn.Parameter(torch.ones(num_channels))",
        replace="self.weight = nn.Parameter(torch.ones(num_groups))",
        breaks=["groupnorm_module_tests"],
        message="per channel",
    ),
    dict(
        name="gn_module_unbiased_var",
        cell="groupnorm_module",
        find="var = xg.var(dim=2, unbiased=False, keepdim=True)",
        replace="var = xg.var(dim=2, keepdim=True)",
        breaks=["groupnorm_module_tests"],
        message="unbiased=False",
    ),
    dict(
        name="gn_module_weight_zeros",
        cell="groupnorm_module",
        find="self.weight = nn.Parameter(torch.ones(num_channels))",
        replace="self.weight = nn.Parameter(torch.zeros(num_channels))",
        breaks=["groupnorm_module_tests"],
        message="starts at ones",
    ),
    dict(
        name="gn_module_accepts_bad_groups",
        cell="groupnorm_module",
        find="if num_channels % num_groups != 0:",
        replace="if False:",
        breaks=["groupnorm_module_tests"],
        message="should raise ValueError",
    ),
    dict(
        name="gn_module_calls_group_norm",
        cell="groupnorm_module",
        find="N, C = x.shape[:2]",
        replace="return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)\n        N, C = x.shape[:2]",
        breaks=["groupnorm_module_tests"],
        message="must compute the group statistics itself",
    ),
    # Part 5, the rule: no normalisation of PyTorch's, whatever its name (review H2-11).
    dict(
        name="gn_module_group_norm_imported",
        cell="groupnorm_module",
        find="N, C = x.shape[:2]",
        replace="from torch.nn.functional import group_norm as gn\n"
        "        return gn(x, self.num_groups, self.weight, self.bias, self.eps)\n        N, C = x.shape[:2]",
        breaks=["groupnorm_module_tests"],
        message="must compute the group statistics itself",
    ),
    dict(
        name="gn_module_torch_group_norm",
        cell="groupnorm_module",
        find="N, C = x.shape[:2]",
        replace="return torch.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)\n"
        "        N, C = x.shape[:2]",
        breaks=["groupnorm_module_tests"],
        message="no F.group_norm, torch.group_norm or nn.GroupNorm",
    ),
    dict(
        name="gn_module_layer_norm_on_groups",
        cell="groupnorm_module",
        find="mean = xg.mean(dim=2, keepdim=True)\n        var = xg.var(dim=2, unbiased=False, keepdim=True)\n"
        "        out = ((xg - mean) / torch.sqrt(var + self.eps)).reshape(x.shape)",
        replace="out = F.layer_norm(xg, xg.shape[2:], eps=self.eps).reshape(x.shape)",
        breaks=["groupnorm_module_tests"],
        message="no F.layer_norm",
    ),
    # Part 6: evaluate.
    dict(
        name="evaluate_forgets_eval",
        cell="evaluate",
        find="    model.eval()\n",
        replace="",
        breaks=["evaluate_tests"],
        message="call model.eval()",
    ),
    dict(
        name="evaluate_does_not_restore_mode",
        cell="evaluate",
        find="model.train(was_training)",
        replace="pass",
        breaks=["evaluate_tests"],
        message="restore its previous mode",
    ),
    dict(
        name="evaluate_always_back_to_train",
        cell="evaluate",
        find="model.train(was_training)",
        replace="model.train()",
        breaks=["evaluate_tests"],
        message="not model.train()",
    ),
    dict(
        name="evaluate_without_no_grad",
        cell="evaluate",
        find="with torch.no_grad():",
        replace="if True:",
        breaks=["evaluate_tests"],
        message="torch.no_grad()",
    ),
    dict(
        name="evaluate_drops_last_batch",
        cell="evaluate",
        find="range(0, len(images), batch_size)",
        replace="range(0, len(images) - batch_size + 1, batch_size)",
        breaks=["evaluate_tests"],
        message="the last one may be smaller",
    ),
    dict(
        name="evaluate_returns_scores",
        cell="evaluate",
        find=".argmax(dim=1)",
        replace="",
        breaks=["evaluate_tests"],
        message="return the predicted classes",
    ),
    # Part 7: folding a batch norm into the next convolution.
    dict(
        name="fold_scales_output_channels",
        cell="fold_into_next_conv",
        find="folded.weight.copy_(w * scale.view(1, -1, 1, 1))",
        replace="folded.weight.copy_(w * scale.view(-1, 1, 1, 1))",
        breaks=["fold_into_next_conv_tests"],
        message="you scaled the OUTPUT channels",
    ),
    dict(
        name="fold_shift_missing",
        cell="fold_into_next_conv",
        find="folded.bias.copy_(b + (w.sum(dim=(2, 3)) * shift.view(1, -1)).sum(dim=1))",
        replace="folded.bias.copy_(b)",
        breaks=["fold_into_next_conv_tests"],
        message="shift s_c = beta_c - a_c * running_mean_c is missing",
    ),
    dict(
        name="fold_shift_through_scaled_weights",
        cell="fold_into_next_conv",
        find="(w.sum(dim=(2, 3))",
        replace="(folded.weight.sum(dim=(2, 3))",
        breaks=["fold_into_next_conv_tests"],
        message="ORIGINAL weights",
    ),
    dict(
        name="fold_accepts_padding",
        cell="fold_into_next_conv",
        find='if conv.padding not in ((0, 0), "valid"):',
        replace="if False:",
        breaks=["fold_into_next_conv_tests"],
        message="should raise ValueError",
    ),
]
