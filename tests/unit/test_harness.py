"""coursekit.harness: the operations homework tests run in the student's kernel, here run locally
(the grading stage runs them in kernels, through the same functions)."""

import numpy as np
import pytest
import torch

from coursekit import harness


def test_build_module_from_a_spec_with_a_state_and_a_residual():
    spec = [
        "Sequential",
        [
            ["Conv2d", [1, 2, 3], {"padding": 1}],
            ["Residual", ["Sequential", [["Conv2d", [2, 2, 3], {"padding": 1}]]], None],
            ["Flatten"],
            ["Linear", [2 * 4 * 4, 3]],
        ],
    ]
    model = harness.build_module(spec, dtype="float64")
    state = {k: np.full(v.shape, 0.01) for k, v in model.state_dict().items()}
    again = harness.build_module(spec, state=state, dtype="float64")
    assert harness.parameter_count(again) == 20 + 38 + 99
    assert all(np.allclose(v, 0.01) for v in harness.state_of(again).values())
    assert again(torch.ones(1, 1, 4, 4, dtype=torch.float64)).shape == (1, 3)
    with pytest.raises(ValueError):
        harness.build_module(["Sequential", [["system", ["rm -rf /"]]]])


def test_forward_backward_matches_autograd():
    layer = torch.nn.Linear(3, 2).double()
    x = np.random.default_rng(0).standard_normal((4, 3))
    g = np.random.default_rng(1).standard_normal((4, 2))
    got = harness.forward_backward(layer, x, grad_output=g)
    xt = torch.tensor(x, requires_grad=True)
    out = layer(xt)
    out.backward(torch.tensor(g))
    assert np.allclose(got["output"], out.detach().numpy())
    assert xt.grad is not None and layer.weight.grad is not None
    assert np.allclose(got["input_grads"][0], xt.grad.numpy())
    assert np.allclose(got["param_grads"]["weight"], layer.weight.grad.numpy())


def test_forward_backward_graph_names_the_nodes_and_reports_a_detached_output():
    conv = torch.nn.Conv2d(1, 1, 3).double()
    x = np.ones((1, 1, 4, 4))
    got = harness.forward_backward_graph(conv, x)
    assert any("Convolution" in n for n in got["nodes"]) and got["output"].shape == (1, 1, 2, 2)
    assert got["input_grads"][0].shape == (1, 1, 4, 4) and got["param_grads"]["weight"].shape == (1, 1, 3, 3)

    class Detached(torch.nn.Module):
        def forward(self, x):
            return conv(x).detach()

    detached = harness.forward_backward_graph(Detached(), x)
    assert detached["requires_grad"] is False and detached["input_grads"] == [None] and detached["nodes"] == []


def test_call_in_place_and_call_watching_report_what_the_call_did():
    def scale(a):
        a *= 2
        return a.sum()

    got = harness.call_in_place(scale, np.ones(3))
    assert got["result"] == 6 and np.array_equal(got["args"][0], [2, 2, 2])

    model = torch.nn.Linear(2, 1)

    def two_steps(m):
        for _ in range(2):
            m(torch.ones(5, 2)).sum().backward()  # gradients never zeroed

    watched = harness.call_watching(model, two_steps, model)
    assert [f[2] for f in watched["forwards"]] == [5, 5]
    assert watched["backward"] == 4 and watched["accumulated"] == 2
    assert harness.gradcheck(torch.nn.Tanh(), np.random.default_rng(0).standard_normal(3))


def test_state_of_is_a_snapshot_even_of_a_float64_module():
    """A test compares the state before and after a student's call: the first must not follow the module."""
    import torch

    layer = torch.nn.Linear(3, 2).double()
    before = harness.state_of(layer)
    with torch.no_grad():
        layer.weight.add_(1.0)
    after = harness.state_of(layer)
    assert np.allclose(after["weight"] - before["weight"], 1.0)
