"""Text generation: turn next-token logits into tokens, one at a time.

Greedy decoding picks the most likely token; sampling draws from the softmax of the
logits, reshaped by a temperature and restricted by top-k or top-p (nucleus) filtering.
"""

from __future__ import annotations

import torch
from torch import nn

from llm_anatomy.attention import KVCache
from llm_anatomy.train import precision_context


# --8<-- [start:filters]
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (and any tied with the k-th); the rest become -inf.

    Args:
        logits: ``(..., V)``.
        k: How many candidates to keep, ``1 <= k``; ``k >= V`` keeps everything.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities add up to at least ``p``.

    This is nucleus sampling (Holtzman et al., 2020): the number of candidates adapts to
    how sure the model is. The most likely token is always kept.

    Args:
        logits: ``(..., V)``.
        p: The probability mass to keep, ``0 < p <= 1``.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    if p == 1.0:  # the whole distribution
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the better tokens
    drop_sorted = mass_before >= p  # the better tokens already reach p
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))
# --8<-- [end:filters]


# --8<-- [start:next_token]
def next_token(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
               top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose one token per row of ``logits`` ``(B, V)``; returns ids ``(B, 1)``.

    ``temperature == 0`` is greedy decoding (the arg max; ``top_k`` and ``top_p`` change
    nothing). Otherwise the logits are divided by the temperature, filtered by top-k and
    then top-p (the order Hugging Face uses), and one token is drawn with ``generator``.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature  # < 1 sharpens the distribution, > 1 flattens it
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # filtered tokens get probability 0
    return torch.multinomial(probs, num_samples=1, generator=generator)
# --8<-- [end:next_token]


# --8<-- [start:generate]
@torch.no_grad()
def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
             use_cache: bool = True, generator: torch.Generator | None = None, precision: str = "float32",
             compile: bool = False) -> torch.Tensor:
    """Extend every prompt in ``idx`` by up to ``max_new_tokens`` tokens.

    The model sees at most its last ``context_length`` tokens: a longer prompt is cropped
    to its end (the returned tensor still begins with the whole prompt). With
    ``use_cache`` the keys and values of earlier tokens are kept in one :class:`KVCache` per
    block, so each step feeds the model a single token. GPT-2's position embeddings are
    absolute, so once the context is full the cache cannot slide: the window is then
    recomputed from scratch at every step, exactly as without a cache. The model is run in
    evaluation mode (no dropout) and left in the mode it was in.

    ``precision="bfloat16"`` runs the model's matrix products in bfloat16 under autocast
    (the logits are turned back to float32 before a token is chosen); ``compile=True``
    runs it through ``torch.compile`` with dynamic shapes, so the growing cache does not
    recompile at every step. The first call pays for the compilation.

    Args:
        model: A :class:`~llm_anatomy.gpt.model.GPTModel`.
        idx: Prompt token ids ``(B, T)``.
        max_new_tokens: How many tokens to add.
        temperature: 0 for greedy decoding, otherwise the sampling temperature.
        top_k: Sample only among the ``top_k`` most likely tokens.
        top_p: Sample only within the nucleus of probability mass ``top_p``.
        eos_id: Stop when every sequence has produced this token (finished ones are
            padded with it).
        use_cache: Reuse keys and values of earlier tokens (same result, less work).
        generator: The random number generator for sampling, for reproducible output.
        precision: ``"float32"``, or ``"bfloat16"``/``"float16"`` mixed precision (see
            :func:`llm_anatomy.train.precision_context`).
        compile: Run the model through ``torch.compile``.

    Returns:
        ``(B, T + n)`` token ids, ``n <= max_new_tokens``.
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise ValueError(f"idx must be a non-empty (batch, tokens) tensor, got shape {tuple(idx.shape)}")
    context = model.cfg.context_length
    precision_context(idx.device, precision)  # a clear error for a precision the device lacks
    forward = torch.compile(model, dynamic=True) if compile else model
    was_training = model.training
    model.eval()
    out, caches = idx, None
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)
    try:
        for _ in range(max_new_tokens):
            with precision_context(idx.device, precision):
                if not use_cache:
                    logits = forward(out[:, -context:])  # the whole window, every step
                elif caches is None or caches[0].length >= context:  # first step, or the cache is full
                    caches = [KVCache() for _ in model.blocks]
                    logits = forward(out[:, -context:], caches)
                else:
                    logits = forward(out[:, -1:], caches)  # only the newest token
            token = next_token(logits[:, -1].float(), temperature, top_k, top_p, generator)  # (B, 1)
            if eos_id is not None:
                token = token.masked_fill(finished, eos_id)
                finished |= token == eos_id
            out = torch.cat([out, token], dim=1)
            if eos_id is not None and finished.all():
                break
    finally:
        model.train(was_training)
    return out
# --8<-- [end:generate]
