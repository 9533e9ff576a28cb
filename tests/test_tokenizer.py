"""Tokenizers of chapter 11 against tiktoken, on the same ranks.

Our pure-Python BPE must give tiktoken's ids, both for ranks we train ourselves and for
GPT-2's published ranks (the file named by ``LLM_ANATOMY_GPT2_RANKS``, which conftest points
at ``../shared/data/gpt2.tiktoken``; those tests skip when there is none), and our trainer must learn the merges of tiktoken's reference trainer.
"""

from __future__ import annotations

import os
import shutil

import pytest
import tiktoken
import tiktoken.load
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken._educational import bpe_train
from tiktoken_ext.openai_public import r50k_pat_str

from llm_anatomy.data import stdlib_corpus
from llm_anatomy.tokenizer import (
    GPT2_SPLIT_PATTERN,
    BPETokenizer,
    SimpleTokenizer,
    build_vocab,
    gpt2,
    gpt2_ranks_file,
    load_gpt2_encoding,
    merge_pair,
)

TEXTS = {
    "english": "The quick brown fox doesn't jump over 1,234 lazy dogs; it's   resting.\n\nWe'll see!",
    "chinese": "语言模型把文本切成词元，再为每个词元分配一个编号。你好，世界！",
    "russian": "Языковая модель разбивает текст на токены и присваивает каждому номер. Привет, мир!",
    "code": "def add(a, b):\n    return a + b  # sum\n\n\tif x >= 10 and y != None:\n        print(f'{x=}')\n",
    "emoji": "Tokens 🙂👍🏽 and flags 🇺🇦🇨🇳 — family 👨‍👩‍👧 ok…",
}
HELLO = "Hello, world. Is this-- a test?"
HELLO_IDS = [15496, 11, 995, 13, 1148, 428, 438, 257, 1332, 30]

GPT2_RANKS = os.environ.get(gpt2.RANKS_ENV)
NO_RANKS = f"GPT-2's rank file not found offline: set {gpt2.RANKS_ENV} (or place ../shared/data/gpt2.tiktoken)"
needs_gpt2 = pytest.mark.skipif(not GPT2_RANKS, reason=NO_RANKS)


@pytest.fixture(scope="module")
def trained() -> BPETokenizer:
    # English-heavy code plus some Chinese and Russian, so merges also join multi-byte characters
    text = stdlib_corpus(max_chars=40_000) + "\n".join(TEXTS.values()) * 5
    return BPETokenizer().train(text, vocab_size=400)


@pytest.fixture(scope="module")
def trained_fast(trained) -> tiktoken.Encoding:
    return trained.to_tiktoken()


@pytest.fixture(scope="module")
def gpt2_ours() -> BPETokenizer:
    if not GPT2_RANKS:
        pytest.skip(NO_RANKS)
    return BPETokenizer.from_tiktoken_file(GPT2_RANKS)


@pytest.fixture(scope="module")
def gpt2_tiktoken() -> tiktoken.Encoding:
    """GPT-2 built with tiktoken's own loader, independent of our code."""
    if not GPT2_RANKS:
        pytest.skip(NO_RANKS)
    ranks = tiktoken.load.load_tiktoken_bpe(GPT2_RANKS)
    return tiktoken.Encoding(
        "gpt2-reference",
        pat_str=r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
    )


# ---------------------------------------------------------------- the word-level tokenizer


def test_simple_tokenizer():
    vocab = build_vocab("the cat sat on the mat. The end!")
    assert list(vocab)[-2:] == ["<|endoftext|>", "<|unk|>"]
    assert list(vocab)[:4] == [
        "!",
        ".",
        "The",
        "cat",
    ]  # sorted: punctuation, capitals, then lower case
    tokenizer = SimpleTokenizer(vocab)
    ids = tokenizer.encode("the cat sat on the dog.")
    assert ids == [vocab[w] for w in ["the", "cat", "sat", "on", "the"]] + [
        vocab["<|unk|>"],
        vocab["."],
    ]
    assert (
        tokenizer.decode(tokenizer.encode("the cat sat on the mat.")) == "the cat sat on the mat."
    )
    assert tokenizer.encode("end <|endoftext|> The") == [
        vocab["end"],
        vocab["<|endoftext|>"],
        vocab["The"],
    ]


def test_simple_tokenizer_errors():
    tokenizer = SimpleTokenizer(build_vocab("a b c", specials=()))
    with pytest.raises(ValueError, match="'d' is not in the vocabulary"):
        tokenizer.encode("a d")
    with pytest.raises(ValueError, match="id 7 is not in the vocabulary"):
        tokenizer.decode([0, 7])
    with pytest.raises(ValueError, match="same id"):
        SimpleTokenizer({"a": 0, "b": 0})


# ---------------------------------------------------------------- training


def test_split_pattern_is_tiktokens_r50k_pattern():
    assert GPT2_SPLIT_PATTERN == r50k_pat_str


def test_merge_pair():
    assert merge_pair([b"a", b"a", b"a", b"b"], (b"a", b"a")) == [b"aa", b"a", b"b"]
    assert merge_pair([b"x", b"y"], (b"y", b"x")) == [b"x", b"y"]


def test_trainer_learns_the_merges_of_tiktokens_reference_trainer():
    text = stdlib_corpus(max_chars=12_000, seed=1) + TEXTS["russian"] * 3 + TEXTS["chinese"] * 3
    reference = bpe_train(text, 330, GPT2_SPLIT_PATTERN, visualise=None)
    ours = BPETokenizer().train(text, 330, special_tokens=())
    assert ours.ranks == reference


def test_training_is_deterministic_and_sized(trained):
    text = stdlib_corpus(max_chars=40_000) + "\n".join(TEXTS.values()) * 5
    again = BPETokenizer().train(text, vocab_size=400)
    assert again.ranks == trained.ranks and again.merges == trained.merges
    assert trained.vocab_size == 400 and len(trained.ranks) == 399
    assert trained.special_tokens == {"<|endoftext|>": 399}
    assert all(trained.ranks[bytes([b])] == b for b in range(256))
    # every learned token is the concatenation of its merge pair
    assert all(a + b in trained.ranks for a, b in trained.merges)


def test_training_logs_one_line_per_merge_with_the_pair_count():
    toy = "low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3
    lines: list[str] = []
    tokenizer = BPETokenizer().train(toy, vocab_size=256 + 8 + 1, log=lines.append)
    assert len(lines) == len(tokenizer.merges) == 8
    # the first merge is the most frequent adjacent pair of the text, counted directly
    words = toy.split()
    es = sum(w.count("es") for w in words)  # "newest" x6 and "widest" x3
    assert tokenizer.merges[0] == (b"e", b"s")
    assert lines[0] == f"256: b'e' + b's' -> b'es' ({es}x)"


def test_training_errors():
    with pytest.raises(ValueError, match="vocab_size must be at least 256"):
        BPETokenizer().train("hello", vocab_size=200)
    with pytest.raises(ValueError, match="vocab_size must be at least 256"):
        BPETokenizer().train("hello", vocab_size=256)  # no room for <|endoftext|>
    with pytest.raises(ValueError, match="allows only 4 merges"):
        BPETokenizer().train("hello", vocab_size=300)


def test_special_tokens_do_not_take_part_in_merges():
    text = "ab<|endoftext|>ab<|endoftext|>ab<|endoftext|>"
    tokenizer = BPETokenizer().train(text, vocab_size=258)
    assert tokenizer.merges == [(b"a", b"b")]


# ---------------------------------------------------------------- parity with tiktoken, trained ranks


@pytest.mark.parametrize("name", list(TEXTS))
def test_trained_encoder_matches_tiktoken(trained, trained_fast, name):
    ids = trained.encode(TEXTS[name])
    assert ids == trained_fast.encode(TEXTS[name])
    assert trained.decode(ids) == TEXTS[name]


def test_trained_encoder_matches_tiktoken_on_a_long_text(trained):
    text = stdlib_corpus(max_chars=60_000, seed=5)
    assert trained.encode(text) == trained.to_tiktoken().encode(text)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_roundtrip_and_parity_on_arbitrary_unicode(trained, trained_fast, text):
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert ids == trained_fast.encode(text)


# ---------------------------------------------------------------- special tokens


def test_special_tokens(trained):
    text = "one<|endoftext|>two"
    fast = trained.to_tiktoken()
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>', which is not allowed"):
        trained.encode(text)
    with pytest.raises(ValueError):  # tiktoken refuses it too
        fast.encode(text)
    ids = trained.encode(text, allowed_special={"<|endoftext|>"})
    assert (
        ids
        == fast.encode(text, allowed_special={"<|endoftext|>"})
        == trained.encode(text, allowed_special="all")
    )
    assert ids.count(399) == 1 and trained.decode(ids) == text
    assert trained.encode_ordinary(text) == fast.encode_ordinary(text)
    assert 399 not in trained.encode_ordinary(text)
    with pytest.raises(ValueError, match="allowed_special must be"):
        trained.encode(text, allowed_special={"<|fim|>"})


def test_decode_errors_and_invalid_ranks(trained):
    with pytest.raises(ValueError, match="id 400 is not in the vocabulary"):
        trained.decode([1, 400])
    assert trained.decode(trained.encode("é")[:1]) == "\ufffd"  # half a character: replacement mark
    with pytest.raises(ValueError, match="single bytes"):
        BPETokenizer({bytes([i]): i for i in range(255)})
    with pytest.raises(ValueError, match="ids 0..256"):
        BPETokenizer({**{bytes([i]): i for i in range(256)}, b"ab": 300})
    with pytest.raises(ValueError, match="special token ids"):
        BPETokenizer(special_tokens={"<|endoftext|>": 5})


def test_save_and_load(trained, tmp_path):
    path = tmp_path / "bpe.json"
    trained.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.ranks == trained.ranks and loaded.merges == trained.merges
    assert loaded.special_tokens == trained.special_tokens and loaded.pattern == trained.pattern
    for text in TEXTS.values():
        assert loaded.encode(text) == trained.encode(text)


# ---------------------------------------------------------------- GPT-2's ranks


@needs_gpt2
def test_hello_world_ids(gpt2_ours):
    assert gpt2_ours.encode(HELLO) == HELLO_IDS
    assert load_gpt2_encoding(GPT2_RANKS).encode(HELLO) == HELLO_IDS
    assert gpt2_ours.decode(HELLO_IDS) == HELLO


@needs_gpt2
@pytest.mark.parametrize("name", list(TEXTS))
def test_gpt2_encoder_matches_tiktoken(gpt2_ours, gpt2_tiktoken, name):
    ids = gpt2_ours.encode(TEXTS[name])
    assert ids == gpt2_tiktoken.encode(TEXTS[name]) == load_gpt2_encoding().encode(TEXTS[name])
    assert gpt2_ours.decode(ids) == TEXTS[name]


@needs_gpt2
@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_gpt2_parity_on_arbitrary_unicode(gpt2_ours, gpt2_tiktoken, text):
    assert gpt2_ours.encode(text) == gpt2_tiktoken.encode(text)


@needs_gpt2
def test_gpt2_vocabulary(gpt2_ours):
    encoding = load_gpt2_encoding(GPT2_RANKS)
    assert encoding.n_vocab == gpt2_ours.vocab_size == 50257
    assert gpt2_ours.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [50256]


def test_missing_or_wrong_rank_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="r50k_base.tiktoken"):
        load_gpt2_encoding(tmp_path / "missing.tiktoken")
    with pytest.raises(FileNotFoundError, match="not found"):
        BPETokenizer.from_tiktoken_file(tmp_path / "missing.tiktoken")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("IQ== 0\nnot-base64!\n")
    with pytest.raises(ValueError, match="bad.tiktoken:2"):
        BPETokenizer.from_tiktoken_file(bad)
    with pytest.raises(ValueError, match="sha256"):
        load_gpt2_encoding(bad)


@needs_gpt2
def test_rank_file_lookup_order(tmp_path, monkeypatch):
    """An explicit path, then $LLM_ANATOMY_GPT2_RANKS, then the cache; a download only when all are absent."""
    downloads = []

    def fake_download(url, target):  # stands in for the network: copies the real file
        downloads.append(url)
        shutil.copyfile(GPT2_RANKS, target)

    monkeypatch.setattr(gpt2.urllib.request, "urlretrieve", fake_download)
    monkeypatch.setenv(gpt2.CACHE_ENV, str(tmp_path / "cache"))
    assert gpt2_ranks_file(GPT2_RANKS) == gpt2.Path(GPT2_RANKS)
    monkeypatch.setenv(gpt2.RANKS_ENV, str(tmp_path / "elsewhere.tiktoken"))
    with pytest.raises(FileNotFoundError, match="elsewhere.tiktoken"):
        gpt2_ranks_file()  # the variable names a missing file: an error, not a silent download
    monkeypatch.delenv(gpt2.RANKS_ENV)
    first = gpt2_ranks_file()
    assert first == tmp_path / "cache" / "gpt2.tiktoken"
    assert downloads == [gpt2.GPT2_RANKS_URL]
    assert gpt2_ranks_file() == first and len(downloads) == 1  # cached: no second download
    assert load_gpt2_encoding().encode(HELLO) == HELLO_IDS
    first.write_text("IQ== 0\n")  # a corrupted cache is refused, by hash
    with pytest.raises(ValueError, match="sha256"):
        gpt2_ranks_file()
