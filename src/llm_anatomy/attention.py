"""Chapter 12: attention, from a weight-free average to GPT-2's fused multi-head attention.

The chapter builds attention in steps, each a small change to the previous one:

1. :func:`simplified_attention` — every token is a softmax-weighted average of all tokens,
   the weights being dot products of the raw embeddings; nothing is learned.
2. :class:`SelfAttention` — queries, keys and values are learned projections, and the
   scores are divided by ``sqrt(d)``.
3. :class:`CausalAttention` — a token may only look at itself and the tokens before it
   (a mask of ``-inf``), and dropout thins the attention weights while training.
4. :class:`MultiHeadAttentionWrapper` — several causal heads side by side.
5. :class:`MultiHeadAttention` — the same heads computed by one fused QKV matrix and
   ``F.scaled_dot_product_attention``, with an optional :class:`KVCache` for generation.
   This is the module the GPT model of chapter 13 uses.

Shapes: ``B`` batch, ``T`` tokens, ``H`` heads, ``C`` features (``d_out = H * head_dim``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from llm_anatomy.nn.module import check_tensor


def check_sequence(x: torch.Tensor, layer: str, d_in: int, context_length: int | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``(B, T, d_in)`` batch of at most ``context_length`` tokens.

    Args:
        x: The input given to the layer.
        layer: The layer's name, for the message.
        d_in: The number of features each token must have.
        context_length: The most tokens the layer accepts, if limited.

    Raises:
        TypeError: if ``x`` is not a tensor.
        ValueError: if ``x`` is not 3-D, has the wrong feature size or too many tokens.
    """
    check_tensor(x, layer)
    if x.dim() != 3:
        raise ValueError(f"{layer} expects a 3-D input (batch, tokens, features), got shape {tuple(x.shape)}")
    check_tensor(x, layer, width=d_in)
    if context_length is not None and x.shape[1] > context_length:
        raise ValueError(
            f"{layer} got {x.shape[1]} tokens but its context_length is {context_length}"
        )


# --8<-- [start:causal_mask]
def causal_mask(num_queries: int, num_keys: int, device: torch.device | None = None) -> torch.Tensor:
    """Which keys each query may attend to: itself and everything before it.

    The queries are the *last* ``num_queries`` of the ``num_keys`` positions (with a KV cache
    the earlier keys were computed before), so query ``i`` sits at position
    ``num_keys - num_queries + i``.

    Returns:
        A boolean ``(num_queries, num_keys)`` tensor, ``True`` where attending is allowed.
    """
    past = num_keys - num_queries
    ones = torch.ones(num_queries, num_keys, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=past)
# --8<-- [end:causal_mask]


# --8<-- [start:kv_cache]
class KVCache:
    """The keys and values of the tokens one attention layer has already seen.

    When a model generates text one token at a time, the keys and values of the earlier
    tokens never change, so they are computed once and kept here; each step adds one.

    Attributes:
        k: Cached keys ``(B, H, T_past, head_dim)``, or ``None`` when empty.
        v: Cached values, the same shape as ``k``.
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """The number of tokens cached."""
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append new keys and values ``(B, H, T_new, head_dim)``; return all of them.

        Raises:
            ValueError: if ``k`` and ``v`` differ in shape, are not 4-D, or do not match the
                batch, heads and head size already cached.
        """
        if k.shape != v.shape or k.dim() != 4:
            raise ValueError(f"keys and values must share one 4-D shape, got {tuple(k.shape)} and {tuple(v.shape)}")
        if self.k is None:
            self.k, self.v = k, v
        else:
            if k.shape[:2] != self.k.shape[:2] or k.shape[3] != self.k.shape[3]:
                raise ValueError(
                    f"new keys {tuple(k.shape)} do not fit the cache {tuple(self.k.shape)} "
                    "(batch, heads and head size must match)"
                )
            self.k = torch.cat([self.k, k], dim=2)  # (B, H, T_past + T_new, head_dim)
            self.v = torch.cat([self.v, v], dim=2)
        return self.k, self.v

    def reset(self) -> None:
        """Forget everything cached (before a new prompt)."""
        self.k = self.v = None
# --8<-- [end:kv_cache]


# --8<-- [start:heads]
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B, T, C)`` → ``(B, H, T, C / H)``: each head gets a contiguous slice of the features."""
    B, T, C = x.shape
    return x.view(B, T, num_heads, C // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, T, head_dim)`` → ``(B, T, H * head_dim)``: the heads side by side again."""
    B, H, T, head_dim = x.shape
    return x.transpose(1, 2).reshape(B, T, H * head_dim)
# --8<-- [end:heads]


# --8<-- [start:mha]
class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention as in GPT-2, with one fused QKV projection.

    Args:
        d_in: Features of each input token.
        d_out: Features of each output token; split evenly among the heads.
        context_length: The most tokens one forward pass (plus the cache) may hold.
        num_heads: Number of attention heads; must divide ``d_out``.
        dropout: Probability of dropping an attention weight while training.
        qkv_bias: Whether the QKV projection has a bias (GPT-2's released weights do).

    Raises:
        ValueError: if ``d_out`` is not a multiple of ``num_heads`` or a size is not positive.
    """

    def __init__(self, d_in: int, d_out: int, context_length: int, num_heads: int,
                 dropout: float = 0.0, qkv_bias: bool = False) -> None:
        super().__init__()
        if min(d_in, d_out, context_length, num_heads) < 1:
            raise ValueError("d_in, d_out, context_length and num_heads must all be positive")
        if d_out % num_heads != 0:
            raise ValueError(f"d_out={d_out} must be divisible by num_heads={num_heads}")
        self.d_in, self.d_out = d_in, d_out
        self.context_length = context_length
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.dropout = dropout
        # rows [0, d_out) make the queries, then the keys, then the values
        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Attend from every token of ``x`` (B, T, d_in) to itself and the tokens before it.

        Args:
            x: The new tokens.
            cache: Keys and values of earlier tokens. When given, the new tokens come right
                after the cached ones, and their own keys and values are appended to it.

        Returns:
            The context vectors, ``(B, T, d_out)``.
        """
        past = 0 if cache is None else cache.length
        check_sequence(x, "MultiHeadAttention", self.d_in)
        if past + x.shape[1] > self.context_length:
            raise ValueError(
                f"MultiHeadAttention got {x.shape[1]} tokens (after {past} cached) "
                f"but its context_length is {self.context_length}"
            )
        T = x.shape[1]
        q, k, v = self.qkv(x).split(self.d_out, dim=-1)  # 3 x (B, T, d_out)
        q, k, v = (split_heads(t, self.num_heads) for t in (q, k, v))  # (B, H, T, head_dim)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, H, past + T, head_dim)
        dropout_p = self.dropout if self.training else 0.0
        if past == 0:  # the square causal mask: torch builds it on the fly
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        elif T == 1:  # one new token sees every cached key: no mask at all
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:  # several new tokens after a cache: the mask is offset by `past`
            mask = causal_mask(T, past + T, device=x.device)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return self.out_proj(merge_heads(out))  # (B, T, d_out)
# --8<-- [end:mha]


# --8<-- [start:simplified]
def simplified_attention(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention with no trainable weights: each token averages all tokens, weighted by similarity.

    Args:
        x: Token embeddings ``(T, d)``.

    Returns:
        ``(context, weights)``: the context vectors ``(T, d)`` and the attention weights
        ``(T, T)``, whose row ``i`` says how much token ``i`` takes from each token.

    Raises:
        ValueError: if ``x`` is not a 2-D ``(T, d)`` tensor.
    """
    check_tensor(x, "simplified_attention", ndim=2)
    scores = x @ x.T  # (T, T): dot product of every pair of tokens
    weights = torch.softmax(scores, dim=-1)  # each row sums to 1
    context = weights @ x  # (T, d): row i = sum_j weights[i, j] * x[j]
    return context, weights
# --8<-- [end:simplified]


# --8<-- [start:self_attention]
class SelfAttention(nn.Module):
    """Self-attention with trainable query, key and value projections (no mask).

    Args:
        d_in: Features of each input token.
        d_out: Size of queries, keys, values and outputs.
        qkv_bias: Whether the three projections have a bias.
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.d_in = d_in
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled dot products of every query with every key: ``(B, T, d_in)`` → ``(B, T, T)``."""
        check_sequence(x, type(self).__name__, self.d_in)
        queries, keys = self.W_query(x), self.W_key(x)  # (B, T, d_out)
        return queries @ keys.transpose(1, 2) / math.sqrt(keys.shape[-1])

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """How much each token takes from each other token, ``(B, T, T)``; rows sum to 1."""
        return torch.softmax(self.scores(x), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Context vectors ``(B, T, d_out)``: attention-weighted sums of the values."""
        return self.attention_weights(x) @ self.W_value(x)
# --8<-- [end:self_attention]


# --8<-- [start:causal_attention]
class CausalAttention(SelfAttention):
    """Self-attention in which a token sees only itself and earlier tokens, with dropout.

    Args:
        d_in: Features of each input token.
        d_out: Size of queries, keys, values and outputs.
        context_length: The most tokens one input may hold.
        dropout: Probability of dropping an attention weight while training.
        qkv_bias: Whether the three projections have a bias.
    """

    def __init__(self, d_in: int, d_out: int, context_length: int,
                 dropout: float = 0.0, qkv_bias: bool = False) -> None:
        super().__init__(d_in, d_out, qkv_bias)
        self.context_length = context_length
        self.dropout = nn.Dropout(dropout)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, "CausalAttention", self.d_in, self.context_length)
        T = x.shape[1]
        scores = self.scores(x)  # (B, T, T)
        future = ~causal_mask(T, T, device=x.device)
        scores = scores.masked_fill(future, float("-inf"))  # exp(-inf) = 0 after softmax
        weights = torch.softmax(scores, dim=-1)
        return self.dropout(weights)  # a no-op in eval mode
# --8<-- [end:causal_attention]


# --8<-- [start:wrapper]
class MultiHeadAttentionWrapper(nn.Module):
    """Several :class:`CausalAttention` heads run one after another, concatenated and projected.

    Same arguments as :class:`MultiHeadAttention`; each head has ``d_out // num_heads`` features.
    """

    def __init__(self, d_in: int, d_out: int, context_length: int, num_heads: int,
                 dropout: float = 0.0, qkv_bias: bool = False) -> None:
        super().__init__()
        if d_out % num_heads != 0:
            raise ValueError(f"d_out={d_out} must be divisible by num_heads={num_heads}")
        head_dim = d_out // num_heads
        self.heads = nn.ModuleList(
            CausalAttention(d_in, head_dim, context_length, dropout, qkv_bias) for _ in range(num_heads)
        )
        self.out_proj = nn.Linear(d_out, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, d_in)`` → ``(B, T, d_out)``."""
        heads = [head(x) for head in self.heads]  # H x (B, T, head_dim)
        return self.out_proj(torch.cat(heads, dim=-1))
# --8<-- [end:wrapper]


# --8<-- [start:fuse]
@torch.no_grad()
def fuse_heads(wrapper: MultiHeadAttentionWrapper) -> MultiHeadAttention:
    """Build the :class:`MultiHeadAttention` that computes exactly what ``wrapper`` computes.

    The fused QKV weight is every head's query weight stacked, then every key weight, then
    every value weight: one ``(3 * d_out, d_in)`` matrix instead of ``3 * H`` small ones.
    """
    first = wrapper.heads[0]
    head_dim, d_in = first.W_query.weight.shape
    num_heads = len(wrapper.heads)
    qkv_bias = first.W_query.bias is not None
    mha = MultiHeadAttention(d_in, head_dim * num_heads, first.context_length, num_heads,
                             first.dropout.p, qkv_bias)
    mha = mha.to(device=first.W_query.weight.device, dtype=first.W_query.weight.dtype)
    projections = [getattr(head, name) for name in ("W_query", "W_key", "W_value") for head in wrapper.heads]
    mha.qkv.weight.copy_(torch.cat([p.weight for p in projections]))  # (3 * d_out, d_in)
    if qkv_bias:
        mha.qkv.bias.copy_(torch.cat([p.bias for p in projections]))
    mha.out_proj.load_state_dict(wrapper.out_proj.state_dict())
    return mha
# --8<-- [end:fuse]


# --8<-- [start:explicit]
def explicit_attention(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """What ``mha(x)`` computes in eval mode, written out as softmax(QKᵀ/√d)·V with a mask.

    Slower and hungrier for memory than ``F.scaled_dot_product_attention`` (it builds the
    whole ``(B, H, T, T)`` weight tensor), but every step is visible.
    """
    check_sequence(x, "explicit_attention", mha.d_in, mha.context_length)
    T = x.shape[1]
    q, k, v = mha.qkv(x).split(mha.d_out, dim=-1)
    q, k, v = (split_heads(t, mha.num_heads) for t in (q, k, v))  # (B, H, T, head_dim)
    scores = q @ k.transpose(-2, -1) / math.sqrt(mha.head_dim)  # (B, H, T, T)
    scores = scores.masked_fill(~causal_mask(T, T, device=x.device), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return mha.out_proj(merge_heads(weights @ v))  # (B, T, d_out)
# --8<-- [end:explicit]


# --8<-- [start:tiled]
def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int,
                    causal: bool = True) -> torch.Tensor:
    """softmax(QKᵀ/√d)·V computed one block of keys at a time, never holding all the scores.

    The idea behind FlashAttention: an *online softmax* keeps, for every query, the largest
    score seen so far and the sum of exponentials relative to it, and rescales the partial
    output whenever a new block raises the maximum.

    Args:
        q: Queries ``(..., T_q, d)``; with ``causal`` they are the last ``T_q`` positions.
        k: Keys ``(..., T_k, d)``.
        v: Values ``(..., T_k, d_v)``.
        block_size: How many keys to process at once.
        causal: Whether query ``i`` only sees keys up to its own position.

    Returns:
        The attention output ``(..., T_q, d_v)``.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    num_queries, num_keys = q.shape[-2], k.shape[-2]
    allowed = causal_mask(num_queries, num_keys, device=q.device)  # (T_q, T_k)
    row_max = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype, device=q.device)
    row_sum = torch.zeros_like(row_max)  # (..., T_q, 1)
    out = torch.zeros(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype, device=q.device)
    for start in range(0, num_keys, block_size):
        block = slice(start, start + block_size)
        scores = q @ k[..., block, :].transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, block)
        if causal:
            scores = scores.masked_fill(~allowed[:, block], float("-inf"))
        new_max = torch.maximum(row_max, scores.amax(dim=-1, keepdim=True))
        rescale = torch.exp(row_max - new_max)  # shrinks what was summed under the old maximum
        weights = torch.exp(scores - new_max)  # unnormalised, every entry <= 1
        row_sum = row_sum * rescale + weights.sum(dim=-1, keepdim=True)
        out = out * rescale + weights @ v[..., block, :]
        row_max = new_max
    return out / row_sum
# --8<-- [end:tiled]
