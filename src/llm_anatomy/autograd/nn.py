"""Neural-network building blocks on top of the scalar :class:`~llm_anatomy.autograd.Value`.

The names follow PyTorch (``Module``, ``Linear``, ``Dropout``, ``SGD``) so that the next
chapters, which switch to tensors, feel familiar. Every random choice is drawn from a
``random.Random`` passed in by the caller, so that results are reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from llm_anatomy.autograd.engine import Value

Example = TypeVar("Example")
NONLINEARITIES = ("tanh", "relu", None)


def _check_length(x: Sequence[object], expected: int, layer: str) -> None:
    if len(x) != expected:
        raise ValueError(f"{layer} got {len(x)} inputs, expects {expected}")


# --8<-- [start:module]
class Module:
    """Base class of everything that has parameters or behaves differently in training.

    A module finds its submodules by looking at its attributes (a module, or a list of
    modules), so subclasses only declare the parameters they own directly.

    Attributes:
        training: ``True`` in training mode (the default), ``False`` in evaluation mode.
    """

    training = True

    def submodules(self) -> list[Module]:
        """The modules stored in this module's attributes, directly or in a list."""
        found = []
        for attribute in vars(self).values():
            candidates = attribute if isinstance(attribute, list) else [attribute]
            found.extend(c for c in candidates if isinstance(c, Module))
        return found

    def parameters(self) -> list[Value]:
        """All the values an optimizer should train, this module's and its submodules'."""
        return [p for module in self.submodules() for p in module.parameters()]

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to 0, before the next backward pass."""
        for p in self.parameters():
            p.grad = 0.0

    def train(self, mode: bool = True) -> Module:
        """Switch this module and all its submodules to training (or evaluation) mode."""
        self.training = mode
        for module in self.submodules():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def freeze(self) -> None:
        """Stop optimizers from updating the parameters (``requires_grad = False``)."""
        for p in self.parameters():
            p.requires_grad = False

    def unfreeze(self) -> None:
        """Let optimizers update the parameters again."""
        for p in self.parameters():
            p.requires_grad = True


# --8<-- [end:module]


# --8<-- [start:neuron]
class Neuron(Module):
    """``nonlin(w · x + b)``: a weighted sum of the inputs, then a nonlinearity.

    Args:
        n_inputs: The number of inputs, one weight each.
        nonlin: ``"tanh"``, ``"relu"`` or ``None`` for a linear neuron.
        rng: The source of the initial weights, drawn uniformly from
            ``[-1/sqrt(n_inputs), 1/sqrt(n_inputs)]`` so that the weighted sum stays
            around the size of one input. Defaults to ``random.Random(0)``.
    """

    def __init__(
        self, n_inputs: int, nonlin: str | None = "tanh", rng: random.Random | None = None
    ) -> None:
        if nonlin not in NONLINEARITIES:
            raise ValueError(f"nonlin must be one of {NONLINEARITIES}, got {nonlin!r}")
        rng = random.Random(0) if rng is None else rng
        bound = 1 / math.sqrt(n_inputs)
        self.w = [Value(rng.uniform(-bound, bound), label=f"w{i}") for i in range(n_inputs)]
        self.b = Value(0.0, label="b")
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Value | float]) -> Value:
        _check_length(x, len(self.w), "Neuron")
        act = Value.dot(self.w, x) + self.b
        if self.nonlin == "tanh":
            return act.tanh()
        if self.nonlin == "relu":
            return act.relu()
        return act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]


# --8<-- [end:neuron]


# --8<-- [start:linear]
class Linear(Module):
    """A layer of ``n_out`` neurons that all read the same ``n_in`` inputs.

    Args:
        n_in: The number of inputs.
        n_out: The number of neurons, hence of outputs.
        nonlin: The nonlinearity of every neuron (``None``: a purely linear layer).
        rng: The source of the initial weights. Defaults to ``random.Random(0)``.
    """

    def __init__(
        self, n_in: int, n_out: int, nonlin: str | None = None, rng: random.Random | None = None
    ) -> None:
        rng = random.Random(0) if rng is None else rng
        self.n_in = n_in
        self.neurons = [Neuron(n_in, nonlin, rng) for _ in range(n_out)]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        _check_length(x, self.n_in, "Linear")
        x = [xi if isinstance(xi, Value) else Value(xi) for xi in x]  # wrap numbers once
        return [neuron(x) for neuron in self.neurons]


# --8<-- [end:linear]


# --8<-- [start:mlp]
class MLP(Module):
    """A multilayer perceptron: layers of neurons, each layer feeding the next.

    Args:
        n_in: The number of inputs.
        layer_sizes: The number of neurons of each layer; the last is the output size.
        nonlin: The nonlinearity of the hidden layers. The last layer is linear, so the
            outputs can take any value (scores, or logits for a loss).
        rng: The source of the initial weights. Defaults to ``random.Random(0)``.

    Example:
        >>> model = MLP(2, [4, 1])
        >>> [out] = model([1.0, -2.0])
        >>> len(model.parameters())  # (2 + 1) * 4 + (4 + 1) * 1
        17
    """

    def __init__(
        self,
        n_in: int,
        layer_sizes: Sequence[int],
        nonlin: str | None = "tanh",
        rng: random.Random | None = None,
    ) -> None:
        rng = random.Random(0) if rng is None else rng
        sizes = [n_in, *layer_sizes]
        last = len(layer_sizes) - 1
        self.layers = [
            Linear(sizes[i], sizes[i + 1], nonlin if i < last else None, rng)
            for i in range(len(layer_sizes))
        ]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x


# --8<-- [end:mlp]


# --8<-- [start:dropout]
class Dropout(Module):
    """Inverted dropout: in training, zero each input with probability ``p``.

    The survivors are multiplied by ``1 / (1 - p)`` so that every output keeps the same
    expected value as its input; evaluation mode can then pass inputs through unchanged.

    Args:
        p: The probability of zeroing an input, in ``[0, 1)``.
        rng: The source of the random choices. Defaults to ``random.Random(0)``.
    """

    def __init__(self, p: float, rng: random.Random | None = None) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = random.Random(0) if rng is None else rng

    def __call__(self, x: Sequence[Value]) -> list[Value]:
        if not self.training:
            return list(x)
        scale = 1 / (1 - self.p)
        return [xi * (0.0 if self.rng.random() < self.p else scale) for xi in x]


# --8<-- [end:dropout]


# --8<-- [start:sgd]
class SGD:
    """Stochastic gradient descent: ``p.data -= lr * p.grad`` for each parameter.

    Args:
        params: The values to train, usually ``model.parameters()``.
        lr: The learning rate.
    """

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        self.params = list(params)
        self.lr = lr

    def step(self) -> None:
        """Take one step against the gradient, leaving frozen parameters alone."""
        for p in self.params:
            if p.requires_grad:
                p.data -= self.lr * p.grad

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to 0."""
        for p in self.params:
            p.grad = 0.0


# --8<-- [end:sgd]


# --8<-- [start:bce]
def binary_cross_entropy_with_logits(logit: Value, y: float) -> Value:
    """The binary cross-entropy of a logit ``z`` (a score) against a label ``y`` in [0, 1].

    The textbook form ``-y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z))`` overflows or
    takes the log of 0 when ``|z|`` is large. It simplifies to

        relu(z) - z * y + log(1 + exp(-|z|))

    where ``exp`` only ever sees a number <= 0. The two branches below spell out
    ``relu(z)`` and ``|z|`` for each sign of ``z``, which also makes the gradient exactly
    ``sigmoid(z) - y`` at ``z = 0``.

    Args:
        logit: The model's output ``z``.
        y: The target: 1 for the positive class, 0 for the negative one.

    Returns:
        The loss, a single value ready for :meth:`Value.backward`.
    """
    if not 0 <= y <= 1:
        raise ValueError(f"the label y must be in [0, 1], got {y}")
    if logit.data >= 0:  # relu(z) = z and |z| = z
        return logit - logit * y + (1 + (-logit).exp()).log()
    return -logit * y + (1 + logit.exp()).log()  # relu(z) = 0 and |z| = -z


# --8<-- [end:bce]


# --8<-- [start:accumulate]
def accumulate_gradients(
    model: Module,
    batch: Sequence[Example],
    micro_batch_size: int,
    loss_fn: Callable[[Module, Sequence[Example]], Value],
) -> float:
    """Compute the gradient of a whole batch one micro-batch at a time.

    Only one micro-batch's graph exists at a time, so memory grows with the micro-batch
    size instead of the batch size. Each micro-batch's mean loss is weighted by its share
    of the batch before ``backward``; since gradients add up in ``.grad``, the result is
    exactly the gradient of the full batch's mean loss.

    Gradients are added to what ``.grad`` already holds: call ``model.zero_grad()`` first.

    Args:
        model: The model, passed on to ``loss_fn``.
        batch: The training examples.
        micro_batch_size: How many examples go through the model at once.
        loss_fn: ``loss_fn(model, examples)`` returns the mean loss over ``examples``.

    Returns:
        The mean loss over the whole batch.
    """
    if micro_batch_size < 1:
        raise ValueError(f"micro_batch_size must be at least 1, got {micro_batch_size}")
    total = 0.0
    for start in range(0, len(batch), micro_batch_size):
        micro_batch = batch[start : start + micro_batch_size]
        loss = loss_fn(model, micro_batch) * (len(micro_batch) / len(batch))
        loss.backward()
        total += loss.data
    return total


# --8<-- [end:accumulate]
