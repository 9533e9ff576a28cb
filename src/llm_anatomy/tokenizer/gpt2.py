"""GPT-2's tokenizer, offline: tiktoken built from the published rank file.

``tiktoken.get_encoding("gpt2")`` downloads the vocabulary on first use. With the rank file
already on disk (the project keeps it at ``../shared/data/gpt2.tiktoken``), the same encoding
is built without a network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import tiktoken

from llm_anatomy.tokenizer.bpe import GPT2_SPLIT_PATTERN, _read_ranks

# <repo>/src/llm_anatomy/tokenizer/gpt2.py -> <repo>/../shared/data/gpt2.tiktoken
SHARED_GPT2_RANKS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "gpt2.tiktoken"
# The sha256 that tiktoken expects for r50k_base.tiktoken, GPT-2's ranks.
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


# --8<-- [start:load]
def load_gpt2_encoding(path: str | Path = SHARED_GPT2_RANKS) -> tiktoken.Encoding:
    """GPT-2's encoding (50,257 ids) from a local ``.tiktoken`` rank file, without a network.

    The result encodes exactly like ``tiktoken.get_encoding("gpt2")``.

    Args:
        path: The rank file, the one tiktoken downloads as ``r50k_base.tiktoken``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if its content is not GPT-2's rank file (checked by sha256).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"GPT-2's rank file {path} not found: with internet access use tiktoken.get_encoding('gpt2'), "
            "or download r50k_base.tiktoken from openaipublic.blob.core.windows.net/encodings/"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != GPT2_RANKS_SHA256:
        raise ValueError(
            f"{path} has sha256 {digest}, not that of GPT-2's ranks ({GPT2_RANKS_SHA256})"
        )
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_SPLIT_PATTERN,
        mergeable_ranks=_read_ranks(path),
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )


# --8<-- [end:load]
