"""Text as training data: a corpus, sliding windows of token ids, and their embeddings.

A language model learns to predict the next token. :class:`SlidingWindowDataset` cuts a long
list of token ids into fixed-length windows whose targets are the inputs shifted by one
position; :func:`create_dataloader` batches them reproducibly; :class:`GPTEmbedding` turns a
batch of ids into the vectors a transformer reads. :func:`stdlib_corpus` supplies an offline
corpus: the Python standard library's own source code.
"""

from __future__ import annotations

import os
import random
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

# Folders of the standard library that are not the library itself.
_SKIPPED_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}


def _python_files(root: Path) -> list[Path]:
    """The ``.py`` files under ``root``, not descending into :data:`_SKIPPED_DIRS`."""
    found = []
    for folder, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS]  # prune in place
        found += [Path(folder, f) for f in files if f.endswith(".py")]
    return found


# --8<-- [start:corpus]
def stdlib_corpus(
    max_files: int | None = None,
    max_chars: int | None = None,
    seed: int = 0,
    separator: str = "\n\n",
) -> str:
    """Return Python's standard-library source code as one string, an offline text corpus.

    The files are found at run time under ``sysconfig.get_paths()["stdlib"]`` (test suites and
    installed packages excluded), sorted by path and then shuffled with ``random.Random(seed)``,
    so the same seed on the same Python version gives the same text.

    Args:
        max_files: Use at most this many files (all when ``None``).
        max_chars: Cut the result to at most this many characters (no cut when ``None``).
        seed: Seed of the file order.
        separator: Text placed between two files.

    Returns:
        The concatenated source files.

    Raises:
        ValueError: if ``max_files`` or ``max_chars`` is not a positive integer.
        FileNotFoundError: if the standard library's folder holds no ``.py`` file.
    """
    for name, value in (("max_files", max_files), ("max_chars", max_chars)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(_python_files(root))
    if not paths:
        raise FileNotFoundError(f"no .py files found under the standard library folder {root}")
    random.Random(seed).shuffle(paths)
    texts: list[str] = []
    n_chars = 0
    for path in paths[:max_files]:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a handful of files hold deliberately broken encodings
        texts.append(text)
        n_chars += len(text) + len(separator)
        if max_chars is not None and n_chars >= max_chars:
            break
    return separator.join(texts)[:max_chars]


# --8<-- [end:corpus]


# --8<-- [start:dataset]
class SlidingWindowDataset(Dataset):
    """Fixed-length windows over a sequence of token ids, for next-token prediction.

    Window ``i`` starts at token ``i * stride``; its input is ``max_length`` tokens and its
    target is the same span moved one token to the right. ``stride == max_length`` gives
    windows that touch without overlapping; a smaller stride makes them overlap.

    Args:
        token_ids: The encoded text, a list of ints or a 1-D integer tensor.
        max_length: Tokens per window (the model's context length during training).
        stride: Tokens between the starts of two consecutive windows.

    Raises:
        ValueError: if ``max_length`` or ``stride`` is not a positive integer, ``token_ids`` is not
            1-D, or it is too short for one window (it needs ``max_length + 1`` tokens).
    """

    def __init__(self, token_ids: Sequence[int] | torch.Tensor, max_length: int, stride: int):
        for name, value in (("max_length", max_length), ("stride", stride)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        ids = torch.as_tensor(token_ids, dtype=torch.long)  # (N,)
        if ids.ndim != 1:
            raise ValueError(f"token_ids must be 1-D, got shape {tuple(ids.shape)}")
        if len(ids) < max_length + 1:
            raise ValueError(
                f"the text has {len(ids)} tokens, too short for one window: "
                f"max_length={max_length} needs at least {max_length + 1} (inputs plus the shifted target)"
            )
        self.ids = ids
        self.max_length = max_length
        self.stride = stride

    def __len__(self) -> int:
        # the last window's target must end inside the text: start + max_length <= N - 1
        return (len(self.ids) - 1 - self.max_length) // self.stride + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"window {i} out of range for {len(self)} windows")
        start = (i % len(self)) * self.stride
        inputs = self.ids[start : start + self.max_length]  # (max_length,)
        targets = self.ids[start + 1 : start + self.max_length + 1]  # (max_length,)
        return inputs, targets


# --8<-- [end:dataset]


# --8<-- [start:dataloader]
def create_dataloader(
    token_ids: Sequence[int] | torch.Tensor,
    batch_size: int,
    max_length: int,
    stride: int,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int = 0,
) -> DataLoader:
    """Batches of ``(inputs, targets)`` windows, each of shape ``(batch_size, max_length)``.

    The order of the windows is drawn from a ``torch.Generator`` seeded with ``seed``, so the
    same seed gives the same batches; ``num_workers=0`` keeps everything in this process.

    Args:
        token_ids: The encoded text.
        batch_size: Windows per batch.
        max_length: Tokens per window.
        stride: Tokens between the starts of two consecutive windows.
        shuffle: Visit the windows in a random order each epoch.
        drop_last: Leave out the last batch if it has fewer than ``batch_size`` windows.
        seed: Seed of the shuffling.

    Returns:
        A ``DataLoader`` over a :class:`SlidingWindowDataset`.

    Raises:
        ValueError: if ``batch_size`` is not a positive integer, if the text is too short for one
            window, or if ``drop_last`` would leave no batch at all.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    dataset = SlidingWindowDataset(token_ids, max_length, stride)
    if drop_last and len(dataset) < batch_size:
        raise ValueError(
            f"only {len(dataset)} windows but batch_size={batch_size} with drop_last=True: "
            "no batch would be produced; use more text, a smaller stride or batch, or drop_last=False"
        )
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        generator=generator,
        num_workers=0,
    )


# --8<-- [end:dataloader]


# --8<-- [start:embedding]
class GPTEmbedding(nn.Module):
    """Token embeddings plus learned absolute position embeddings, as in GPT-2.

    Args:
        vocab_size: Number of token ids.
        emb_dim: Size ``C`` of each vector.
        context_length: Longest sequence ``T`` the position table covers.
    """

    def __init__(self, vocab_size: int, emb_dim: int, context_length: int):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, emb_dim)  # one row per token id
        self.pos_emb = nn.Embedding(context_length, emb_dim)  # one row per position
        self.context_length = context_length

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Map token ids ``(B, T)`` to vectors ``(B, T, C)``.

        Raises:
            ValueError: if ``idx`` is not 2-D or ``T`` exceeds ``context_length``.
        """
        if idx.ndim != 2:
            raise ValueError(f"idx must have shape (batch, time), got {tuple(idx.shape)}")
        T = idx.shape[1]
        if T > self.context_length:
            raise ValueError(
                f"sequence of {T} tokens is longer than context_length={self.context_length}"
            )
        positions = torch.arange(T, device=idx.device)  # (T,)
        return self.tok_emb(idx) + self.pos_emb(positions)  # (B, T, C) + (T, C) -> (B, T, C)


# --8<-- [end:embedding]
