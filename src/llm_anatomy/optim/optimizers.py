"""Optimizers written from their update equations: SGD with momentum, Adam and AdamW.

Each optimizer updates a list of torch tensors whose ``.grad`` a backward pass has filled.
The update rules follow ``torch.optim`` to the letter (where a momentum buffer starts, where
Adam's epsilon goes, how AdamW decays the weights), so that both produce the same parameters
step after step; the tests check it over 100 steps.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def _check_params(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    params = list(params)
    if not params:
        raise ValueError("the optimizer got an empty list of parameters")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"parameter {i} is a {type(p).__name__}, not a torch.Tensor")
        if not p.requires_grad:
            raise ValueError(
                f"parameter {i} does not require grad, so it never gets a gradient: "
                "set requires_grad=True or leave it out of the optimizer"
            )
        if not p.is_leaf:
            raise ValueError(f"parameter {i} is not a leaf tensor: optimize the tensor it was computed from")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("a parameter appears more than once in the list")
    return params


def _nonnegative(name: str, value: float) -> float:
    if not value >= 0:  # written this way round so that NaN fails too
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def _fraction(name: str, value: float) -> float:
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


# --8<-- [start:base]
class Optimizer:
    """Base class: the parameters, a memory (state) per parameter, and the learning rate.

    A subclass writes ``update``, the rule for one tensor; ``step`` applies it to every
    parameter. The learning rate is a plain attribute, so a schedule can set it before any
    step: ``optimizer.lr = schedule(step)``.

    Args:
        params: The tensors to train (leaf tensors with ``requires_grad=True``).
        lr: The learning rate, >= 0.

    Attributes:
        params: The parameters, in the order given.
        state: One dictionary per parameter for what the rule remembers between steps.
        steps: How many steps have been taken.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        self.params = _check_params(params)
        self.lr = lr
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self.steps = 0

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _nonnegative("learning rate", value)

    def zero_grad(self) -> None:
        """Forget the gradients (``grad = None``, as torch does), before the next backward pass."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter from its gradient.

        Raises:
            RuntimeError: if a parameter has no gradient (no backward pass since ``zero_grad``).
        """
        missing = [i for i, p in enumerate(self.params) if p.grad is None]
        if missing:
            raise RuntimeError(
                f"parameters {missing} have no gradient: call loss.backward() before optimizer.step()"
            )
        self.steps += 1
        for p, state in zip(self.params, self.state, strict=True):
            self.update(p, p.grad, state)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor]) -> None:
        """Change ``param`` in place from ``grad``; ``state`` is this parameter's memory."""
        raise NotImplementedError


# --8<-- [end:base]


# --8<-- [start:sgd]
class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 decay.

    With a velocity ``v`` per parameter (``torch.optim.SGD``'s formulation)::

        g = grad + weight_decay * p
        v = g                                   on the first step
        v = momentum * v + (1 - dampening) * g  afterwards
        p = p - lr * v                          (p - lr * (g + momentum * v) for Nesterov)

    Args:
        params: The tensors to train.
        lr: The learning rate.
        momentum: How much of the previous velocity is kept, in [0, 1); 0 is plain SGD.
        dampening: How much of the new gradient is left out of the velocity, in [0, 1).
        nesterov: Use Nesterov's look-ahead (needs momentum > 0 and dampening 0).
        weight_decay: The L2 penalty ``weight_decay / 2 * ||p||^2`` added to the loss.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _fraction("momentum", momentum)
        self.dampening = _fraction("dampening", dampening)
        self.weight_decay = _nonnegative("weight_decay", weight_decay)
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.nesterov = nesterov

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor]) -> None:
        if self.weight_decay:
            grad = grad.add(param, alpha=self.weight_decay)  # the gradient of the L2 penalty
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = grad.clone()  # the first velocity is the gradient itself
            else:
                state["velocity"].mul_(self.momentum).add_(grad, alpha=1 - self.dampening)
            velocity = state["velocity"]
            grad = grad.add(velocity, alpha=self.momentum) if self.nesterov else velocity
        param.add_(grad, alpha=-self.lr)


# --8<-- [end:sgd]


# --8<-- [start:adam]
class Adam(Optimizer):
    """Adam: momentum on the gradient, divided by a running root mean square of the gradient.

    With ``t`` the step number (``torch.optim.Adam``'s formulation)::

        g = grad + weight_decay * p                 (L2 penalty, coupled to the gradient)
        m = beta1 * m + (1 - beta1) * g             (first moment: mean of g)
        v = beta2 * v + (1 - beta2) * g * g         (second moment: mean of g squared)
        m_hat = m / (1 - beta1 ** t),  v_hat = v / (1 - beta2 ** t)   (bias correction)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params: The tensors to train.
        lr: The learning rate.
        betas: The decay rates ``(beta1, beta2)`` of the two running averages, each in [0, 1).
        eps: Added to the root mean square, outside the square root, against division by 0.
        weight_decay: The L2 penalty's coefficient (in ``AdamW``: the decoupled decay rate).
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
        self.beta1 = _fraction("beta1", betas[0])
        self.beta2 = _fraction("beta2", betas[1])
        self.eps = _nonnegative("eps", eps)
        self.weight_decay = _nonnegative("weight_decay", weight_decay)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor]) -> None:
        if self.weight_decay:
            if self.decoupled_weight_decay:
                param.mul_(1 - self.lr * self.weight_decay)  # AdamW: shrink the weights directly
            else:
                grad = grad.add(param, alpha=self.weight_decay)  # Adam: L2 through the gradient
        if not state:
            state["m"] = torch.zeros_like(param)
            state["v"] = torch.zeros_like(param)
        m, v = state["m"], state["v"]
        m.mul_(self.beta1).add_(grad, alpha=1 - self.beta1)
        v.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        m_hat = m / (1 - self.beta1**self.steps)
        v_hat = v / (1 - self.beta2**self.steps)
        param.addcdiv_(m_hat, v_hat.sqrt() + self.eps, value=-self.lr)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p = p * (1 - lr * weight_decay)`` before the Adam step.

    The decay does not pass through the gradient, so it is not divided by ``sqrt(v_hat)``:
    every weight shrinks at the same rate, whatever the size of its gradients. Arguments
    as in :class:`Adam`; the default decay 0.01 is torch's.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


# --8<-- [end:adam]
