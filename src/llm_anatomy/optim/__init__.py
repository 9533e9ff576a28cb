"""Chapter 6: optimizers, learning-rate schedules and mini-batches, written from their equations.

* :mod:`~llm_anatomy.optim.optimizers`: the ``Optimizer`` base class, ``SGD`` (with momentum
  and Nesterov), ``Adam`` and ``AdamW``, following ``torch.optim``'s formulation.
* :mod:`~llm_anatomy.optim.schedules`: the learning rate as a function of the step.
* :mod:`~llm_anatomy.optim.data`: shuffled mini-batches for one epoch.
"""

from llm_anatomy.optim.data import minibatches
from llm_anatomy.optim.optimizers import SGD, Adam, AdamW, Optimizer
from llm_anatomy.optim.schedules import (
    Schedule,
    constant,
    cosine,
    exponential,
    linear_warmup,
    step_decay,
    warmup_cosine,
)

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Optimizer",
    "Schedule",
    "constant",
    "cosine",
    "exponential",
    "linear_warmup",
    "minibatches",
    "step_decay",
    "warmup_cosine",
]
