"""Sliding-window data, the standard-library corpus and GPT embeddings (chapter 11)."""

from __future__ import annotations

import pytest
import torch

from llm_anatomy.data import GPTEmbedding, SlidingWindowDataset, create_dataloader, stdlib_corpus


def reference_windows(
    ids: list[int], max_length: int, stride: int
) -> list[tuple[list[int], list[int]]]:
    """Every window, by brute force: all starts whose shifted target still fits in the text."""
    return [
        (ids[s : s + max_length], ids[s + 1 : s + max_length + 1])
        for s in range(0, len(ids), stride)
        if s + max_length + 1 <= len(ids)
    ]


@pytest.mark.parametrize(
    ("n", "max_length", "stride"),
    [(10, 4, 1), (10, 4, 4), (11, 4, 4), (50, 8, 3), (9, 8, 8), (40, 5, 7)],
)
def test_windows_match_brute_force(n, max_length, stride):
    ids = list(range(100, 100 + n))
    dataset = SlidingWindowDataset(ids, max_length, stride)
    expected = reference_windows(ids, max_length, stride)
    assert len(dataset) == len(expected)
    for i, (ex, ey) in enumerate(expected):
        x, y = dataset[i]
        assert x.dtype == torch.long and x.shape == (max_length,) and y.shape == (max_length,)
        assert x.tolist() == ex and y.tolist() == ey
        assert torch.equal(x[1:], y[:-1])  # the target is the input shifted by one


def test_stride_controls_overlap():
    ids = torch.arange(30)
    overlapping = SlidingWindowDataset(ids, max_length=6, stride=2)
    touching = SlidingWindowDataset(ids, max_length=6, stride=6)
    assert overlapping[1][0][:4].tolist() == overlapping[0][0][2:].tolist()  # 4 tokens shared
    assert (
        touching[1][0][0].item() == touching[0][0][-1].item() + 1
    )  # no token shared, none skipped
    assert len(overlapping) == 12 and len(touching) == 4


def test_negative_index_and_out_of_range():
    dataset = SlidingWindowDataset(list(range(20)), 4, 4)
    assert torch.equal(dataset[-1][0], dataset[len(dataset) - 1][0])
    with pytest.raises(IndexError, match="out of range"):
        dataset[len(dataset)]


def test_too_short_text_raises():
    with pytest.raises(ValueError, match="too short for one window"):
        SlidingWindowDataset([1, 2, 3, 4], max_length=4, stride=1)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        SlidingWindowDataset(list(range(10)), max_length=4, stride=0)
    with pytest.raises(ValueError, match="must be 1-D"):
        SlidingWindowDataset(torch.zeros(3, 5, dtype=torch.long), max_length=2, stride=1)


def test_dataloader_batches_and_drop_last():
    ids = list(range(103))  # 102 // 4 windows of 4 tokens: 25 windows
    loader = create_dataloader(
        ids, batch_size=4, max_length=4, stride=4, shuffle=False, drop_last=True
    )
    batches = list(loader)
    assert len(batches) == 6 and all(x.shape == (4, 4) and y.shape == (4, 4) for x, y in batches)
    assert batches[0][0][0].tolist() == [0, 1, 2, 3] and batches[0][1][0].tolist() == [1, 2, 3, 4]
    kept = list(
        create_dataloader(ids, batch_size=4, max_length=4, stride=4, shuffle=False, drop_last=False)
    )
    assert len(kept) == 7 and kept[-1][0].shape == (1, 4)
    with pytest.raises(ValueError, match="no batch would be produced"):
        create_dataloader(ids, batch_size=64, max_length=4, stride=4)


def test_shuffle_is_reproducible_with_the_seed():
    ids = list(range(500))

    def first_epoch(seed):
        return torch.cat(
            [
                x
                for x, _ in create_dataloader(
                    ids, 8, 16, 16, shuffle=True, drop_last=False, seed=seed
                )
            ]
        )

    assert torch.equal(first_epoch(1), first_epoch(1))
    assert not torch.equal(first_epoch(1), first_epoch(2))
    in_order = torch.cat(
        [x for x, _ in create_dataloader(ids, 8, 16, 16, shuffle=False, drop_last=False)]
    )
    # a shuffled epoch visits the same windows in another order
    assert not torch.equal(first_epoch(1), in_order)
    assert sorted(map(tuple, first_epoch(1).tolist())) == sorted(map(tuple, in_order.tolist()))


def test_gpt_embedding_is_token_plus_position(device):
    torch.manual_seed(0)
    embed = GPTEmbedding(vocab_size=50, emb_dim=8, context_length=12).to(device)
    idx = torch.randint(0, 50, (3, 7), device=device)
    out = embed(idx)
    assert out.shape == (3, 7, 8)
    manual = torch.empty(3, 7, 8, device=device)
    for b in range(3):
        for t in range(7):
            manual[b, t] = embed.tok_emb.weight[idx[b, t]] + embed.pos_emb.weight[t]
    torch.testing.assert_close(out, manual, rtol=0, atol=0)
    with pytest.raises(ValueError, match="longer than context_length"):
        embed(torch.zeros(1, 13, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match="batch, time"):
        embed(torch.zeros(7, dtype=torch.long, device=device))


def test_stdlib_corpus_is_deterministic_and_bounded():
    text = stdlib_corpus(max_files=5, seed=3)
    assert text == stdlib_corpus(max_files=5, seed=3)
    assert text != stdlib_corpus(max_files=5, seed=4)
    assert "def " in text or "class " in text
    assert len(stdlib_corpus(max_chars=1000)) == 1000
    with pytest.raises(ValueError, match="max_chars must be a positive integer"):
        stdlib_corpus(max_chars=0)
