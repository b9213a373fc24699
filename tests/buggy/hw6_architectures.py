"""Buggy submissions for homework 6 (modern architectures).

Each entry patches one solution cell of ``solutions/hw6_architectures/hw6_architectures.ipynb``
with a classic mistake: ``find`` occurs exactly once in the cell whose nbgrader
``grade_id`` is ``cell`` and is replaced by ``replace``. Graded, the patched notebook
must fail exactly the test cells listed in ``breaks`` (and no other), and the failure
message must contain ``message`` (case-insensitive). The reference solution calls
``receptive_field`` (part 1) from ``receptive_field_of`` (part 6), and the published totals
of part 5 are computed on networks built from the blocks of parts 2 to 4: the bugs in
parts 1 to 4 also check that those later parts are graded with reference versions.
The notebook's convention for the bottleneck is ResNet v1.5 (torchvision): the stride
is on the 3x3 convolution. Part 5's rule (MACs from the student's own forward hooks, no FLOP
counter) is checked on the submitted code by ``coursekit.rules.forbid``, whatever the alias.
"""

BUGS = [
    dict(
        name="rf_ignores_dilation",
        cell="receptive_field",
        find="k_eff = d * (k - 1) + 1",
        replace="k_eff = k",
        breaks=["receptive_field_tests"],
        message="ignored the dilation",
    ),
    dict(
        name="rf_uses_current_stride",
        cell="receptive_field",
        find="r = r + (k_eff - 1) * jump\n        jump = jump * s",
        replace="jump = jump * s\n        r = r + (k_eff - 1) * jump",
        breaks=["receptive_field_tests"],
        message="not including the stride of layer l itself",
    ),
    dict(
        name="rf_jump_is_last_stride",
        cell="receptive_field",
        find="jump = jump * s",
        replace="jump = s",
        breaks=["receptive_field_tests"],
        message="product of the strides",
    ),
    dict(
        name="vgg_without_padding",
        cell="vgg_block",
        find="kernel_size=3, padding=1)",
        replace="kernel_size=3)",
        breaks=["vgg_block_tests"],
        message="use padding=1",
    ),
    dict(
        name="vgg_average_pool",
        cell="vgg_block",
        find="nn.MaxPool2d(2)",
        replace="nn.AvgPool2d(2)",
        breaks=["vgg_block_tests"],
        message="not the average",
    ),
    dict(
        name="basic_projection_without_bn",
        cell="basic_block",
        find="nn.Sequential(projection, nn.BatchNorm2d(out_channels))",
        replace="nn.Sequential(projection)",
        breaks=["basic_block_tests"],
        message="has no batch norm",
    ),
    dict(
        name="basic_relu_before_addition",
        cell="basic_block",
        find="out = self.bn2(self.conv2(out))\n        return torch.relu(out + self.shortcut(x))",
        replace="out = torch.relu(self.bn2(self.conv2(out)))\n        return out + self.shortcut(x)",
        breaks=["basic_block_tests"],
        message="ReLU is applied before the addition",
    ),
    dict(
        name="basic_identity_when_channels_change",
        cell="basic_block",
        find="if stride != 1 or in_channels != out_channels:",
        replace="if stride != 1:",
        breaks=["basic_block_tests"],
        message="the shortcut must be a projection",
    ),
    dict(
        name="basic_conv_with_bias",
        cell="basic_block",
        find="self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
        replace="self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)",
        breaks=["basic_block_tests"],
        message="bias=False",
    ),
    dict(
        name="bottleneck_stride_on_1x1_not_3x3",
        cell="bottleneck",
        find="self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)",
        replace="self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)\n"
        "        self.conv1.stride = (stride, stride)",
        breaks=["bottleneck_tests"],
        message="the stride goes on the 3x3 convolution",
    ),
    dict(
        name="bottleneck_without_expansion",
        cell="bottleneck",
        find="out_channels = self.expansion * channels",
        replace="out_channels = channels",
        breaks=["bottleneck_tests"],
        message="the expansion is 4",
    ),
    dict(
        name="bottleneck_relu_before_addition",
        cell="bottleneck",
        find="out = self.bn3(self.conv3(out))\n        return torch.relu(out + self.shortcut(x))",
        replace="out = torch.relu(self.bn3(self.conv3(out)))\n        return out + self.shortcut(x)",
        breaks=["bottleneck_tests"],
        message="ReLU is applied before the addition",
    ),
    dict(
        name="counter_forgets_biases",
        cell="count_params_macs",
        find="params = sum(p.numel() for p in model.parameters())",
        replace='params = sum(p.numel() for name, p in model.named_parameters() if not name.endswith("bias"))',
        breaks=["count_params_macs_tests"],
        message="forgot the biases",
    ),
    dict(
        name="counter_counts_batch_norm_macs",
        cell="count_params_macs",
        find="isinstance(m, (nn.Conv2d, nn.Linear))",
        replace="isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))",
        breaks=["count_params_macs_tests"],
        message="MACs of the batch norm layers",
    ),
    dict(
        name="counter_counts_multiply_adds_twice",
        cell="count_params_macs",
        find="macs.append(output[0].numel() * module.weight[0].numel())",
        replace="macs.append(2 * output[0].numel() * module.weight[0].numel())",
        breaks=["count_params_macs_tests"],
        message="counted each multiply-add twice",
    ),
    dict(
        name="counter_input_on_cpu",
        cell="count_params_macs",
        find="model(torch.zeros(1, *input_size, device=dev, dtype=dtype))",
        replace="model(torch.zeros(1, *input_size))",
        breaks=["count_params_macs_tests"],
        message="meta device",
    ),
    dict(
        name="counter_hooks_not_removed",
        cell="count_params_macs",
        find="            h.remove()\n",
        replace="            pass\n",
        breaks=["count_params_macs_tests"],
        message="remove them",
    ),
    dict(
        name="counter_ignores_groups",
        cell="count_params_macs",
        find="macs.append(output[0].numel() * module.weight[0].numel())",
        replace="macs.append(output[0].numel() * (module.in_channels * module.kernel_size[0] * module.kernel_size[1]\n"
        "                                             if isinstance(module, nn.Conv2d) else module.in_features))",
        breaks=["count_params_macs_tests"],
        message="groups",
    ),
    # The rule of part 5 (MACs from forward hooks): PyTorch's FLOP counter under an alias.
    dict(
        name="counter_uses_flop_counter",
        cell="count_params_macs",
        find="return int(params), int(sum(macs))",
        replace="from torch.utils import flop_counter as counting\n"
        "    counter = counting.FlopCounterMode(display=False)\n"
        "    model.eval()\n"
        "    with counter, torch.no_grad():\n"
        "        model(torch.zeros(1, *input_size, device=dev, dtype=dtype))\n"
        "    model.train(was_training)\n"
        "    return int(params), int(counter.get_total_flops() // 2)",
        breaks=["count_params_macs_tests"],
        message="your own forward hooks",
    ),
    dict(
        name="rf_of_skips_pooling",
        cell="receptive_field_of",
        find="elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):",
        replace="elif False:",
        breaks=["receptive_field_of_tests"],
        message="pooling layers are missing",
    ),
    dict(
        name="rf_of_not_recursive",
        cell="receptive_field_of",
        find="for m in net.modules():",
        replace="for m in net.children():",
        breaks=["receptive_field_of_tests"],
        message="nested",
    ),
    dict(
        name="rf_of_ignores_conv_dilation",
        cell="receptive_field_of",
        find="first(m.dilation)))",
        replace="1))",
        breaks=["receptive_field_of_tests"],
        message="dilation of the convolutions",
    ),
    # Part 7: the depthwise-separable block.
    dict(
        name="separable_without_groups",
        cell="depthwise_separable",
        find=", groups=in_channels,",
        replace=",",
        breaks=["depthwise_separable_tests"],
        message="groups=in_channels",
    ),
    dict(
        name="separable_stride_on_pointwise",
        cell="depthwise_separable",
        find="self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)",
        replace="self.pointwise = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)\n"
        "        self.depthwise.stride = (1, 1)",
        breaks=["depthwise_separable_tests"],
        message="the stride goes on the depthwise",
    ),
    dict(
        name="separable_without_inner_relu",
        cell="depthwise_separable",
        find="per_channel = torch.relu(self.bn1(self.depthwise(x)))",
        replace="per_channel = self.bn1(self.depthwise(x))",
        breaks=["depthwise_separable_tests"],
        message="no ReLU between the two convolutions",
    ),
]
