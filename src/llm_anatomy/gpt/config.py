"""The hyperparameters of a GPT-2 model, and OpenAI's four published sizes."""

from __future__ import annotations

from dataclasses import dataclass, replace

# --8<-- [start:config]
INITS = ("gpt2", "torch")  # GPT-2's initialisation, or torch's per-module defaults


@dataclass
class GPTConfig:
    """Everything that fixes the shape of a GPT-2 model.

    Attributes:
        vocab_size: Number of token ids (GPT-2's BPE has 50,257).
        context_length: The most tokens the model sees at once (the rows of ``pos_emb``).
        emb_dim: Width ``C`` of every token's vector in the residual stream.
        n_heads: Attention heads per block; must divide ``emb_dim``.
        n_layers: Number of transformer blocks.
        drop_rate: Dropout probability for embeddings, attention weights and residual branches.
        qkv_bias: Whether the query/key/value projection has a bias (OpenAI's weights do).
        tie_weights: Whether the output head reuses the token embedding matrix.
        fused_kernels: Run LayerNorm and GELU as torch's single fused kernels
            (``torch.nn.LayerNorm``, ``torch.nn.GELU(approximate="tanh")``) instead of the
            chapter's modules written from their formulas. Same function, same parameter
            names, fewer passes over memory; ``False`` shows every step.
        init: How the weights are drawn. ``"gpt2"``: GPT-2's N(0, 0.02) for every matrix
            and embedding, zero biases, and the two residual projections of each block
            scaled by ``1/sqrt(2 * n_layers)``. ``"torch"``: each torch module's own default,
            as in models that do not set one (LLMs-from-scratch's GPT): uniform within
            ``±1/sqrt(fan_in)`` for ``nn.Linear``, N(0, 1) for ``nn.Embedding``; a tied
            output head keeps the embedding's N(0, 1).

    Raises:
        ValueError: if a size is not positive, ``n_heads`` does not divide ``emb_dim`` or
            ``drop_rate`` is outside ``[0, 1)``, or ``init`` is not one of :data:`INITS`.
    """

    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    n_heads: int = 12
    n_layers: int = 12
    drop_rate: float = 0.1
    qkv_bias: bool = False
    tie_weights: bool = True
    fused_kernels: bool = True
    init: str = "gpt2"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.emb_dim % self.n_heads != 0:
            raise ValueError(f"emb_dim={self.emb_dim} must be divisible by n_heads={self.n_heads}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")

    @classmethod
    def from_preset(cls, name: str, **overrides: object) -> GPTConfig:
        """One of OpenAI's GPT-2 sizes, with any field overridden.

        Example:
            >>> GPTConfig.from_preset("gpt2-medium", qkv_bias=True).emb_dim
            1024
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
        return replace(cls(**PRESETS[name]), **overrides)


# The four sizes of the GPT-2 paper (Radford et al., 2019); the rest is shared.
PRESETS: dict[str, dict[str, int]] = {
    "gpt2-small": {"emb_dim": 768, "n_layers": 12, "n_heads": 12},  # 124M
    "gpt2-medium": {"emb_dim": 1024, "n_layers": 24, "n_heads": 16},  # 355M
    "gpt2-large": {"emb_dim": 1280, "n_layers": 36, "n_heads": 20},  # 774M
    "gpt2-xl": {"emb_dim": 1600, "n_layers": 48, "n_heads": 25},  # 1558M
}
# --8<-- [end:config]
