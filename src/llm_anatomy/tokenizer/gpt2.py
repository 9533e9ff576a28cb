"""GPT-2's tokenizer from its published rank file, offline once the file is on disk.

``tiktoken.get_encoding("gpt2")`` downloads the vocabulary on first use. This module finds
GPT-2's rank file in a documented order, so that the same code runs on a reader's laptop
(which downloads the file once) and on a machine without a network (which is given the file):

1. the ``path`` a caller passes;
2. the environment variable ``LLM_ANATOMY_GPT2_RANKS``;
3. a copy downloaded earlier into the cache folder (``LLM_ANATOMY_CACHE``, by default
   ``~/.cache/llm-anatomy``), or else a download of the file tiktoken itself fetches.

Every file is checked against GPT-2's published sha256 before it is used.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import tiktoken

from llm_anatomy.tokenizer.bpe import GPT2_SPLIT_PATTERN, _read_ranks

RANKS_ENV = "LLM_ANATOMY_GPT2_RANKS"
CACHE_ENV = "LLM_ANATOMY_CACHE"
# The file tiktoken downloads for r50k_base, GPT-2's ranks, and the sha256 it expects.
GPT2_RANKS_URL = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


def cache_dir() -> Path:
    """The folder for downloaded files: ``$LLM_ANATOMY_CACHE``, else ``~/.cache/llm-anatomy``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "llm-anatomy")


def _check_ranks_file(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"GPT-2's rank file {path} not found: pass the path of r50k_base.tiktoken "
            f"(from {GPT2_RANKS_URL}), or unset {RANKS_ENV} to download it"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != GPT2_RANKS_SHA256:
        raise ValueError(f"{path} has sha256 {digest}, not that of GPT-2's ranks ({GPT2_RANKS_SHA256})")
    return path


# --8<-- [start:ranks]
def gpt2_ranks_file(path: str | Path | None = None) -> Path:
    """The path of GPT-2's rank file, checked by sha256; downloaded once if need be.

    Args:
        path: The rank file (tiktoken's ``r50k_base.tiktoken``). When None, the file named by
            the environment variable ``LLM_ANATOMY_GPT2_RANKS`` is used, or else a copy in the
            cache folder, which is downloaded (1.6 MB) the first time.

    Raises:
        FileNotFoundError: if a given path (or the environment variable's) does not exist.
        ValueError: if the file's content is not GPT-2's ranks.
    """
    if path is None and os.environ.get(RANKS_ENV):
        path = os.environ[RANKS_ENV]
    if path is not None:
        return _check_ranks_file(Path(path))
    cached = cache_dir() / "gpt2.tiktoken"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".part")
        urllib.request.urlretrieve(GPT2_RANKS_URL, partial)  # needs a network, once
        partial.replace(cached)
    return _check_ranks_file(cached)
# --8<-- [end:ranks]


# --8<-- [start:load]
def load_gpt2_encoding(path: str | Path | None = None) -> tiktoken.Encoding:
    """GPT-2's encoding (50,257 ids) from its rank file, without tiktoken's own download.

    The result encodes exactly like ``tiktoken.get_encoding("gpt2")``.

    Args:
        path: The rank file; None finds it as :func:`gpt2_ranks_file` does.

    Raises:
        FileNotFoundError: if a given file does not exist.
        ValueError: if its content is not GPT-2's rank file (checked by sha256).
    """
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_SPLIT_PATTERN,
        mergeable_ranks=_read_ranks(gpt2_ranks_file(path)),
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )


# --8<-- [end:load]
