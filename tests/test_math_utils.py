"""The helpers of chapter 2, checked against torch, SciPy and NumPy on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from llm_anatomy.math_utils import (
    as_float_tensor,
    cosine_similarity,
    matrix_rank,
    normal_cdf,
    normal_pdf,
    numerical_derivative,
    numerical_gradient,
    two_sided_p_value,
)

TOL = 1e-12


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------- conversion


def test_python_numbers_become_float64_and_tensors_keep_dtype(device):
    assert as_float_tensor(0.1).dtype == torch.float64
    assert as_float_tensor(0.1).item() == 0.1  # not rounded through float32
    assert as_float_tensor([1, 2, 3]).dtype == torch.float64
    assert as_float_tensor(np.arange(3)).dtype == torch.float64
    assert as_float_tensor(np.zeros(2, dtype=np.float32)).dtype == torch.float32
    kept = as_float_tensor(torch.ones(2, dtype=torch.float32, device=device))
    assert kept.dtype == torch.float32 and kept.device.type == device.type


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [float("inf")], np.array([0.0, -np.inf])])
def test_non_finite_input_is_refused(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_float_tensor(bad)


def test_non_numeric_and_complex_input_is_refused():
    with pytest.raises(TypeError, match="must hold numbers"):
        as_float_tensor("abc")
    with pytest.raises(TypeError, match="must be real"):
        as_float_tensor(torch.tensor([1 + 2j]))


# ---------------------------------------------------------------- cosine similarity


def test_cosine_matches_torch_rowwise(device):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(50, 16, generator=gen, dtype=torch.float64).to(device)
    b = torch.randn(50, 16, generator=gen, dtype=torch.float64).to(device)
    ours = cosine_similarity(a, b)
    reference = F.cosine_similarity(a, b, dim=-1)
    assert ours.shape == (50,) and ours.device.type == device.type
    assert (ours - reference).abs().max().item() < TOL


def test_cosine_broadcasts_one_query_against_many(device):
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(8, generator=gen, dtype=torch.float64).to(device)
    keys = torch.randn(30, 8, generator=gen, dtype=torch.float64).to(device) * 100  # lengths do not matter
    ours = cosine_similarity(query, keys)
    reference = F.cosine_similarity(query.expand_as(keys), keys, dim=-1)
    assert ours.shape == (30,)
    assert (ours - reference).abs().max().item() < TOL


def test_cosine_of_known_angles():
    assert cosine_similarity([3.0, 0.0], [5.0, 0.0]).item() == pytest.approx(1.0, abs=TOL)
    assert cosine_similarity([1.0, 1.0], [-1.0, 1.0]).item() == pytest.approx(0.0, abs=TOL)
    assert cosine_similarity([1.0, 2.0], [-2.0, -4.0]).item() == pytest.approx(-1.0, abs=TOL)
    assert cosine_similarity([1.0, 0.0], [1.0, 1.0]).item() == pytest.approx(np.cos(np.pi / 4), abs=TOL)


def test_cosine_of_a_zero_vector_is_an_error():
    with pytest.raises(ValueError, match="zero vector"):
        cosine_similarity([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="zero vector"):
        cosine_similarity([1.0, 2.0], [[1.0, 0.0], [0.0, 0.0]])  # one zero row among many


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [((3,), (4,)), ((2, 3), (3, 2)), ((2, 3), (4, 3)), ((), (3,))],
)
def test_cosine_of_mismatched_shapes_is_an_error(shape_a, shape_b):
    with pytest.raises(ValueError, match="same length|do not broadcast"):
        cosine_similarity(torch.ones(shape_a), torch.ones(shape_b))


# ---------------------------------------------------------------- normal distribution


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (1.5, 2.0), (-3.0, 0.25)])
def test_normal_pdf_and_cdf_match_scipy(device, mean, std):
    x = torch.linspace(-12, 12, 2001, dtype=torch.float64).to(device)
    pdf, cdf = normal_pdf(x, mean, std), normal_cdf(x, mean, std)
    assert pdf.device.type == device.type
    xs = _numpy(x)
    assert np.abs(_numpy(pdf) - scipy.stats.norm.pdf(xs, mean, std)).max() < TOL
    assert np.abs(_numpy(cdf) - scipy.stats.norm.cdf(xs, mean, std)).max() < TOL


def test_normal_cdf_keeps_relative_accuracy_in_the_lower_tail(device):
    x = torch.linspace(-35, 0, 701, dtype=torch.float64).to(device)
    reference = scipy.stats.norm.cdf(_numpy(x))  # down to about 1e-268
    relative = np.abs(_numpy(normal_cdf(x)) / reference - 1)
    assert relative.max() < TOL
    naive = 0.5 * (1 + torch.erf(torch.tensor(-10.0, dtype=torch.float64) / np.sqrt(2)))
    assert naive.item() == 0.0 < normal_cdf(-10.0).item()  # what the erfc form avoids


def test_two_sided_p_value_matches_scipy(device):
    z = torch.linspace(-37, 37, 741, dtype=torch.float64).to(device)
    reference = 2 * scipy.stats.norm.sf(np.abs(_numpy(z)))
    assert np.abs(_numpy(two_sided_p_value(z)) / reference - 1).max() < TOL
    assert two_sided_p_value(1.959963984540054).item() == pytest.approx(0.05, abs=TOL)


@pytest.mark.parametrize("std", [0.0, -1.0, float("inf")])
def test_normal_needs_a_positive_finite_std(std):
    with pytest.raises(ValueError, match="std must be"):
        normal_pdf(0.0, 0.0, std)
    with pytest.raises(ValueError, match="std must be"):
        normal_cdf(0.0, 0.0, std)


# ---------------------------------------------------------------- derivatives and gradients


@pytest.mark.parametrize(
    ("f", "df"),
    [
        (torch.sin, torch.cos),
        (torch.exp, torch.exp),
        (lambda x: x**3 - 2 * x, lambda x: 3 * x**2 - 2),
        (lambda x: torch.sin(x**2), lambda x: 2 * x * torch.cos(x**2)),  # the chain rule
    ],
)
def test_central_difference_matches_the_analytic_derivative(device, f, df):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64).to(device)
    ours = numerical_derivative(f, x)
    assert ours.shape == x.shape and ours.device.type == device.type
    # error ~ h**2 |f'''| / 6 + eps / h with h ~ 6e-6 |x|: 1e-9 to 1e-8 for these functions
    assert (ours - df(x)).abs().max().item() < 1e-8


def test_central_difference_beats_the_one_sided_one():
    x = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)
    h = 1e-4
    central = numerical_derivative(torch.exp, x, h=h)
    one_sided = (torch.exp(x + h) - torch.exp(x)) / h
    central_error = (central - torch.exp(x)).abs().max().item()
    one_sided_error = (one_sided - torch.exp(x)).abs().max().item()
    assert central_error < 1e-8 < one_sided_error  # about h**2 against about h


def test_default_step_suits_float32(device):
    x = torch.linspace(0.1, 3.0, 30, dtype=torch.float32).to(device)
    ours = numerical_derivative(torch.log, x)
    assert ours.dtype == torch.float32
    assert ((ours - 1 / x) * x).abs().max().item() < 1e-3  # relative error
    tiny_step = numerical_derivative(torch.log, x, h=1e-7)  # a float64 habit, wrong in float32
    assert ((tiny_step - 1 / x) * x).abs().max().item() > 1e-2


def test_numerical_gradient_matches_autograd(device):
    gen = torch.Generator().manual_seed(2)
    A = torch.randn(5, 3, generator=gen, dtype=torch.float64).to(device)
    target = torch.randn(5, generator=gen, dtype=torch.float64).to(device)

    def loss(w):  # squared error of a linear model through a tanh
        return ((torch.tanh(A @ w) - target) ** 2).mean()

    w = torch.randn(3, generator=gen, dtype=torch.float64).to(device)
    ours = numerical_gradient(loss, w)
    w_leaf = w.clone().requires_grad_(True)
    (reference,) = torch.autograd.grad(loss(w_leaf), w_leaf)
    assert ours.shape == w.shape and ours.device.type == device.type
    assert (ours - reference).abs().max().item() < 1e-9


def test_numerical_gradient_of_a_matrix_argument(device):
    W = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64).to(device).T  # not contiguous
    ours = numerical_gradient(lambda m: (m**2).sum() + m[0, 1], W)
    expected = 2 * W + torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64, device=device)
    assert (ours - expected).abs().max().item() < 1e-9


def test_derivative_bad_input():
    with pytest.raises(TypeError, match="must be a function"):
        numerical_derivative(3.0, 1.0)
    with pytest.raises(TypeError, match="must be a function"):
        numerical_gradient("sin", [1.0])
    for h in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            numerical_derivative(torch.sin, 1.0, h=h)
    with pytest.raises(ValueError, match="single number"):
        numerical_gradient(lambda w: w * 2, [1.0, 2.0])


# ---------------------------------------------------------------- matrix rank


def _rank_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tall = rng.normal(size=(20, 4))
    low = rng.normal(size=(12, 2)) @ rng.normal(size=(2, 5))  # rank 2 by construction
    dummies = np.eye(3)[rng.integers(0, 3, size=15)]  # one-hot columns: they sum to 1
    return {
        "full rank, tall": tall,
        "full rank, wide": tall.T,
        "product of rank 2": low,
        "duplicated column": np.column_stack([tall, tall[:, 1]]),
        "dummy trap": np.column_stack([np.ones(15), dummies]),
        "nearly dependent": np.column_stack([tall, tall[:, 0] + 1e-9 * rng.normal(size=20)]),
        "numerically dependent": np.column_stack([tall, tall[:, 0] + 1e-17 * rng.normal(size=20)]),
        "zero matrix": np.zeros((3, 4)),
        "one entry": np.array([[2.5]]),
        "integers": np.array([[1, 2, 3], [2, 4, 6], [1, 0, 1]]),
    }


@pytest.mark.parametrize(("name", "X"), list(_rank_cases().items()))
def test_matrix_rank_matches_numpy(device, name, X):
    assert matrix_rank(torch.as_tensor(X).to(device)) == np.linalg.matrix_rank(X), name


def test_matrix_rank_with_an_explicit_tolerance():
    X = np.diag([1.0, 1e-3, 1e-8])
    for tol in (1e-10, 1e-5, 1e-2, 2.0):
        assert matrix_rank(X, tol=tol) == np.linalg.matrix_rank(X, tol=tol)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 2, 2)), np.ones((0, 3))])
def test_matrix_rank_needs_a_matrix(bad):
    with pytest.raises(ValueError, match="non-empty 2-D matrix"):
        matrix_rank(bad)


def test_matrix_rank_refuses_a_negative_tolerance():
    with pytest.raises(ValueError, match="tol must be non-negative"):
        matrix_rank(np.eye(2), tol=-1.0)


def test_numerical_gradient_of_a_function_returning_a_python_float():
    ours = numerical_gradient(lambda w: float((w**3).sum()), [1.0, 2.0])
    assert ours.dtype == torch.float64  # the float is not squeezed through float32
    assert (ours - torch.tensor([3.0, 12.0], dtype=torch.float64)).abs().max().item() < 1e-8
