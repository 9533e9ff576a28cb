"""Load GPT-2 weights saved by Hugging Face ``transformers`` into :class:`GPTModel`.

OpenAI's checkpoint, as published on the Hugging Face hub, names its tensors
``h.0.attn.c_attn.weight`` and so on (``transformer.h.0...`` when saved from
``GPT2LMHeadModel``), and stores its linear layers as ``Conv1D`` modules whose weight is
the transpose of a ``torch.nn.Linear`` weight. This module translates both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from llm_anatomy.gpt.config import GPTConfig
from llm_anatomy.gpt.model import GPTModel

# Buffers some GPT-2 checkpoints carry (the causal mask); they hold no learned weights.
_IGNORED = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")


# --8<-- [start:names]
def hf_names(cfg: GPTConfig) -> dict[str, tuple[str, bool]]:
    """Our parameter name → (Hugging Face name, whether the tensor must be transposed).

    ``Conv1D`` stores ``(in, out)`` weights where ``nn.Linear`` stores ``(out, in)``, hence
    the transposes. The output head is tied to ``wte`` in GPT-2 and is absent here.
    """
    names = {
        "tok_emb.weight": ("wte.weight", False),
        "pos_emb.weight": ("wpe.weight", False),
        "final_norm.weight": ("ln_f.weight", False),
        "final_norm.bias": ("ln_f.bias", False),
    }
    per_block = {  # ours: (theirs, transpose)
        "norm1.weight": ("ln_1.weight", False), "norm1.bias": ("ln_1.bias", False),
        "att.qkv.weight": ("attn.c_attn.weight", True), "att.qkv.bias": ("attn.c_attn.bias", False),
        "att.out_proj.weight": ("attn.c_proj.weight", True), "att.out_proj.bias": ("attn.c_proj.bias", False),
        "norm2.weight": ("ln_2.weight", False), "norm2.bias": ("ln_2.bias", False),
        "ff.fc.weight": ("mlp.c_fc.weight", True), "ff.fc.bias": ("mlp.c_fc.bias", False),
        "ff.proj.weight": ("mlp.c_proj.weight", True), "ff.proj.bias": ("mlp.c_proj.bias", False),
    }
    for i in range(cfg.n_layers):
        for ours, (theirs, transpose) in per_block.items():
            if ours == "att.qkv.bias" and not cfg.qkv_bias:
                continue
            names[f"blocks.{i}.{ours}"] = (f"h.{i}.{theirs}", transpose)
    return names
# --8<-- [end:names]


# --8<-- [start:load]
@torch.no_grad()
def load_hf_state_dict(model: GPTModel, state_dict: Mapping[str, torch.Tensor]) -> GPTModel:
    """Copy a Hugging Face GPT-2 state dict into ``model``, in place.

    Keys may carry the ``transformer.`` prefix of ``GPT2LMHeadModel`` or not (``GPT2Model``).
    ``lm_head.weight`` is used for an untied head when present (``save_pretrained`` drops
    it when it is tied); otherwise the head is the token embedding.

    Args:
        model: The model to fill; its configuration must match the checkpoint.
        state_dict: Tensor name → tensor, e.g. ``GPT2LMHeadModel.state_dict()``.

    Returns:
        ``model``, for chaining.

    Raises:
        KeyError: if a tensor the model needs is missing (the message names it).
        ValueError: if a tensor has the wrong shape, or the checkpoint holds tensors the
            model has no place for (e.g. more layers, or a QKV bias with ``qkv_bias=False``).
    """
    theirs = {key.removeprefix("transformer."): value for key, value in state_dict.items()}
    wte, head = theirs.get("wte.weight"), theirs.pop("lm_head.weight", None)
    if model.cfg.tie_weights and head is not None and wte is not None and not torch.equal(head, wte):
        raise ValueError("checkpoint has an lm_head.weight that differs from wte.weight: "
                         "build the model with tie_weights=False")
    head = wte if head is None else head
    ours = dict(model.named_parameters())  # the tied head appears once, as tok_emb.weight
    for our_name, (their_name, transpose) in hf_names(model.cfg).items():
        if their_name not in theirs:
            raise KeyError(f"checkpoint has no tensor {their_name!r} (needed for {our_name})")
        tensor = theirs.pop(their_name)
        tensor = tensor.T if transpose else tensor
        _copy(ours[our_name], tensor, our_name, their_name)
    if not model.cfg.tie_weights:
        _copy(model.out_head.weight, head, "out_head.weight", "lm_head.weight")
    unused = sorted(key for key in theirs if not _IGNORED.fullmatch(key))
    if unused:
        raise ValueError(f"checkpoint tensors with no place in the model: {unused[:5]}"
                         f"{' ...' if len(unused) > 5 else ''} (check n_layers and qkv_bias)")
    return model


def _copy(param: torch.Tensor, tensor: torch.Tensor, our_name: str, their_name: str) -> None:
    """Copy ``tensor`` into ``param`` (any dtype or device), after checking the shape."""
    if tuple(tensor.shape) != tuple(param.shape):
        raise ValueError(f"shape mismatch for {our_name} (from {their_name}): model has "
                         f"{tuple(param.shape)}, checkpoint has {tuple(tensor.shape)}")
    param.copy_(tensor)
# --8<-- [end:load]


# --8<-- [start:safetensors]
def load_safetensors(model: GPTModel, path: str | Path) -> GPTModel:
    """Load a ``model.safetensors`` file written by ``transformers`` into ``model``.

    Raises:
        FileNotFoundError: if there is no such file.
        ImportError: if the ``safetensors`` package is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no safetensors file at {path}")
    try:
        from safetensors.torch import load_file
    except ImportError as err:
        raise ImportError("loading .safetensors files needs the 'safetensors' package "
                          "(pip install safetensors)") from err
    return load_hf_state_dict(model, load_file(path))
# --8<-- [end:safetensors]


# --8<-- [start:pretrained]
def config_from_hf(hf_config: Mapping[str, object]) -> GPTConfig:
    """A :class:`GPTConfig` from the fields of a Hugging Face GPT-2 ``config.json``.

    Raises:
        ValueError: if the model is not a GPT-2 with the tanh GELU this package implements.
    """
    activation = hf_config.get("activation_function", "gelu_new")
    if hf_config.get("model_type", "gpt2") != "gpt2" or activation != "gelu_new":
        raise ValueError(f"not a GPT-2 configuration this model can load: model_type="
                         f"{hf_config.get('model_type')!r}, activation_function={activation!r}")
    return GPTConfig(
        vocab_size=hf_config["vocab_size"],
        context_length=hf_config["n_positions"],
        emb_dim=hf_config["n_embd"],
        n_heads=hf_config["n_head"],
        n_layers=hf_config["n_layer"],
        drop_rate=float(hf_config.get("resid_pdrop", 0.1)),
        qkv_bias=True,  # Conv1D layers always have a bias
        tie_weights=bool(hf_config.get("tie_word_embeddings", True)),
    )


def from_pretrained_gpt2(name_or_dir: str | Path = "gpt2") -> GPTModel:
    """Build a :class:`GPTModel` holding OpenAI's GPT-2 weights, in evaluation mode.

    Args:
        name_or_dir: A local directory with ``config.json`` and ``model.safetensors`` (as
            written by ``save_pretrained``), or a Hugging Face hub name: ``"gpt2"`` (124M),
            ``"gpt2-medium"``, ``"gpt2-large"`` or ``"gpt2-xl"``. A hub name downloads the
            files (needs the ``huggingface_hub`` package and internet; cached afterwards).
    """
    directory = Path(name_or_dir)
    if directory.is_dir():
        config_file, weights_file = directory / "config.json", directory / "model.safetensors"
    else:
        from huggingface_hub import hf_hub_download

        config_file = hf_hub_download(str(name_or_dir), "config.json")
        weights_file = hf_hub_download(str(name_or_dir), "model.safetensors")
    cfg = config_from_hf(json.loads(Path(config_file).read_text()))
    model = GPTModel(cfg)
    return load_safetensors(model, weights_file).eval()
# --8<-- [end:pretrained]
