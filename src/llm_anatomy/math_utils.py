"""Small numerical helpers of chapter 2, each written from its definition.

The cosine of the angle between vectors, the density and distribution function of the normal
distribution, a two-sided p-value, derivatives and gradients by central differences, and the
rank of a matrix from its singular values. Each fits in a few lines, so the chapter can put the
formula and the code side by side; the tests check them against torch, SciPy and NumPy.

Every function takes torch tensors, or anything ``torch.as_tensor`` accepts (NumPy arrays,
lists, numbers), and computes on the tensor's device. Python numbers, lists and integer arrays
become ``float64``, as they would in NumPy; floating-point tensors and arrays keep their dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

SQRT_2 = math.sqrt(2.0)
SQRT_2PI = math.sqrt(2.0 * math.pi)


# --8<-- [start:as_float]
def as_float_tensor(x: object, name: str = "x") -> torch.Tensor:
    """Return ``x`` as a floating-point tensor whose entries are all finite.

    Tensors and NumPy arrays that already hold floats keep their dtype and device; anything
    else (Python numbers, lists, integer or boolean arrays) becomes ``float64``.

    Raises:
        TypeError: if ``x`` is not numeric, or is complex.
        ValueError: if ``x`` holds NaN or infinity.
    """
    try:
        if isinstance(x, (torch.Tensor, np.ndarray)):
            t = torch.as_tensor(x)
        else:  # as_tensor would read Python floats as float32 and lose digits
            t = torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must hold numbers, got {type(x).__name__}") from err
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t
# --8<-- [end:as_float]


# --8<-- [start:cosine]
def cosine_similarity(a: object, b: object) -> torch.Tensor:
    """The cosine of the angle between vectors, along the last dimension.

    cos θ = a·b / (‖a‖ ‖b‖): 1 for vectors that point
    the same way, 0 for orthogonal ones, -1 for opposite ones, whatever their lengths. Leading
    dimensions broadcast, so one query of shape ``(d,)`` is compared with ``n`` vectors of
    shape ``(n, d)`` in one call.

    Args:
        a: vectors of shape ``(..., d)``.
        b: vectors of shape ``(..., d)``; leading dimensions broadcast against those of ``a``.

    Returns:
        The cosines, with the broadcast leading shape (0-d for two single vectors).

    Raises:
        ValueError: if the vector lengths ``d`` differ, the leading dimensions do not
            broadcast, or a vector is zero (it has no direction, so no angle).
    """
    a, b = as_float_tensor(a, "a"), as_float_tensor(b, "b")
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"a and b must be vectors of the same length, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError as err:
        raise ValueError(f"shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from err
    norm_a = torch.linalg.vector_norm(a, dim=-1, keepdim=True)  # (..., 1)
    norm_b = torch.linalg.vector_norm(b, dim=-1, keepdim=True)
    if (norm_a == 0).any() or (norm_b == 0).any():
        raise ValueError("cosine similarity of a zero vector is undefined: it has no direction")
    # normalise first: unit vectors cannot overflow or underflow in the dot product
    return ((a / norm_a) * (b / norm_b)).sum(dim=-1)
# --8<-- [end:cosine]


# --8<-- [start:normal]
def _check_normal_parameters(mean: float, std: float) -> None:
    """Raise ``ValueError`` unless the mean is finite and the std is finite and positive."""
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ValueError(f"mean and std must be finite, got mean={mean}, std={std}")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")


def normal_pdf(x: object, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """The density of the normal distribution N(μ, σ²) at ``x``, elementwise.

    φ(x) = exp(-(x - μ)² / 2σ²) / (σ √(2π)).

    Raises:
        ValueError: if ``std`` is not positive, or an input is not finite.
    """
    _check_normal_parameters(mean, std)
    z = (as_float_tensor(x) - mean) / std  # distance from the mean in standard deviations
    return torch.exp(-0.5 * z**2) / (std * SQRT_2PI)


def normal_cdf(x: object, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """The probability P(X ≤ x) for X ~ N(μ, σ²), elementwise.

    With z = (x - μ) / σ, Φ(z) = (1 + erf(z / √2)) / 2, computed as erfc(-z / √2) / 2: the two
    are equal, but far in the lower tail ``1 + erf`` adds a number close to -1 to 1 and loses
    every digit, while ``erfc`` (= 1 - erf, computed directly) keeps them.

    Raises:
        ValueError: if ``std`` is not positive, or an input is not finite.
    """
    _check_normal_parameters(mean, std)
    z = (as_float_tensor(x) - mean) / std
    return 0.5 * torch.erfc(-z / SQRT_2)


def two_sided_p_value(z: object) -> torch.Tensor:
    """The probability that a standard normal variable is at least ``|z|`` away from zero.

    p = 2 (1 - Φ(|z|)) = erfc(|z| / √2), elementwise: the two-sided p-value of a z statistic,
    whose distribution under the null hypothesis is the standard normal.

    Raises:
        ValueError: if an input is not finite.
    """
    return torch.erfc(as_float_tensor(z, "z").abs() / SQRT_2)
# --8<-- [end:normal]


# --8<-- [start:derivative]
def _step(x: torch.Tensor, h: float | None) -> torch.Tensor | float:
    """The finite-difference step: ``h``, or one that balances truncation and rounding error."""
    if h is None:
        # the error of a central difference is about h**2 (truncation) + eps / h (rounding),
        # smallest near h = eps ** (1/3), scaled with |x| so that x + h differs from x
        return torch.finfo(x.dtype).eps ** (1 / 3) * x.abs().clamp(min=1.0)
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"step h must be a positive number, got {h}")
    return h


def numerical_derivative(
    f: Callable[[torch.Tensor], torch.Tensor], x: object, h: float | None = None
) -> torch.Tensor:
    """The derivative of ``f`` at ``x`` by the central difference (f(x + h) - f(x - h)) / 2h.

    Its error shrinks like h², against h for the one-sided (f(x + h) - f(x)) / h. ``f``
    must act elementwise (like ``torch.sin``), so a tensor ``x`` gives the derivative at every
    one of its entries at once.

    Args:
        f: an elementwise function of a tensor.
        x: the point(s) at which to differentiate.
        h: the step; by default eps^(1/3) * max(1, |x|) for the machine epsilon eps of the
            dtype (about 6e-6 in float64, 5e-3 in float32).

    Returns:
        A tensor of the shape of ``x``.

    Raises:
        TypeError: if ``f`` is not callable.
        ValueError: if ``h`` is not a positive number, or ``x`` is not finite.
    """
    if not callable(f):
        raise TypeError(f"f must be a function, got {type(f).__name__}")
    x = as_float_tensor(x)
    h = _step(x, h)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(
    f: Callable[[torch.Tensor], torch.Tensor], x: object, h: float | None = None
) -> torch.Tensor:
    """The gradient of a scalar function ``f`` at ``x``, one central difference per entry.

    Entry i of the result is (f(x + h e_i) - f(x - h e_i)) / 2h, where e_i is zero except
    for a 1 at position i. It costs two evaluations of ``f`` per entry of ``x``:
    fine for checking a gradient, far too slow for training (chapter 7).

    Args:
        f: a function from a tensor shaped like ``x`` to a single number.
        x: the point, a tensor of any shape.
        h: the step, as in :func:`numerical_derivative`.

    Returns:
        A tensor of the shape of ``x``.

    Raises:
        TypeError: if ``f`` is not callable.
        ValueError: if ``f`` does not return a single number, ``h`` is not positive, or
            ``x`` is not finite.
    """
    if not callable(f):
        raise TypeError(f"f must be a function, got {type(f).__name__}")
    x = as_float_tensor(x).contiguous()
    steps = torch.as_tensor(_step(x, h), dtype=x.dtype, device=x.device).expand(x.shape).reshape(-1)  # (n,)
    grad = torch.empty_like(x).view(-1)  # (n,): entry i belongs to entry i of x, read row by row
    for i, step in enumerate(steps):
        nudge = torch.zeros_like(x)
        nudge.view(-1)[i] = step  # h e_i
        up = torch.as_tensor(f(x + nudge), dtype=x.dtype)
        down = torch.as_tensor(f(x - nudge), dtype=x.dtype)
        if up.numel() != 1:
            raise ValueError(f"f must return a single number, got shape {tuple(up.shape)}")
        grad[i] = (up - down).reshape(()) / (2 * step)
    return grad.view(x.shape)
# --8<-- [end:derivative]


# --8<-- [start:rank]
def matrix_rank(X: object, tol: float | None = None) -> int:
    """The number of linearly independent columns (equally, rows) of a matrix.

    The rank is the number of singular values above a tolerance. In exact arithmetic a
    dependent column makes a singular value exactly zero; in floating point it leaves a
    number of the size of rounding error instead, so zero means "below ``tol``".

    Args:
        X: a matrix of shape ``(m, n)``.
        tol: singular values at or below it count as zero. By default
            σ_max * max(m, n) * eps, NumPy's rule, with eps the machine epsilon of ``X``'s dtype.

    Returns:
        The rank, an integer between 0 and ``min(m, n)``.

    Raises:
        ValueError: if ``X`` is not a non-empty 2-D matrix of finite numbers, or ``tol`` is negative.
    """
    X = as_float_tensor(X, "X")
    if X.ndim != 2 or X.numel() == 0:
        raise ValueError(f"X must be a non-empty 2-D matrix, got shape {tuple(X.shape)}")
    singular_values = torch.linalg.svdvals(X)  # (min(m, n),), largest first
    if tol is None:
        tol = singular_values[0].item() * max(X.shape) * torch.finfo(X.dtype).eps
    elif not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    return int((singular_values > tol).sum().item())
# --8<-- [end:rank]
