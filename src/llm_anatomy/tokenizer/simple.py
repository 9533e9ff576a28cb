"""A word-level tokenizer: split on words and punctuation, look each piece up in a vocabulary.

It is the first tokenizer of chapter 11 and the one that shows why language models use
something else: it forgets spacing, it knows only the words it saw, and it treats a whole
Chinese sentence (written without spaces) as one "word".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# --8<-- [start:split]
# A special token such as <|endoftext|>, a run of letters or digits, "--", or one punctuation mark.
TOKEN_PATTERN = re.compile(r"<\|\w+\|>|\w+|--|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Split text into words and punctuation marks, dropping whitespace.

    Example:
        >>> split_words("Hello, world. Is this-- a test?")
        ['Hello', ',', 'world', '.', 'Is', 'this', '--', 'a', 'test', '?']
    """
    return TOKEN_PATTERN.findall(text)


# --8<-- [end:split]


# --8<-- [start:vocab]
def build_vocab(
    text: str, specials: Iterable[str] = ("<|endoftext|>", "<|unk|>")
) -> dict[str, int]:
    """Give every distinct word of ``text`` an id, in sorted order, then the special tokens.

    Args:
        text: The training text.
        specials: Tokens added after the words, e.g. the end-of-text and unknown-word tokens.

    Returns:
        A mapping from token to id, ids ``0, 1, ...``.
    """
    words = sorted(set(split_words(text)) - set(specials))
    return {token: i for i, token in enumerate([*words, *specials])}


# --8<-- [end:vocab]


# --8<-- [start:tokenizer]
class SimpleTokenizer:
    """Map words to ids and back with a fixed vocabulary.

    Words missing from the vocabulary become ``<|unk|>`` when the vocabulary has that token.
    Decoding joins the words with spaces and removes the space before punctuation, so the
    original spacing is not always restored.

    Args:
        vocab: Token-to-id mapping, e.g. from :func:`build_vocab`.

    Raises:
        ValueError: if two tokens share an id.
    """

    build_vocab = staticmethod(build_vocab)

    def __init__(self, vocab: dict[str, int]):
        if len(set(vocab.values())) != len(vocab):
            raise ValueError("vocab maps two tokens to the same id: ids must be unique")
        self.str_to_id = dict(vocab)
        self.id_to_str = {i: token for token, i in vocab.items()}

    def encode(self, text: str) -> list[int]:
        """Return the ids of the words of ``text``.

        Raises:
            ValueError: if a word is not in the vocabulary and the vocabulary has no ``<|unk|>``.
        """
        unk = self.str_to_id.get("<|unk|>")
        ids = []
        for word in split_words(text):
            if word not in self.str_to_id and unk is None:
                raise ValueError(
                    f"word {word!r} is not in the vocabulary, which has no <|unk|> token"
                )
            ids.append(self.str_to_id.get(word, unk))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Return the text of ``ids``: words joined by spaces, no space before punctuation.

        Raises:
            ValueError: if an id is not in the vocabulary.
        """
        words = []
        for i in ids:
            if i not in self.id_to_str:
                raise ValueError(
                    f"id {i} is not in the vocabulary (ids 0..{len(self.id_to_str) - 1})"
                )
            words.append(self.id_to_str[i])
        text = " ".join(words)
        return re.sub(r" ([,.:;?!)\]'\"])", r"\1", text)


# --8<-- [end:tokenizer]
