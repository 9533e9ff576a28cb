"""GPT-2 from its parts: LayerNorm, GELU, feed-forward, transformer block, the whole model.

Shapes: ``B`` batch, ``T`` tokens, ``C`` = ``emb_dim``, ``V`` = ``vocab_size``.
Unlike chapter 8, whose layers carry hand-written backward passes, these are ordinary
``torch.nn`` modules: autograd differentiates them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from llm_anatomy.attention import KVCache, MultiHeadAttention
from llm_anatomy.gpt.config import GPTConfig
from llm_anatomy.nn.module import check_tensor


# --8<-- [start:layernorm]
class LayerNorm(nn.Module):
    """Standardise every token's vector over its features, then scale and shift.

    Args:
        emb_dim: Size of the last dimension.
        eps: Added to the variance against division by zero (GPT-2 uses ``1e-5``).
    """

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))  # gamma
        self.bias = nn.Parameter(torch.zeros(emb_dim))  # beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., C)`` → ``(..., C)``, each vector with mean 0 and variance 1 before the affine map."""
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # divide by C, as torch.nn.LayerNorm
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight * x_hat + self.bias
# --8<-- [end:layernorm]


# --8<-- [start:gelu]
class GELU(nn.Module):
    """GELU in the tanh approximation that GPT-2 was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + torch.tanh(inner))
# --8<-- [end:gelu]


# --8<-- [start:kernels]
def make_layer_norm(emb_dim: int, fused: bool = True) -> nn.Module:
    """A LayerNorm over ``emb_dim`` features: torch's fused kernel, or ours from the formula.

    Both compute the same function and call their parameters ``weight`` and ``bias``, so a
    state dict loads into either. The fused one reads the input once and writes the output
    once; ours runs eight tensor operations, each a full pass over the tensor (and about
    as many again in the backward pass).
    """
    return nn.LayerNorm(emb_dim) if fused else LayerNorm(emb_dim)


def make_gelu(fused: bool = True) -> nn.Module:
    """GPT-2's tanh GELU: torch's fused kernel, or ours from the formula (eight operations)."""
    return nn.GELU(approximate="tanh") if fused else GELU()
# --8<-- [end:kernels]


# --8<-- [start:feedforward]
class FeedForward(nn.Module):
    """The per-token MLP of a block: widen four times, GELU, narrow back.

    Args:
        emb_dim: Width ``C`` of the input and the output.
        fused: Use torch's fused GELU kernel (see :func:`make_gelu`).
    """

    def __init__(self, emb_dim: int, fused: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(emb_dim, 4 * emb_dim)  # C -> 4C
        self.gelu = make_gelu(fused)
        self.proj = nn.Linear(4 * emb_dim, emb_dim)  # 4C -> C

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T, C)``; every token is transformed on its own."""
        return self.proj(self.gelu(self.fc(x)))
# --8<-- [end:feedforward]


# --8<-- [start:block]
class TransformerBlock(nn.Module):
    """One pre-norm GPT-2 block: ``x + attention(norm(x))``, then ``x + mlp(norm(x))``.

    Args:
        cfg: The model's configuration.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm1 = make_layer_norm(cfg.emb_dim, cfg.fused_kernels)
        self.att = MultiHeadAttention(cfg.emb_dim, cfg.emb_dim, cfg.context_length, cfg.n_heads,
                                      dropout=cfg.drop_rate, qkv_bias=cfg.qkv_bias)
        self.norm2 = make_layer_norm(cfg.emb_dim, cfg.fused_kernels)
        self.ff = FeedForward(cfg.emb_dim, cfg.fused_kernels)
        self.drop_resid = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """``(B, T, C)`` → ``(B, T, C)``; ``cache`` holds this block's earlier keys and values."""
        x = x + self.drop_resid(self.att(self.norm1(x), cache))  # tokens exchange information
        x = x + self.drop_resid(self.ff(self.norm2(x)))  # each token thinks on its own
        return x
# --8<-- [end:block]


# --8<-- [start:model]
class GPTModel(nn.Module):
    """GPT-2: embeddings, a stack of transformer blocks, a final LayerNorm and the output head.

    Args:
        cfg: The model's configuration.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)  # (V, C)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)  # (T_max, C)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.final_norm = make_layer_norm(cfg.emb_dim, cfg.fused_kernels)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)  # C -> V
        if cfg.tie_weights:
            self.out_head.weight = self.tok_emb.weight  # one (V, C) matrix, used twice
        self.reset_parameters()

    def forward(self, idx: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """Next-token logits for every position of ``idx``.

        Args:
            idx: Token ids ``(B, T)``.
            caches: One :class:`KVCache` per block, or ``None``. With caches, ``idx`` holds
                the tokens that come right after the cached ones, and its positions start at
                the cache length.

        Returns:
            Logits ``(B, T, V)``: row ``t`` scores every candidate for the token after ``t``.

        Raises:
            TypeError: if ``idx`` is not an integer tensor.
            ValueError: if ``idx`` is not 2-D, holds an id outside the vocabulary, does not fit
                in the context after the cached tokens, or ``caches`` has the wrong length.
        """
        past = self._check_input(idx, caches)
        T = idx.shape[1]
        positions = torch.arange(past, past + T, device=idx.device)  # (T,)
        x = self.tok_emb(idx) + self.pos_emb(positions)  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.drop_emb(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])  # (B, T, C)
        return self.out_head(self.final_norm(x))  # (B, T, V)
# --8<-- [end:model]

    def _check_input(self, idx: torch.Tensor, caches: list[KVCache] | None) -> int:
        """Validate a forward call's arguments; return the number of cached tokens."""
        check_tensor(idx, "GPTModel", ndim=2)
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise TypeError(f"GPTModel expects integer token ids, got dtype {idx.dtype}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.cfg.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size}), "
                             f"got values from {idx.min().item()} to {idx.max().item()}")
        if caches is not None and len(caches) != len(self.blocks):
            raise ValueError(f"expected one KVCache per block ({len(self.blocks)}), got {len(caches)}")
        past = 0 if caches is None else caches[0].length
        if past + idx.shape[1] > self.cfg.context_length:
            raise ValueError(f"{idx.shape[1]} tokens after {past} cached ones exceed "
                             f"context_length={self.cfg.context_length}")
        return past

    # --8<-- [start:init]
    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the weights as ``cfg.init`` says (GPT-2's scheme unless it is ``"torch"``).

        GPT-2: N(0, 0.02) weights, zero biases, scaled residual projections. Each block adds
        two projections into the residual stream, so the stream's variance grows with depth;
        GPT-2 shrinks their initial weights by ``1/sqrt(2 * n_layers)``. ``"torch"`` re-runs
        each module's own ``reset_parameters`` (torch's default distributions).
        """
        if self.tok_emb.weight.is_meta:  # built on the meta device: shapes only, no values
            return
        if self.cfg.init == "torch":
            for module in self.modules():
                tied_head = module is self.out_head and self.cfg.tie_weights  # keeps the embedding's init
                if module is not self and hasattr(module, "reset_parameters") and not tied_head:
                    module.reset_parameters()
            return
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for proj in (block.att.out_proj, block.ff.proj):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * self.cfg.n_layers))
    # --8<-- [end:init]


# --8<-- [start:count]
def num_parameters(model: nn.Module, count_tied_once: bool = True) -> int:
    """The number of numbers in ``model``'s parameters (trainable or frozen).

    Args:
        model: Any module.
        count_tied_once: Count a tensor shared by two modules (GPT-2's tied embedding and
            output head) once, as the memory holds it; ``False`` counts it for each use.
    """
    params = model.named_parameters(remove_duplicate=count_tied_once)
    return sum(p.numel() for _, p in params)
# --8<-- [end:count]
