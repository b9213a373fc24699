"""Finite differences and rel_error, checked against torch autograd."""
import numpy as np
import pytest
import torch

from coursekit.gradcheck import numerical_gradient, numerical_gradient_array, rel_error


def test_rel_error_definition():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError):
        rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_matches_autograd_on_a_nonlinear_function():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    f = lambda z: float(np.sum(np.tanh(z) ** 2 * np.cos(z)))
    t = torch.tensor(x, requires_grad=True)
    (torch.tanh(t) ** 2 * torch.cos(t)).sum().backward()
    before = x.copy()
    num = numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)  # x restored
    assert rel_error(num, t.grad.numpy()) < 1e-8


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    rng = np.random.default_rng(1)
    x, w, up = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    num = numerical_gradient_array(lambda z: z @ w, x, up)
    assert rel_error(num, up @ w.T) < 1e-8
