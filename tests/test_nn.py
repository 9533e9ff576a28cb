"""Chapter 8's layers, checked against torch.nn: forward values, and gradients from torch's autograd.

Every layer here has a hand-written backward pass, so these tests check our derivations:
torch computes the same gradients by automatic differentiation. Everything runs in float64,
where a correct derivation agrees to ~1e-15 and the required tolerance of 1e-6 leaves no room
for a wrong formula.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import Perceptron as SklearnPerceptron

from llm_anatomy.nn import (
    GELU,
    MLP,
    BatchNorm1d,
    CrossEntropyLoss,
    LayerNorm,
    Linear,
    Perceptron,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
    calculate_gain,
    kaiming_normal_,
    kaiming_uniform_,
    make_activation,
    sgd_step,
    xavier_normal_,
    xavier_uniform_,
)

TOL = {"rtol": 0.0, "atol": 1e-6}
F64 = torch.float64


def randn(*shape, seed=0, scale=1.0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=F64)).to(device)


def close(ours, ref):
    torch.testing.assert_close(ours, ref.detach(), **TOL)


def leaf(t):
    return t.clone().requires_grad_(True)


# ---------------------------------------------------------------- Linear


def test_linear_init_equals_torch(device):
    torch.manual_seed(7)
    ref = torch.nn.Linear(5, 3, dtype=F64)
    ours = Linear(5, 3, generator=torch.Generator().manual_seed(7), dtype=F64, device=device)
    assert torch.equal(ours.params["weight"].cpu(), ref.weight.detach())
    assert torch.equal(ours.params["bias"].cpu(), ref.bias.detach())


@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_backward(device, shape, bias):
    ours = Linear(
        5, 3, bias=bias, generator=torch.Generator().manual_seed(1), dtype=F64, device=device
    )
    ref = torch.nn.Linear(5, 3, bias=bias, dtype=F64, device=device)
    with torch.no_grad():
        ref.weight.copy_(ours.params["weight"])
        if bias:
            ref.bias.copy_(ours.params["bias"])
    x = randn(*shape, seed=2, device=device)
    g = randn(*shape[:-1], 3, seed=3, device=device)
    x_ref = leaf(x)
    out_ref = ref(x_ref)
    out_ref.backward(g)

    close(ours(x), out_ref)
    close(ours.backward(g), x_ref.grad)
    close(ours.grads["weight"], ref.weight.grad)
    if bias:
        close(ours.grads["bias"], ref.bias.grad)
    else:
        assert "bias" not in ours.grads


# ---------------------------------------------------------------- activations

ACTIVATION_PAIRS = [
    ("sigmoid", Sigmoid, torch.nn.Sigmoid()),
    ("tanh", Tanh, torch.nn.Tanh()),
    ("relu", ReLU, torch.nn.ReLU()),
    ("gelu", GELU, torch.nn.GELU(approximate="none")),
    ("gelu_tanh", lambda: GELU("tanh"), torch.nn.GELU(approximate="tanh")),
    ("silu", SiLU, torch.nn.SiLU()),
]


@pytest.mark.parametrize(
    "name,ours_cls,ref", ACTIVATION_PAIRS, ids=[p[0] for p in ACTIVATION_PAIRS]
)
def test_activation_matches_torch(device, name, ours_cls, ref):
    x = torch.cat(
        [
            randn(200, scale=3.0, device=device),
            torch.tensor([-800.0, -40.0, 0.0, 40.0, 800.0], dtype=F64, device=device),
        ]
    )
    g = randn(x.shape[0], seed=1, device=device)
    x_ref = leaf(x)
    out_ref = ref(x_ref)
    out_ref.backward(g)
    for layer in (ours_cls(), make_activation(name)):
        out = layer(x)
        assert torch.isfinite(out).all()
        close(out, out_ref)
        close(layer.backward(g), x_ref.grad)


# ---------------------------------------------------------------- softmax and cross-entropy


def test_softmax_matches_torch(device):
    x = randn(7, 5, scale=4.0, device=device)
    x[0] += 1000.0  # a row that overflows exp() unless shifted
    g = randn(7, 5, seed=1, device=device)
    for dim in (-1, 0):
        x_ref = leaf(x)
        out_ref = torch.nn.Softmax(dim=dim)(x_ref)
        out_ref.backward(g)
        layer = Softmax(dim=dim)
        close(layer(x), out_ref)
        close(layer.backward(g), x_ref.grad)


def test_cross_entropy_matches_torch(device):
    logits = randn(9, 4, scale=5.0, device=device)
    logits[1] *= 300.0  # extreme logits: still finite
    targets = torch.tensor([0, 3, 1, 2, 2, 0, 1, 3, 3], device=device)
    logits_ref = leaf(logits)
    loss_ref = F.cross_entropy(logits_ref, targets)
    loss_ref.backward()
    criterion = CrossEntropyLoss()
    loss = criterion(logits, targets)
    assert torch.isfinite(loss)
    close(loss, loss_ref)
    close(criterion.backward(), logits_ref.grad)
    close(criterion.backward(2.5), 2.5 * logits_ref.grad)


# ---------------------------------------------------------------- initialisation

INIT_PAIRS = [
    (
        lambda w, g: xavier_uniform_(w, gain=1.5, generator=g),
        lambda w, g: torch.nn.init.xavier_uniform_(w, gain=1.5, generator=g),
    ),
    (
        lambda w, g: xavier_normal_(w, generator=g),
        lambda w, g: torch.nn.init.xavier_normal_(w, generator=g),
    ),
    (
        lambda w, g: kaiming_uniform_(w, nonlinearity="relu", generator=g),
        lambda w, g: torch.nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g),
    ),
    (
        lambda w, g: kaiming_uniform_(w, a=math.sqrt(5), generator=g),
        lambda w, g: torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g),
    ),
    (
        lambda w, g: kaiming_normal_(w, mode="fan_out", nonlinearity="tanh", generator=g),
        lambda w, g: torch.nn.init.kaiming_normal_(
            w, mode="fan_out", nonlinearity="tanh", generator=g
        ),
    ),
]


@pytest.mark.parametrize("shape", [(30, 20), (8, 3, 5, 5)])
@pytest.mark.parametrize("pair", range(len(INIT_PAIRS)))
def test_init_same_numbers_as_torch(pair, shape):
    ours, ref = INIT_PAIRS[pair]
    a = ours(torch.empty(shape, dtype=F64), torch.Generator().manual_seed(3))
    b = ref(torch.empty(shape, dtype=F64), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"])
def test_gain_equals_torch(name):
    assert calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-15)
    assert calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2)
    )


def test_init_distributions(device):
    """Bounds and empirical standard deviations on a large tensor, against the formulas."""
    fan_out, fan_in = 400, 600
    g = torch.Generator().manual_seed(0)
    w = torch.empty(fan_out, fan_in, dtype=F64)
    xavier_bound = math.sqrt(6 / (fan_in + fan_out))
    xavier_uniform_(w, generator=g)
    assert w.abs().max() <= xavier_bound and w.abs().max() > 0.99 * xavier_bound
    assert w.std().item() == pytest.approx(xavier_bound / math.sqrt(3), rel=0.01)
    xavier_normal_(w, gain=5 / 3, generator=g)
    assert w.std().item() == pytest.approx(5 / 3 * math.sqrt(2 / (fan_in + fan_out)), rel=0.01)
    kaiming_uniform_(w, nonlinearity="relu", generator=g)
    he_bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert w.abs().max() <= he_bound and w.abs().max() > 0.99 * he_bound
    kaiming_normal_(w, nonlinearity="relu", mode="fan_out", generator=g)
    assert w.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.01)
    assert abs(w.mean().item()) < 0.01 * w.std().item()
    w_torch = torch.nn.init.kaiming_normal_(
        torch.empty_like(w, device=device), nonlinearity="relu", mode="fan_out"
    )
    assert w_torch.std().item() == pytest.approx(w.std().item(), rel=0.02)


# ---------------------------------------------------------------- normalisation


def test_batchnorm_train_and_eval_match_torch(device):
    ours = BatchNorm1d(4, momentum=0.2, dtype=F64, device=device)
    ref = torch.nn.BatchNorm1d(4, momentum=0.2, dtype=F64, device=device)
    gamma, beta = randn(4, seed=10, device=device), randn(4, seed=11, device=device)
    ours.params["weight"], ours.params["bias"] = gamma.clone(), beta.clone()
    with torch.no_grad():
        ref.weight.copy_(gamma)
        ref.bias.copy_(beta)
    for step in range(4):  # several training steps: the running statistics accumulate
        x = randn(8, 4, seed=20 + step, scale=2.0, device=device) + 3.0
        g = randn(8, 4, seed=30 + step, device=device)
        ref.zero_grad()
        x_ref = leaf(x)
        out_ref = ref(x_ref)
        out_ref.backward(g)
        close(ours(x), out_ref)
        close(ours.backward(g), x_ref.grad)
        close(ours.grads["weight"], ref.weight.grad)
        close(ours.grads["bias"], ref.bias.grad)
        close(ours.running_mean, ref.running_mean)
        close(ours.running_var, ref.running_var)

    ours.eval()
    ref.eval()
    ref.zero_grad()
    x = randn(1, 4, seed=40, device=device)  # a single example is fine in evaluation
    g = randn(1, 4, seed=41, device=device)
    x_ref = leaf(x)
    out_ref = ref(x_ref)
    out_ref.backward(g)
    close(ours(x), out_ref)
    close(ours.backward(g), x_ref.grad)
    close(ours.grads["weight"], ref.weight.grad)
    close(ours.grads["bias"], ref.bias.grad)


def test_layernorm_matches_torch(device):
    ours = LayerNorm(6, dtype=F64, device=device)
    ref = torch.nn.LayerNorm(6, dtype=F64, device=device)
    gamma, beta = randn(6, seed=5, device=device), randn(6, seed=6, device=device)
    ours.params["weight"], ours.params["bias"] = gamma.clone(), beta.clone()
    with torch.no_grad():
        ref.weight.copy_(gamma)
        ref.bias.copy_(beta)
    x = randn(3, 5, 6, seed=7, scale=3.0, device=device) - 2.0
    g = randn(3, 5, 6, seed=8, device=device)
    x_ref = leaf(x)
    out_ref = ref(x_ref)
    out_ref.backward(g)
    close(ours(x), out_ref)
    close(ours.backward(g), x_ref.grad)
    close(ours.grads["weight"], ref.weight.grad)
    close(ours.grads["bias"], ref.bias.grad)


# ---------------------------------------------------------------- the whole MLP


def torch_twin(model: MLP, activation: str, norm: str | None, device) -> torch.nn.Sequential:
    """A torch.nn.Sequential with the same layers, loaded with our parameters by name."""
    acts = {
        "relu": torch.nn.ReLU,
        "tanh": torch.nn.Tanh,
        "gelu": torch.nn.GELU,
        "silu": torch.nn.SiLU,
        "sigmoid": torch.nn.Sigmoid,
    }
    norms = {"batch": torch.nn.BatchNorm1d, "layer": torch.nn.LayerNorm}
    layers = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            layers.append(
                torch.nn.Linear(layer.in_features, layer.out_features, dtype=F64, device=device)
            )
        elif isinstance(layer, BatchNorm1d | LayerNorm):
            layers.append(norms[norm](layer.params["weight"].shape[0], dtype=F64, device=device))
        else:
            layers.append(acts[activation]())
    twin = torch.nn.Sequential(*layers)
    params = dict(twin.named_parameters())
    assert params.keys() == model.parameters().keys()
    with torch.no_grad():
        for name, p in model.parameters().items():
            params[name].copy_(p)
    return twin


@pytest.mark.parametrize(
    "activation,norm",
    [("relu", None), ("tanh", "batch"), ("gelu", "layer"), ("silu", "batch"), ("sigmoid", None)],
)
def test_mlp_matches_torch(device, activation, norm):
    model = MLP(
        [3, 8, 8, 4],
        activation,
        norm,
        generator=torch.Generator().manual_seed(0),
        dtype=F64,
        device=device,
    )
    twin = torch_twin(model, activation, norm, device)
    x = randn(10, 3, seed=1, device=device)
    targets = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 3, 1], device=device)
    criterion = CrossEntropyLoss()
    for _ in range(3):  # three SGD steps, compared after each
        x_ref = leaf(x)
        twin.zero_grad()
        loss_ref = F.cross_entropy(twin(x_ref), targets)
        loss_ref.backward()
        loss = criterion(model(x), targets)
        grad_x = model.backward(criterion.backward())
        close(loss, loss_ref)
        close(grad_x, x_ref.grad)
        ref_params = dict(twin.named_parameters())
        for name, grad in model.gradients().items():
            close(grad, ref_params[name].grad)
        sgd_step(model, lr=0.5)
        with torch.no_grad():
            for p in twin.parameters():
                p -= 0.5 * p.grad
    for name, p in model.parameters().items():
        close(p, dict(twin.named_parameters())[name])


# ---------------------------------------------------------------- the perceptron


@pytest.mark.parametrize("epochs", [1, 4, 30])
def test_perceptron_matches_sklearn(epochs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 > 0).astype(float)
    X_xor, y_xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), np.array([0, 1, 1, 0])
    for data, labels in ((X, y), (X_xor, y_xor)):
        ours = Perceptron(max_epochs=epochs).fit(data, labels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning for XOR
            ref = SklearnPerceptron(shuffle=False, tol=None, max_iter=epochs, eta0=1.0).fit(
                data, labels
            )
        np.testing.assert_array_equal(ours.weights, ref.coef_[0])
        assert ours.bias == ref.intercept_[0]
        np.testing.assert_array_equal(ours.predict(data), ref.predict(data))


# ---------------------------------------------------------------- bad input


def test_bad_input_raises(device):
    with pytest.raises(ValueError, match="expects 5 features"):
        Linear(5, 3, device=device)(torch.zeros(4, 6, device=device))
    with pytest.raises(TypeError, match="torch.Tensor"):
        Linear(5, 3)([[0.0] * 5])
    with pytest.raises(ValueError, match="more than 1 example"):
        BatchNorm1d(3, device=device)(torch.zeros(1, 3, device=device))
    with pytest.raises(ValueError, match="2-D input"):
        BatchNorm1d(3, device=device)(torch.zeros(4, 2, 3, device=device))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        make_activation("swish")
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([2, 4, 2], activation="lrelu")
    with pytest.raises(ValueError, match="approximate"):
        GELU("erf")
    with pytest.raises(ValueError, match="norm must be"):
        MLP([2, 4, 2], norm="group")
    with pytest.raises(ValueError, match="expects 6 features"):
        LayerNorm(6, device=device)(torch.zeros(2, 5, device=device))
    with pytest.raises(RuntimeError, match="before forward"):
        Tanh().backward(torch.zeros(3))
    with pytest.raises(ValueError, match="class indices"):
        CrossEntropyLoss()(torch.zeros(2, 3, device=device), torch.tensor([0, 3], device=device))
    with pytest.raises(ValueError, match="fewer|at least 2"):
        xavier_uniform_(torch.empty(5))
    with pytest.raises(ValueError, match="mode"):
        kaiming_normal_(torch.empty(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        calculate_gain("softplus")
    with pytest.raises(TypeError, match="integer tensor"):
        CrossEntropyLoss()(torch.zeros(2, 3, device=device), torch.zeros(2, device=device))
    with pytest.raises(ValueError, match="shape"):
        CrossEntropyLoss()(torch.zeros(2, 3, device=device), torch.tensor([0], device=device))
    with pytest.raises(ValueError, match="at least an input and an output"):
        MLP([2])
    with pytest.raises(ValueError, match="binary"):
        Perceptron().fit([[0.0], [1.0]], [0, 2])
