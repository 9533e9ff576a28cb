"""Chapter 13: a GPT-2 model, text generation with a KV cache, and loading OpenAI's weights."""

from llm_anatomy.gpt.config import PRESETS, GPTConfig
from llm_anatomy.gpt.generate import generate, next_token, top_k_filter, top_p_filter
from llm_anatomy.gpt.load import (
    config_from_hf,
    from_pretrained_gpt2,
    hf_names,
    load_hf_state_dict,
    load_safetensors,
)
from llm_anatomy.gpt.model import (
    GELU,
    FeedForward,
    GPTModel,
    LayerNorm,
    TransformerBlock,
    make_gelu,
    make_layer_norm,
    num_parameters,
)

__all__ = [
    "PRESETS",
    "GELU",
    "FeedForward",
    "GPTConfig",
    "GPTModel",
    "LayerNorm",
    "TransformerBlock",
    "config_from_hf",
    "from_pretrained_gpt2",
    "generate",
    "hf_names",
    "load_hf_state_dict",
    "load_safetensors",
    "make_gelu",
    "make_layer_norm",
    "next_token",
    "num_parameters",
    "top_k_filter",
    "top_p_filter",
]
