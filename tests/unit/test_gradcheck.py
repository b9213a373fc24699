"""Finite differences (the chapters' numerical gradients, the homework's gradient_error) and
rel_error, checked against torch autograd."""

import numpy as np
import pytest
import torch

from coursekit.chapters.gradcheck import numerical_gradient, numerical_gradient_array
from coursekit.gradcheck import gradient_error, rel_error


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
    assert t.grad is not None
    assert rel_error(num, t.grad.numpy()) < 1e-8


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    rng = np.random.default_rng(1)
    x, w, up = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    num = numerical_gradient_array(lambda z: z @ w, x, up)
    assert rel_error(num, up @ w.T) < 1e-8


def test_gradient_error_is_small_for_a_correct_backward_pass_and_large_for_a_wrong_one():
    rng = np.random.default_rng(2)
    x, w, up = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    before = x.copy()
    assert gradient_error(lambda z: np.tanh(z @ w), x, (up * (1 - np.tanh(x @ w) ** 2)) @ w.T, up) < 1e-7
    np.testing.assert_array_equal(x, before)  # x left as it was
    assert gradient_error(lambda z: z @ w, x, up @ w.T / 2, up) > 0.1  # a factor missing
    assert gradient_error(lambda z: z @ w, x, np.ones((4, 5)) @ w.T, up) > 0.1  # upstream ignored
    assert gradient_error(lambda z: (z**2).sum(1), x, 2 * x) < 1e-7  # default upstream: ones


def test_gradient_error_says_when_shapes_do_not_fit():
    with pytest.raises(ValueError, match="dx has shape"):
        gradient_error(lambda z: z, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="upstream has shape"):
        gradient_error(lambda z: z, np.zeros(3), np.zeros(3), np.zeros(4))
