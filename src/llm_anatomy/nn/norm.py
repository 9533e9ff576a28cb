"""Batch normalisation and layer normalisation, forward and backward.

Both standardise activations to mean 0 and variance 1 and then apply a learnable scale
(``weight``, gamma) and shift (``bias``, beta). They differ in *which* numbers they average:
BatchNorm averages each feature over the examples of the batch, LayerNorm averages each
example over its features. The backward pass through the standardisation is the same
formula along a different axis.
"""

from __future__ import annotations

import torch

from llm_anatomy.nn.module import Module, check_tensor


# --8<-- [start:standardize]
def standardize(
    x: torch.Tensor, dim: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x - mean) / sqrt(var + eps)`` along ``dim``, with the biased variance (divide by n).

    Returns:
        ``x_hat``, ``inv_std = 1 / sqrt(var + eps)``, ``mean`` and ``var``; the last three
        keep ``dim`` with size 1 so that they broadcast against ``x``.
    """
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, correction=0, keepdim=True)
    inv_std = torch.rsqrt(var + eps)
    return (x - mean) * inv_std, inv_std, mean, var


def standardize_backward(
    d_xhat: torch.Tensor, x_hat: torch.Tensor, inv_std: torch.Tensor, dim: int
) -> torch.Tensor:
    """``dL/dx`` from ``dL/dx_hat``, when mean and variance were computed from ``x`` itself.

    Every ``x_j`` moves ``x_hat_i`` directly and through the mean and the variance; the
    three paths add up to ``inv_std * (g - mean(g) - x_hat * mean(g * x_hat))``.
    """
    g_mean = d_xhat.mean(dim=dim, keepdim=True)
    gx_mean = (d_xhat * x_hat).mean(dim=dim, keepdim=True)
    return inv_std * (d_xhat - g_mean - x_hat * gx_mean)


# --8<-- [end:standardize]


# --8<-- [start:batchnorm]
class BatchNorm1d(Module):
    """Normalise every feature over the batch; in evaluation, with running averages.

    In training mode each feature is standardised with the mean and (biased) variance of the
    current batch, and the running statistics move towards them:
    ``running = (1 - momentum) * running + momentum * batch_statistic``, where, as in torch,
    the running variance is updated with the *unbiased* batch variance (divide by ``N - 1``).
    In evaluation mode the running statistics are used and every example is treated alone.

    Args:
        num_features: The number of features ``C`` of the input ``(N, C)``.
        eps: Added to the variance before the square root.
        momentum: The weight of the newest batch in the running statistics.
        dtype: The floating-point type of the parameters and statistics.
        device: Where they live.

    Attributes:
        running_mean: ``(C,)``, starts at 0.
        running_var: ``(C,)``, starts at 1.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.params["weight"] = torch.ones(num_features, dtype=dtype, device=device)  # gamma
        self.params["bias"] = torch.zeros(num_features, dtype=dtype, device=device)  # beta
        self.running_mean = torch.zeros(num_features, dtype=dtype, device=device)
        self.running_var = torch.ones(num_features, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) -> (N, C)."""
        check_tensor(x, "BatchNorm1d", width=self.num_features, ndim=2)
        if self.training:
            n = x.shape[0]
            if n < 2:
                raise ValueError(
                    "BatchNorm1d in training mode needs more than 1 example per batch: "
                    f"got input of shape {tuple(x.shape)}, whose variance over the batch is 0 "
                    "(use a bigger batch, or eval() to normalise with the running statistics)"
                )
            x_hat, inv_std, mean, var = standardize(x, dim=0, eps=self.eps)
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean[0]
            self.running_var = (1 - m) * self.running_var + m * var[0] * n / (n - 1)
        else:
            inv_std = torch.rsqrt(self.running_var + self.eps)
            x_hat = (x - self.running_mean) * inv_std
        self.cache = (x_hat, inv_std, self.training)
        return self.params["weight"] * x_hat + self.params["bias"]

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        x_hat, inv_std, batch_statistics = self.saved()
        self.grads["weight"] = (grad_out * x_hat).sum(dim=0)
        self.grads["bias"] = grad_out.sum(dim=0)
        d_xhat = grad_out * self.params["weight"]
        if not batch_statistics:  # running statistics are constants: a per-feature scaling
            return d_xhat * inv_std
        return standardize_backward(d_xhat, x_hat, inv_std, dim=0)


# --8<-- [end:batchnorm]


# --8<-- [start:layernorm]
class LayerNorm(Module):
    """Normalise every example over its features (the last dimension); no running statistics.

    Args:
        normalized_shape: The size ``D`` of the last dimension of the input ``(..., D)``.
        eps: Added to the variance before the square root.
        dtype: The floating-point type of the parameters.
        device: Where they live.
    """

    def __init__(
        self,
        normalized_shape: int,
        eps: float = 1e-5,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape, self.eps = normalized_shape, eps
        self.params["weight"] = torch.ones(normalized_shape, dtype=dtype, device=device)
        self.params["bias"] = torch.zeros(normalized_shape, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., D); the same computation in training and evaluation."""
        check_tensor(x, "LayerNorm", width=self.normalized_shape)
        x_hat, inv_std, _, _ = standardize(x, dim=-1, eps=self.eps)
        self.cache = (x_hat, inv_std)
        return self.params["weight"] * x_hat + self.params["bias"]

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        x_hat, inv_std = self.saved()
        d = self.normalized_shape
        self.grads["weight"] = (grad_out * x_hat).reshape(-1, d).sum(dim=0)
        self.grads["bias"] = grad_out.reshape(-1, d).sum(dim=0)
        return standardize_backward(grad_out * self.params["weight"], x_hat, inv_std, dim=-1)


# --8<-- [end:layernorm]
