"""Byte-level byte-pair encoding (BPE), trained and applied in pure Python.

A BPE vocabulary is a table of *ranks*: every token is a byte string, and its rank is its id.
The 256 single bytes come first, so any text can be encoded; every later token is the
concatenation of two earlier ones, learned by repeatedly merging the most frequent adjacent
pair in a training text. Encoding applies the same merges by rank, lowest rank first, exactly
as OpenAI's tiktoken does, so a :class:`BPETokenizer` and the ``tiktoken.Encoding`` built from
the same ranks give the same ids (:meth:`BPETokenizer.to_tiktoken` is the fast path).
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from itertools import pairwise
from pathlib import Path

import regex
import tiktoken

# --8<-- [start:pattern]
# GPT-2's pre-tokenization: English contractions, letters with an optional leading space,
# digits with an optional leading space, other symbols with an optional leading space,
# and whitespace (a run of spaces gives its last one to the next word).
# Identical to tiktoken's r50k_base pattern; the possessive "++" needs the `regex` module.
GPT2_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
# --8<-- [end:pattern]


# --8<-- [start:merge]
def merge_pair(parts: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    """Replace every occurrence of ``pair`` in ``parts``, left to right, by the joined bytes.

    Example:
        >>> merge_pair([b"a", b"a", b"a", b"b"], (b"a", b"a"))
        [b'aa', b'a', b'b']
    """
    merged, out, i = pair[0] + pair[1], [], 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


# --8<-- [end:merge]


def _read_ranks(path: Path) -> dict[bytes, int]:
    """Read a ``.tiktoken`` file: one ``<base64 token> <rank>`` line per token."""
    ranks = {}
    for line_no, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as err:
            raise ValueError(
                f"{path}:{line_no}: expected '<base64 token> <rank>', got {line[:60]!r}"
            ) from err
    return ranks


class BPETokenizer:
    """A byte-level BPE tokenizer with tiktoken's encoding rule, written in plain Python.

    A new tokenizer knows only the 256 bytes; :meth:`train` learns merges from a text,
    :meth:`from_tiktoken_file` reads a published table such as GPT-2's.

    Args:
        ranks: Token bytes to id; the ids must be ``0 .. len(ranks) - 1`` and every single
            byte must be a token. ``None`` gives the 256 bytes, ``bytes([i])`` with id ``i``.
        pattern: The pre-tokenization regular expression (``regex`` syntax).
        special_tokens: Special token text to id, ids outside the ranks.

    Attributes:
        ranks: Token bytes to id (tiktoken calls them mergeable ranks).
        special_tokens: Special token text to id, e.g. ``{"<|endoftext|>": 50256}``.
        merges: The pairs merged by :meth:`train`, in order (empty for a loaded rank table).

    Raises:
        ValueError: if the ranks are not contiguous, miss a byte, or collide with a special token.
    """

    def __init__(
        self,
        ranks: dict[bytes, int] | None = None,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: dict[str, int] | None = None,
    ):
        self.pattern = pattern
        self._split = regex.compile(pattern)
        self.merges: list[tuple[bytes, bytes]] = []
        self._set_vocab(
            ranks if ranks is not None else {bytes([i]): i for i in range(256)},
            special_tokens or {},
        )

    def _set_vocab(self, ranks: dict[bytes, int], special_tokens: dict[str, int]) -> None:
        """Install a rank table and special tokens, checking them, and reset the encoding cache."""
        self.ranks = dict(ranks)
        self.special_tokens = dict(special_tokens)
        self._check()
        self._decoder = {i: token for token, i in self.ranks.items()}
        self._decoder.update({i: name.encode("utf-8") for name, i in self.special_tokens.items()})
        self._cache: dict[bytes, list[int]] = {}

    def _check(self) -> None:
        if sorted(self.ranks.values()) != list(range(len(self.ranks))):
            raise ValueError(f"ranks must be the ids 0..{len(self.ranks) - 1}, each used once")
        missing = [b for b in range(256) if bytes([b]) not in self.ranks]
        if missing:
            raise ValueError(
                f"ranks miss {len(missing)} single bytes (e.g. {bytes([missing[0]])!r}): byte-level BPE needs all 256"
            )
        clashes = {name: i for name, i in self.special_tokens.items() if 0 <= i < len(self.ranks)}
        if clashes or len(set(self.special_tokens.values())) != len(self.special_tokens):
            raise ValueError(
                f"special token ids must be unique and >= {len(self.ranks)}, got {self.special_tokens}"
            )

    @property
    def vocab_size(self) -> int:
        """Number of ids, ordinary and special: the largest id plus one."""
        return max([len(self.ranks) - 1, *self.special_tokens.values()]) + 1

    # --8<-- [start:train]
    def train(
        self,
        text: str,
        vocab_size: int,
        log: Callable[[str], object] | None = None,
        special_tokens: Iterable[str] = ("<|endoftext|>",),
    ) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        The text is cut at special tokens, split into chunks by :attr:`pattern`, and each
        distinct chunk is counted once with its frequency. Every step merges the most frequent
        adjacent pair; ties go to the pair seen first in the text, as in tiktoken's reference
        trainer. Only the chunks that contain the pair are updated.

        Args:
            text: The training text.
            vocab_size: Total number of ids: 256 bytes + merges + special tokens.
            log: Called with one line per merge, e.g. ``print``. A function rather than a
                flag, so that the caller decides where the lines go (a terminal, a file, the
                page of a book).
            special_tokens: Added after the merges, with the last ids.

        Returns:
            ``self``, trained (any earlier training is replaced).

        Raises:
            ValueError: if ``vocab_size`` leaves no room for the bytes and special tokens, or
                the text has too few distinct pairs for that many merges.
        """
        special_tokens = list(special_tokens)
        n_ordinary = vocab_size - len(special_tokens)
        if not isinstance(vocab_size, int) or n_ordinary < 256:
            raise ValueError(
                f"vocab_size must be at least 256 + {len(special_tokens)} special tokens, got {vocab_size!r}"
            )
        # distinct chunks in order of first appearance, as lists of one-byte parts
        chunk_counts = Counter(self._chunks(text, special_tokens))
        words = [[bytes([b]) for b in chunk] for chunk in chunk_counts]
        freqs = list(chunk_counts.values())
        # pair -> occurrences in the text, and pair -> indices of the chunks that hold it
        pair_counts: Counter[tuple[bytes, bytes]] = Counter()
        pair_words: defaultdict[tuple[bytes, bytes], set[int]] = defaultdict(set)
        for w, word in enumerate(words):
            for pair in pairwise(word):
                pair_counts[pair] += freqs[w]
                pair_words[pair].add(w)

        ranks = {bytes([i]): i for i in range(256)}
        merges = []
        while len(ranks) < n_ordinary:
            if not pair_counts:
                raise ValueError(
                    f"the text allows only {len(merges)} merges, fewer than vocab_size={vocab_size} needs"
                )
            best = self._most_frequent(pair_counts, pair_words, words)
            merged = best[0] + best[1]
            # (rarely, a merge rebuilds the bytes of a token made from another split: keep its id)
            ranks.setdefault(merged, len(ranks))
            merges.append(best)
            if log is not None:
                count = pair_counts[best]
                log(f"{ranks[merged]}: {best[0]!r} + {best[1]!r} -> {merged!r} ({count}x)")
            for w in sorted(pair_words[best]):
                old, new = words[w], merge_pair(words[w], best)
                for pair in pairwise(old):
                    pair_counts[pair] -= freqs[w]
                for pair in pairwise(new):
                    pair_counts[pair] += freqs[w]
                    pair_words[pair].add(w)
                for pair in set(pairwise(old)) - set(pairwise(new)):
                    pair_words[pair].discard(w)
                    if not pair_counts[pair]:
                        del pair_counts[pair], pair_words[pair]
                words[w] = new

        self._set_vocab(ranks, {name: n_ordinary + k for k, name in enumerate(special_tokens)})
        self.merges = merges
        return self

    @staticmethod
    def _most_frequent(pair_counts, pair_words, words) -> tuple[bytes, bytes]:
        """The most frequent pair; among equals, the one that occurs first in the text."""
        top = max(pair_counts.values())
        tied = [pair for pair, count in pair_counts.items() if count == top]

        def first_seen(pair):
            w = min(pair_words[pair])  # chunks are in order of first appearance
            return w, list(pairwise(words[w])).index(pair)

        return min(tied, key=first_seen)

    # --8<-- [end:train]

    def _chunks(self, text: str, special_tokens: Iterable[str]) -> list[bytes]:
        """Pre-tokenize ``text`` into UTF-8 chunks, never across a special token."""
        special_tokens = sorted(special_tokens, key=len, reverse=True)
        pieces = (
            regex.split("|".join(map(regex.escape, special_tokens)), text)
            if special_tokens
            else [text]
        )
        return [chunk.encode("utf-8") for piece in pieces for chunk in self._split.findall(piece)]

    # --8<-- [start:bpe]
    def _bpe(self, chunk: bytes) -> list[int]:
        """Encode one chunk: merge the adjacent pair of lowest rank until no pair is a token."""
        if chunk in self._cache:
            return self._cache[chunk]
        parts = [bytes([b]) for b in chunk]
        while len(parts) > 1:
            # (rank, position) of every adjacent pair that is a token; min = lowest rank, leftmost
            pairs = [a + b for a, b in pairwise(parts)]
            candidates = [(self.ranks[p], i) for i, p in enumerate(pairs) if p in self.ranks]
            if not candidates:
                break
            _, i = min(candidates)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.ranks[part] for part in parts]
        self._cache[chunk] = ids
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text``, treating special-token text as ordinary characters."""
        return [i for chunk in self._split.findall(text) for i in self._bpe(chunk.encode("utf-8"))]

    # --8<-- [end:bpe]

    # --8<-- [start:encode]
    def encode(self, text: str, allowed_special: set[str] | str = frozenset()) -> list[int]:
        """Encode ``text`` to ids; allowed special tokens become their own id.

        As in tiktoken, special-token text that is not allowed is an error, because text
        from a user must not be able to inject an end-of-text token by typing it.

        Args:
            text: The text to encode.
            allowed_special: The special tokens to encode as such, or ``"all"``.

        Raises:
            ValueError: if ``text`` contains a special token that is not allowed, or
                ``allowed_special`` names a token this tokenizer does not have.
        """
        if allowed_special == "all":
            allowed_special = set(self.special_tokens)
        if isinstance(allowed_special, str) or not set(allowed_special) <= set(self.special_tokens):
            raise ValueError(
                f"allowed_special must be 'all' or a set of {sorted(self.special_tokens)}, got {allowed_special!r}"
            )
        for name in self.special_tokens:
            if name not in allowed_special and name in text:
                raise ValueError(
                    f"text contains the special token {name!r}, which is not allowed: pass "
                    f"allowed_special={{{name!r}}} to encode it as id {self.special_tokens[name]}, "
                    "or use encode_ordinary to encode it as plain text"
                )
        if not allowed_special:
            return self.encode_ordinary(text)
        # a capturing group keeps the special tokens in the split
        names = sorted(allowed_special, key=len, reverse=True)
        pieces = regex.split("(" + "|".join(map(regex.escape, names)) + ")", text)
        ids = []
        for k, piece in enumerate(pieces):
            ids += [self.special_tokens[piece]] if k % 2 else self.encode_ordinary(piece)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Return the text of ``ids``; bytes that are not valid UTF-8 become U+FFFD.

        Raises:
            ValueError: if an id is not in the vocabulary.
        """
        ids = list(ids)
        unknown = [i for i in ids if i not in self._decoder]
        if unknown:
            raise ValueError(
                f"id {unknown[0]} is not in the vocabulary of {self.vocab_size} tokens"
            )
        return b"".join(self._decoder[i] for i in ids).decode("utf-8", errors="replace")

    # --8<-- [end:encode]

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (the text of a special token, UTF-8 encoded)."""
        if token_id not in self._decoder:
            raise ValueError(f"id {token_id} is not in the vocabulary of {self.vocab_size} tokens")
        return self._decoder[token_id]

    # --8<-- [start:tiktoken]
    def to_tiktoken(self, name: str = "llm-anatomy-bpe") -> tiktoken.Encoding:
        """The same tokenizer as a ``tiktoken.Encoding``: same ids, Rust speed."""
        return tiktoken.Encoding(
            name=name,
            pat_str=self.pattern,
            mergeable_ranks=self.ranks,
            special_tokens=self.special_tokens,
        )

    @classmethod
    def from_tiktoken_file(
        cls,
        path: str | Path,
        special_tokens: dict[str, int] | None = None,
        pattern: str = GPT2_SPLIT_PATTERN,
    ) -> BPETokenizer:
        """Read a ``.tiktoken`` rank file (e.g. GPT-2's) into the pure-Python tokenizer.

        Args:
            path: The rank file: one ``<base64 token bytes> <rank>`` line per token.
            special_tokens: Defaults to GPT-2's ``{"<|endoftext|>": 50256}``.
            pattern: The pre-tokenization pattern the ranks were trained with.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            ValueError: if a line of the file is malformed.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"rank file {path} not found")
        if special_tokens is None:
            special_tokens = {"<|endoftext|>": 50256}
        return cls(_read_ranks(path), pattern, special_tokens)

    # --8<-- [end:tiktoken]

    # --8<-- [start:save]
    def save(self, path: str | Path) -> None:
        """Write the tokenizer to a JSON file: pattern, special tokens, ranks and merges."""

        def b64(token: bytes) -> str:
            return base64.b64encode(token).decode("ascii")

        tokens = sorted(self.ranks, key=self.ranks.get)  # id order
        state = {
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "tokens": [b64(t) for t in tokens],
            "merges": [[b64(a), b64(b)] for a, b in self.merges],
        }
        Path(path).write_text(json.dumps(state, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`."""
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        ranks = {base64.b64decode(t): i for i, t in enumerate(state["tokens"])}
        tokenizer = cls(ranks, state["pattern"], state["special_tokens"])
        tokenizer.merges = [(base64.b64decode(a), base64.b64decode(b)) for a, b in state["merges"]]
        return tokenizer

    # --8<-- [end:save]
