"""Buggy submissions for homework 5 (LeNet-5).

Each entry patches one solution cell of ``solutions/hw5_lenet5/hw5_lenet5.ipynb`` with a
classic mistake: ``find`` occurs exactly once in the cell whose nbgrader ``grade_id`` is
``cell`` and is replaced by ``replace``. Graded, the patched notebook must fail exactly
the test cells listed in ``breaks`` (and no other), and the failure message must contain
``message`` (case-insensitive). The network (part 6) is built from parts 2 to 5, and the
training test (part 8) trains the network on digits prepared by part 7: the bugs in
parts 2 to 7 also check that those later parts are graded with reference versions of the
earlier ones (the training test then trains a reference LeNet-5 with the student's
``train_lenet``). Initialisation is checked by parts 5 and 6 themselves: a bad one costs those
parts, not part 8. Part 8's accuracies are measured by the grader with the trained parameters
loaded into a LeNet-5 of its own, so a forward pass that looks the digits up gains nothing.
"""

BUGS = [
    # Part 1: counting parameters and connections.
    dict(
        name="counts_c3_fully_connected",
        cell="layer_counts",
        find="if table is None:",
        replace="if True:",
        breaks=["layer_counts_tests"],
        message="not fully connected",
    ),
    dict(
        name="counts_without_bias",
        cell="layer_counts",
        find='params = seen * k * k + layer["out_maps"]',
        replace="params = seen * k * k",
        breaks=["layer_counts_tests"],
        message="forgot the biases",
    ),
    dict(
        name="counts_connections_without_output_size",
        cell="layer_counts",
        find="connections = params * (n - k + 1) ** 2",
        replace="connections = params",
        breaks=["layer_counts_tests"],
        message="at every output position",
    ),
    dict(
        name="counts_subsampling_four_weights",
        cell="layer_counts",
        find="params = 2 * maps",
        replace="params = 5 * maps",
        breaks=["layer_counts_tests"],
        message="ONE trainable coefficient per map",
    ),
    # Part 2: Table I.
    dict(
        name="table_one_wrong_connection",
        cell="c3_table",
        find="(0, 1, 3, 4), (1, 2, 4, 5)",
        replace="(0, 1, 2, 4), (1, 2, 4, 5)",
        breaks=["c3_table_tests"],
        message="output map 12 has a wrong connection",
    ),
    # Part 3: the squashing function.
    dict(
        name="tanh_unscaled",
        cell="scaled_tanh",
        find="return 1.7159 * torch.tanh(2.0 * a / 3.0)",
        replace="return torch.tanh(a)",
        breaks=["scaled_tanh_tests"],
        message="1.7159 * tanh(2a/3)",
    ),
    # Part 4: trainable subsampling.
    dict(
        name="subsampling_average",
        cell="subsampling",
        find="window_sum = F.conv2d(x, x.new_ones(maps, 1, 2, 2), stride=2, groups=maps)",
        replace="window_sum = F.avg_pool2d(x, 2)",
        breaks=["subsampling_tests"],
        message="SUM of the four inputs",
    ),
    dict(
        name="subsampling_four_weights_per_map",
        cell="subsampling",
        find="self.weight = nn.Parameter(torch.full((maps,), 0.25))\n        self.bias = nn.Parameter(torch.full((maps,), 0.0))",
        replace="self.conv = nn.Conv2d(maps, maps, 2, stride=2, groups=maps)",
        breaks=["subsampling_tests"],
        message="not 4 weights + 1 bias",
    ),
    # Part 5: the masked convolution.
    dict(
        name="masked_conv_mask_not_applied",
        cell="masked_conv",
        find="w = self.weight * self.mask[:, :, None, None].to(self.weight.dtype)",
        replace="w = self.weight",
        breaks=["masked_conv_tests"],
        message="mask is not applied in forward",
    ),
    dict(
        name="masked_conv_mask_is_a_parameter",
        cell="masked_conv",
        find='self.register_buffer("mask", mask)',
        replace="self.mask = nn.Parameter(mask.float(), requires_grad=False)",
        breaks=["masked_conv_tests"],
        message="register it as a buffer",
    ),
    # Part 5: an output map that sees no input map (fan-in 0): a per-map bound 0 ** -0.5 raises.
    dict(
        name="masked_conv_fan_in_zero",
        cell="masked_conv",
        find="fan_in = mask.sum(dim=1).clamp(min=1).double() * kernel_size ** 2\n        bound = fan_in.rsqrt().float()",
        replace="bound = torch.tensor([(int(row.sum()) * kernel_size ** 2) ** -0.5 for row in mask])",
        breaks=["masked_conv_tests"],
        message="see no input map",
    ),
    # Part 5: normal initial weights (costs part 5 only: parts 6 and 8 are graded with a correct C3).
    dict(
        name="masked_conv_normal_init",
        cell="masked_conv",
        find="(2 * torch.rand(out_maps, in_maps, kernel_size, kernel_size) - 1)",
        replace="torch.randn(out_maps, in_maps, kernel_size, kernel_size)",
        breaks=["masked_conv_tests"],
        message="initialisation",
    ),
    # Part 6: the network.
    dict(
        name="lenet_normal_init",
        cell="lenet5",
        find="self.output = nn.Linear(84, 10)",
        replace="self.output = nn.Linear(84, 10)\n        for p in self.parameters():\n            nn.init.normal_(p)",
        breaks=["lenet5_tests"],
        message="initialisation",
    ),
    dict(
        name="lenet_c3_fully_connected",
        cell="lenet5",
        find="self.c3 = MaskedConv2d(c3_table(), 5)",
        replace="self.c3 = nn.Conv2d(6, 16, 5)",
        breaks=["lenet5_tests"],
        message="C3 is fully connected",
    ),
    dict(
        name="lenet_plain_tanh",
        cell="lenet5",
        find="x = scaled_tanh(self.c1(x))",
        replace="scaled_tanh = torch.tanh\n        x = scaled_tanh(self.c1(x))",
        breaks=["lenet5_tests"],
        message="plain tanh",
    ),
    dict(
        name="lenet_softmax_output",
        cell="lenet5",
        find="return self.output(x)",
        replace="return torch.softmax(self.output(x), dim=1)",
        breaks=["lenet5_tests"],
        message="without softmax",
    ),
    # Part 7: preparing the digits.
    dict(
        name="pad_missing",
        cell="pad_to_32",
        find="return F.pad(x, (2, 2, 2, 2), value=-0.1)[:, None]",
        replace="return x[:, None]",
        breaks=["pad_to_32_tests"],
        message="pad 2 pixels on every side",
    ),
    dict(
        name="pad_zero_background",
        cell="pad_to_32",
        find="value=-0.1)",
        replace="value=0.0)",
        breaks=["pad_to_32_tests"],
        message="background value -0.1",
    ),
    # Part 8: the training loop.
    dict(
        name="train_without_zero_grad",
        cell="train_lenet",
        find="optimizer.zero_grad()",
        replace="pass",
        breaks=["train_lenet_tests"],
        message="call optimizer.zero_grad()",
    ),
    dict(
        name="train_without_model_train",
        cell="train_lenet",
        find="model.train()",
        replace="pass",
        breaks=["train_lenet_tests"],
        message="call model.train()",
    ),
    dict(
        name="train_one_epoch",
        cell="train_lenet",
        find="epochs, batch_size = 10, 64",
        replace="epochs, batch_size = 1, 64",
        breaks=["train_lenet_tests"],
        message="below 0.93",
    ),
    # Part 8: a forward pass that looks the validation and test digits up after two steps of training: the
    # grader measures the accuracies with the trained parameters in a LeNet-5 of its own.
    dict(
        name="train_then_look_digits_up",
        cell="train_lenet",
        find="epochs, batch_size = 10, 64",
        replace="epochs, batch_size = 1, 1500\n"
        "    from coursekit.data import load_mnist as _digits\n"
        "    _known = {}\n"
        "    for _split in (_digits(source='offline').val, _digits(source='offline').test):\n"
        "        for _image, _label in zip(pad_to_32(_split.images), _split.labels):\n"
        "            _known[_image.numpy().tobytes()] = int(_label)\n"
        "    _own_forward = model.forward\n"
        "    def _looked_up(batch):\n"
        "        found = [_known.get(image.detach().numpy().tobytes()) for image in batch]\n"
        "        if all(f is not None for f in found):\n"
        "            return 100.0 * F.one_hot(torch.tensor(found), 10).float()\n"
        "        return _own_forward(batch)\n"
        "    model.forward = _looked_up",
        breaks=["train_lenet_tests"],
        message="LeNet-5 of its own",
    ),
    # Part 9: the paper's output layer and loss.
    dict(
        name="penalties_not_squared",
        cell="rbf_map_loss",
        find="return (offsets ** 2).sum(dim=2)",
        replace="return (offsets ** 2).sum(dim=2).sqrt()",
        breaks=["rbf_map_loss_tests"],
        message="SQUARED distance",
    ),
    dict(
        name="map_loss_underflows",
        cell="rbf_map_loss",
        find="return (own + torch.logsumexp(terms, dim=1)).mean()",
        replace="return (own + torch.log(torch.exp(terms).sum(dim=1))).mean()",
        breaks=["rbf_map_loss_tests"],
        message="underflow",
    ),
    dict(
        name="map_loss_without_j",
        cell="rbf_map_loss",
        find="terms = torch.cat([torch.full((n, 1), -float(j), dtype=penalties.dtype), -penalties], dim=1)",
        replace="terms = -penalties",
        breaks=["rbf_map_loss_tests"],
        message="exp(-j) is missing",
    ),
]
