"""The neural-network pieces of chapter 7, checked against torch in float64."""

from __future__ import annotations

import random
import statistics

import pytest
import torch

from llm_anatomy.autograd import (
    MLP,
    SGD,
    Dropout,
    Linear,
    Module,
    Neuron,
    Value,
    accumulate_gradients,
    binary_cross_entropy_with_logits,
)

X = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.8, 0.1], [2.0, -2.0, 0.4]]


def torch_layers(model: MLP) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The weights and biases of ``model`` copied into float64 leaf tensors."""
    layers = []
    for layer in model.layers:
        w = [[w.data for w in neuron.w] for neuron in layer.neurons]
        b = [neuron.b.data for neuron in layer.neurons]
        layers.append(
            (
                torch.tensor(w, dtype=torch.float64, requires_grad=True),
                torch.tensor(b, dtype=torch.float64, requires_grad=True),
            )
        )
    return layers


def torch_mlp(layers, x: torch.Tensor, nonlin: str) -> torch.Tensor:
    activation = {"tanh": torch.tanh, "relu": torch.relu}[nonlin]
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i < len(layers) - 1:
            x = activation(x)
    return x


def squared_loss(model: MLP, xs) -> Value:
    """The mean of the squared outputs: a loss that touches every output."""
    outputs = [out for x in xs for out in model(x)]
    return Value.sum([out * out for out in outputs]) / len(xs)


@pytest.mark.parametrize("nonlin", ["tanh", "relu"])
def test_mlp_gradients_match_torch(nonlin):
    model = MLP(3, [5, 4, 2], nonlin=nonlin, rng=random.Random(1))
    inputs = [[Value(v) for v in row] for row in X]
    loss = squared_loss(model, inputs)
    loss.backward()

    layers = torch_layers(model)
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    expected = (torch_mlp(layers, x, nonlin) ** 2).sum() / len(X)
    expected.backward()

    assert loss.data == pytest.approx(expected.item(), rel=1e-12)
    for layer, (w, b) in zip(model.layers, layers, strict=True):
        ours_w = [[wi.grad for wi in neuron.w] for neuron in layer.neurons]
        ours_b = [neuron.b.grad for neuron in layer.neurons]
        torch.testing.assert_close(
            torch.tensor(ours_w, dtype=torch.float64), w.grad, rtol=1e-9, atol=1e-12
        )
        torch.testing.assert_close(
            torch.tensor(ours_b, dtype=torch.float64), b.grad, rtol=1e-9, atol=1e-12
        )
    input_grads = torch.tensor([[v.grad for v in row] for row in inputs], dtype=torch.float64)
    torch.testing.assert_close(input_grads, x.grad, rtol=1e-9, atol=1e-12)


def test_sgd_step_matches_torch():
    model = MLP(3, [4, 1], rng=random.Random(2))
    layers = torch_layers(model)
    optimizer = SGD(model.parameters(), lr=0.1)
    torch_optimizer = torch.optim.SGD([t for layer in layers for t in layer], lr=0.1)

    optimizer.zero_grad()
    squared_loss(model, X).backward()
    optimizer.step()
    torch_optimizer.zero_grad()
    x = torch.tensor(X, dtype=torch.float64)
    ((torch_mlp(layers, x, "tanh") ** 2).sum() / len(X)).backward()
    torch_optimizer.step()

    for (w, b), expected in zip(torch_layers(model), layers, strict=True):
        torch.testing.assert_close(w, expected[0], rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(b, expected[1], rtol=1e-12, atol=1e-15)


def test_training_reduces_the_loss():
    model = MLP(3, [8, 1], rng=random.Random(3))
    optimizer = SGD(model.parameters(), lr=0.05)
    targets = [1.0, -1.0, 1.0, -1.0]
    losses = []
    for _ in range(30):
        loss = Value.sum([(model(x)[0] - y) ** 2 for x, y in zip(X, targets, strict=True)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.data)
    assert losses[-1] < 0.1 * losses[0]


def test_parameters_are_counted_and_ordered():
    model = MLP(2, [4, 1])
    assert len(model.parameters()) == (2 + 1) * 4 + (4 + 1) * 1
    first = model.layers[0].neurons[0]
    assert model.parameters()[:3] == [*first.w, first.b]


def test_default_rng_makes_models_reproducible():
    weights = [[p.data for p in MLP(2, [3, 1]).parameters()] for _ in range(2)]
    assert weights[0] == weights[1]
    other = [p.data for p in MLP(2, [3, 1], rng=random.Random(7)).parameters()]
    assert other != weights[0]


def test_initial_weights_are_scaled_by_fan_in():
    neuron = Neuron(100, rng=random.Random(0))
    assert all(abs(w.data) <= 0.1 for w in neuron.w)
    assert neuron.b.data == 0.0


def test_linear_returns_one_output_per_neuron():
    layer = Linear(2, 3)
    outputs = layer([1.0, 2.0])
    assert len(outputs) == 3 and all(isinstance(out, Value) for out in outputs)


def test_input_length_mismatch_raises():
    with pytest.raises(ValueError, match="Linear got 3 inputs, expects 2"):
        Linear(2, 4)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="Neuron got 1 inputs, expects 2"):
        Neuron(2)([1.0])


def test_unknown_nonlinearity_raises():
    with pytest.raises(ValueError, match="nonlin must be one of"):
        Neuron(2, nonlin="gelu")


def test_frozen_parameters_are_left_alone_by_sgd():
    model = MLP(3, [4, 1], rng=random.Random(4))
    model.layers[0].freeze()
    before = [p.data for p in model.parameters()]
    optimizer = SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    squared_loss(model, X).backward()
    optimizer.step()
    n_frozen = len(model.layers[0].parameters())
    after = [p.data for p in model.parameters()]
    assert after[:n_frozen] == before[:n_frozen]
    assert all(a != b for a, b in zip(after[n_frozen:-1], before[n_frozen:-1], strict=True))
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())


class Classifier(Module):
    def __init__(self) -> None:
        self.hidden = Linear(3, 6, nonlin="relu")
        self.dropout = Dropout(0.5, rng=random.Random(0))
        self.out = Linear(6, 1)

    def __call__(self, x):
        return self.out(self.dropout(self.hidden(x)))


def test_modules_find_submodules_and_switch_modes():
    model = Classifier()
    assert len(model.parameters()) == (3 + 1) * 6 + (6 + 1) * 1
    assert model.eval() is model
    assert not model.training and not model.dropout.training
    first, second = model(X[0])[0].data, model(X[0])[0].data
    assert first == second  # no dropout in evaluation mode
    model.train()
    assert model.dropout.training and model.hidden.neurons[0].training


def test_dropout_is_the_identity_in_eval_mode():
    dropout = Dropout(0.9).eval()
    xs = [Value(float(i)) for i in range(10)]
    assert dropout(xs) == xs


def test_dropout_zeroes_a_fraction_p_and_scales_the_rest():
    p = 0.3
    dropout = Dropout(p, rng=random.Random(0))
    outputs = dropout([Value(2.0) for _ in range(20_000)])
    zeroed = sum(out.data == 0.0 for out in outputs) / len(outputs)
    assert zeroed == pytest.approx(p, abs=0.01)
    assert {out.data for out in outputs} == {0.0, 2.0 / (1 - p)}
    assert statistics.fmean(out.data for out in outputs) == pytest.approx(2.0, rel=0.02)


def test_dropout_gradient_flows_only_through_survivors():
    x = Value(1.5)
    outputs = Dropout(0.5, rng=random.Random(1))([x] * 8)
    Value.sum(outputs).backward()
    survivors = sum(out.data != 0.0 for out in outputs)
    assert x.grad == pytest.approx(survivors * 2.0)


def test_dropout_with_p_zero_keeps_everything():
    xs = [Value(1.0), Value(-2.0)]
    assert [out.data for out in Dropout(0.0)(xs)] == [1.0, -2.0]


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rejects_bad_probabilities(p):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        Dropout(p)


@pytest.mark.parametrize("z", [-50.0, -3.0, -1e-3, 0.0, 0.7, 3.0, 50.0, 800.0])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_bce_with_logits_matches_torch(z, y):
    logit = Value(z)
    loss = binary_cross_entropy_with_logits(logit, y)
    loss.backward()
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        t, torch.tensor(y, dtype=torch.float64)
    )
    expected.backward()
    assert loss.data == pytest.approx(expected.item(), rel=1e-12, abs=1e-15)
    assert logit.grad == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-15)


def test_bce_rejects_labels_outside_zero_one():
    with pytest.raises(ValueError, match=r"label y must be in \[0, 1\], got -1"):
        binary_cross_entropy_with_logits(Value(0.5), -1)


def mean_bce(model: MLP, examples) -> Value:
    losses = [binary_cross_entropy_with_logits(model(x)[0], y) for x, y in examples]
    return Value.sum(losses) / len(examples)


@pytest.mark.parametrize("micro_batch_size", [1, 3, 4, 10, 25])
def test_gradient_accumulation_equals_full_batch_gradient(micro_batch_size):
    rng = random.Random(5)
    batch = [([rng.uniform(-2, 2) for _ in range(3)], rng.randint(0, 1)) for _ in range(10)]
    model = MLP(3, [6, 1], rng=random.Random(6))

    model.zero_grad()
    full_loss = mean_bce(model, batch)
    full_loss.backward()
    expected = [p.grad for p in model.parameters()]

    model.zero_grad()
    loss = accumulate_gradients(model, batch, micro_batch_size, mean_bce)
    assert loss == pytest.approx(full_loss.data, abs=1e-12)
    for p, g in zip(model.parameters(), expected, strict=True):
        assert p.grad == pytest.approx(g, abs=1e-12)


def test_gradient_accumulation_rejects_empty_micro_batches():
    with pytest.raises(ValueError, match="at least 1"):
        accumulate_gradients(MLP(1, [1]), [([1.0], 1)], 0, mean_bce)
