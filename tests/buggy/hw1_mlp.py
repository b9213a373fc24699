"""Buggy submissions for homework 1 (MLP and backpropagation).

Each entry patches one solution cell of ``solutions/hw1_mlp/hw1_mlp.ipynb`` with a
classic mistake: ``find`` occurs exactly once in the cell whose nbgrader ``grade_id``
is ``cell`` and is replaced by ``replace``. Graded, the patched notebook must fail
exactly the test cells listed in ``breaks`` (and no other), and the failure message
must contain ``message`` (case-insensitive): the mistake is named, not just detected.
Parts that call a broken earlier part (``two_layer_loss`` calls parts 1 to 3; the
MNIST check of ``train_model`` uses ``TwoLayerNet``) run their hidden checks with
reference versions, so a bug costs only its own part; in the student's copy (no
hidden tests) they fail, saying which part to fix first.
"""

BUGS = [
    # Part 1: softmax_cross_entropy
    dict(name="ce_missing_1_over_N", cell="softmax_cross_entropy",
         find="dscores /= N", replace="pass",
         breaks=["softmax_cross_entropy_tests"], message="1/N"),
    dict(name="ce_gradient_sign_flipped", cell="softmax_cross_entropy",
         find="dscores /= N", replace="dscores /= -N",
         breaks=["softmax_cross_entropy_tests"], message="wrong sign"),
    dict(name="ce_loss_summed_not_averaged", cell="softmax_cross_entropy",
         find="loss = -log_probs[np.arange(N), y].mean()", replace="loss = -log_probs[np.arange(N), y].sum()",
         breaks=["softmax_cross_entropy_tests"], message="not the sum"),
    dict(name="ce_softmax_without_max_shift", cell="softmax_cross_entropy",
         find="shifted = scores - scores.max(axis=1, keepdims=True)", replace="shifted = scores * 1.0",
         breaks=["softmax_cross_entropy_tests"], message="overflow"),
    # Part 2: affine layer
    dict(name="affine_forgotten_bias_gradient", cell="affine",
         find="db = dout.sum(axis=0)", replace="db = np.zeros_like(b)",
         breaks=["affine_tests"], message="forgot the bias gradient"),
    dict(name="affine_db_summed_over_wrong_axis", cell="affine",
         find="db = dout.sum(axis=0)", replace="db = dout.sum(axis=1)",
         breaks=["affine_tests"], message="wrong axis"),
    dict(name="affine_db_mean_not_sum", cell="affine",
         find="db = dout.sum(axis=0)", replace="db = dout.mean(axis=0)",
         breaks=["affine_tests"], message="must be the sum"),
    dict(name="affine_dw_transposed", cell="affine",
         find="dw = x.T @ dout", replace="dw = dout.T @ x",
         breaks=["affine_tests"], message="transposed"),
    # Part 3: activations
    dict(name="relu_mask_on_dout", cell="activations",
         find="dx = dout * (x > 0)", replace="dx = dout * (dout > 0)",
         breaks=["activations_tests"], message="mask must come from the sign of the relu's input"),
    dict(name="relu_gradient_through_zero", cell="activations",
         find="dx = dout * (x > 0)", replace="dx = dout * (x >= 0)",
         breaks=["activations_tests"], message="x >= 0"),
    dict(name="sigmoid_backward_s_not_s_1_minus_s", cell="activations",
         find="da = dout * s * (1 - s)", replace="da = dout * s",
         breaks=["activations_tests"], message="multiplies by s instead of"),
    dict(name="sigmoid_backward_applies_sigmoid_again", cell="activations",
         find="da = dout * s * (1 - s)", replace="da = dout / (1 + np.exp(-s)) * (1 - 1 / (1 + np.exp(-s)))",
         breaks=["activations_tests"], message="applies the sigmoid again"),
    # Part 4: the two-layer network
    dict(name="two_layer_reg_missing_from_gradient", cell="two_layer_loss",
         find='"W1": dW1 + reg * W1', replace='"W1": dW1',
         breaks=["two_layer_loss_tests"], message="misses the L2 term"),
    dict(name="two_layer_reg_factor_in_loss", cell="two_layer_loss",
         find="loss = data_loss + 0.5 * reg *", replace="loss = data_loss + reg *",
         breaks=["two_layer_loss_tests"], message="twice too large"),
    dict(name="two_layer_bias_regularised", cell="two_layer_loss",
         find='"b2": db2}', replace='"b2": db2 + reg * b2}',
         breaks=["two_layer_loss_tests"], message="biases are penalised"),
    dict(name="two_layer_backward_skips_relu", cell="two_layer_loss",
         find="da1 = relu_backward(dh1, a1)", replace="da1 = dh1",
         breaks=["two_layer_loss_tests"], message="ignores the relu"),
    # Part 5: numerical gradient
    dict(name="numgrad_forward_differences", cell="numerical_gradient",
         find="grad[idx] = (f_plus - f_minus) / (2 * h)", replace="grad[idx] = (f_plus - float(f(x))) / h",
         breaks=["numerical_gradient_tests"], message="forward differences"),
    dict(name="numgrad_x_not_restored", cell="numerical_gradient",
         find="x[idx] = old\n", replace="pass\n",
         breaks=["numerical_gradient_tests"], message="left x changed"),
    dict(name="numgrad_perturbs_a_copy", cell="numerical_gradient",
         find="grad = np.zeros(x.shape, dtype=np.float64)\n",
         replace="grad = np.zeros(x.shape, dtype=np.float64)\n    x = x.copy()\n",
         breaks=["numerical_gradient_tests"], message="perturb a copy"),
    dict(name="numgrad_divides_by_h", cell="numerical_gradient",
         find="/ (2 * h)", replace="/ h",
         breaks=["numerical_gradient_tests"], message="divides by 2h"),
    # Part 6: TwoLayerNet
    dict(name="net_softmax_in_forward", cell="two_layer_net",
         find="return self.fc2(torch.relu(self.fc1(x)))",
         replace="return torch.softmax(self.fc2(torch.relu(self.fc1(x))), dim=1)",
         breaks=["two_layer_net_tests"], message="applies a softmax"),
    dict(name="net_no_relu", cell="two_layer_net",
         find="return self.fc2(torch.relu(self.fc1(x)))", replace="return self.fc2(self.fc1(x))",
         breaks=["two_layer_net_tests"], message="no relu"),
    # Part 7: train_model
    dict(name="train_no_zero_grad", cell="train_model",
         find="optimizer.zero_grad()", replace="pass",
         breaks=["train_model_tests"], message="zero_grad"),
    dict(name="train_loss_on_softmax", cell="train_model",
         find="loss = loss_fn(model(xb), yb)", replace="loss = loss_fn(torch.softmax(model(xb), dim=1), yb)",
         breaks=["train_model_tests"], message="raw scores"),
    dict(name="train_sgd_instead_of_adam", cell="train_model",
         find="torch.optim.Adam(", replace="torch.optim.SGD(",
         breaks=["train_model_tests"], message="below 0.90"),
]
