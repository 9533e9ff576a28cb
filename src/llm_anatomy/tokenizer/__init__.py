"""Tokenizers of chapter 11: a word-level tokenizer, byte-level BPE, and GPT-2's BPE offline."""

from llm_anatomy.tokenizer.bpe import GPT2_SPLIT_PATTERN, BPETokenizer, merge_pair
from llm_anatomy.tokenizer.gpt2 import gpt2_ranks_file, load_gpt2_encoding
from llm_anatomy.tokenizer.simple import SimpleTokenizer, build_vocab, split_words

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "BPETokenizer",
    "SimpleTokenizer",
    "build_vocab",
    "gpt2_ranks_file",
    "load_gpt2_encoding",
    "merge_pair",
    "split_words",
]
