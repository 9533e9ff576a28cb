"""Chapter 12: attention against torch's own ``scaled_dot_product_attention`` and ``nn.MultiheadAttention``."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm_anatomy.attention import (
    CausalAttention,
    KVCache,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SelfAttention,
    causal_mask,
    explicit_attention,
    fuse_heads,
    merge_heads,
    simplified_attention,
    split_heads,
    tiled_attention,
)

TOL = 1e-6
D_IN, D_OUT, CONTEXT, HEADS = 6, 12, 16, 3


def make_mha(device, qkv_bias=True, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return MultiHeadAttention(D_IN, D_OUT, CONTEXT, HEADS, dropout, qkv_bias).to(device, torch.float64).eval()


def make_x(device, batch=2, tokens=9, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, tokens, D_IN, generator=gen, dtype=torch.float64).to(device)


def max_diff(a, b):
    return (a - b).abs().max().item()


# ---------------------------------------------------------------- parity with torch


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_mha_equals_torch_sdpa_on_same_projections(device, qkv_bias):
    mha, x = make_mha(device, qkv_bias), make_x(device)
    with torch.no_grad():
        # torch's functional attention on projections computed independently of our split_heads
        q, k, v = (x @ w.T for w in mha.qkv.weight.chunk(3))
        if qkv_bias:
            q, k, v = (t + b for t, b in zip((q, k, v), mha.qkv.bias.chunk(3), strict=True))
        B, T, _ = x.shape
        q, k, v = (t.reshape(B, T, HEADS, -1).permute(0, 2, 1, 3) for t in (q, k, v))
        ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        ref = mha.out_proj(ref.permute(0, 2, 1, 3).reshape(B, T, D_OUT))
        assert max_diff(mha(x), ref) < TOL


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_mha_equals_torch_multihead_attention(device, qkv_bias):
    # torch's layer keeps one fused in_proj_weight only when its inputs have embed_dim features
    ref = nn.MultiheadAttention(D_OUT, HEADS, bias=True, batch_first=True).to(device, torch.float64).eval()
    mha = MultiHeadAttention(D_OUT, D_OUT, CONTEXT, HEADS, qkv_bias=qkv_bias).to(device, torch.float64).eval()
    x = torch.randn(2, 9, D_OUT, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        ref.in_proj_weight.copy_(mha.qkv.weight)
        ref.in_proj_bias.copy_(mha.qkv.bias if qkv_bias else torch.zeros(3 * D_OUT))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
        # torch's boolean attn_mask marks what is *forbidden*: the opposite of causal_mask
        future = ~causal_mask(9, 9, device=device)
        expected, _ = ref(x, x, x, attn_mask=future, need_weights=False)
        assert max_diff(mha(x), expected) < TOL


def test_explicit_attention_equals_fused(device):
    mha, x = make_mha(device), make_x(device)
    with torch.no_grad():
        assert max_diff(explicit_attention(mha, x), mha(x)) < TOL


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_wrapper_equals_fused_with_copied_weights(device, qkv_bias):
    torch.manual_seed(3)
    wrapper = MultiHeadAttentionWrapper(D_IN, D_OUT, CONTEXT, HEADS, qkv_bias=qkv_bias).to(device, torch.float64).eval()
    fused, x = fuse_heads(wrapper), make_x(device)
    assert fused.qkv.weight.device == x.device and fused.qkv.weight.dtype == torch.float64
    with torch.no_grad():
        assert max_diff(fused(x), wrapper(x)) < TOL


def test_self_attention_matches_formula_and_sdpa(device):
    torch.manual_seed(4)
    layer = SelfAttention(D_IN, 4).to(device, torch.float64)
    x = make_x(device)
    with torch.no_grad():
        q, k, v = layer.W_query(x), layer.W_key(x), layer.W_value(x)
        expected = F.scaled_dot_product_attention(q, k, v)  # no mask, scale 1/sqrt(4)
        assert max_diff(layer(x), expected) < TOL
        assert torch.allclose(layer.attention_weights(x).sum(-1), torch.ones(2, 9, dtype=torch.float64, device=device))


def test_causal_attention_equals_sdpa_is_causal(device):
    torch.manual_seed(5)
    layer = CausalAttention(D_IN, 4, CONTEXT).to(device, torch.float64).eval()
    x = make_x(device)
    with torch.no_grad():
        q, k, v = layer.W_query(x), layer.W_key(x), layer.W_value(x)
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        assert max_diff(layer(x), expected) < TOL
        weights = layer.attention_weights(x)
    assert (weights.triu(diagonal=1) == 0).all()


def test_simplified_attention_by_hand(device):
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64, device=device)
    context, weights = simplified_attention(x)
    # row 0: scores 1, 0, 1
    e = math.exp(1.0)
    assert weights[0].tolist() == pytest.approx([e / (2 * e + 1), 1 / (2 * e + 1), e / (2 * e + 1)])
    assert max_diff(context, torch.softmax(x @ x.T, dim=-1) @ x) < TOL
    assert max_diff(context, F.scaled_dot_product_attention(x, x, x, scale=1.0)) < TOL


def test_split_and_merge_heads_are_inverse(device):
    x = make_x(device)[..., :6]
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 9, 2)
    assert torch.equal(heads[:, 1], x[..., 2:4])  # head 1 owns features 2 and 3
    assert torch.equal(merge_heads(heads), x)


# ---------------------------------------------------------------- causality


@pytest.mark.parametrize("kind", ["fused", "wrapper", "causal"])
def test_changing_a_future_token_never_changes_earlier_outputs(device, kind):
    torch.manual_seed(6)
    layer = {
        "fused": lambda: MultiHeadAttention(D_IN, D_OUT, CONTEXT, HEADS),
        "wrapper": lambda: MultiHeadAttentionWrapper(D_IN, D_OUT, CONTEXT, HEADS),
        "causal": lambda: CausalAttention(D_IN, 4, CONTEXT),
    }[kind]().to(device, torch.float64).eval()
    x = make_x(device, tokens=8)
    with torch.no_grad():
        out = layer(x)
        for pos in range(8):
            changed = x.clone()
            changed[:, pos] += 10.0 * torch.randn_like(changed[:, pos])
            new = layer(changed)
            assert torch.equal(new[:, :pos], out[:, :pos])  # empty (trivially equal) at pos 0
            assert max_diff(new[:, pos:], out[:, pos:]) > 1e-3  # the change is seen from pos on


def test_without_mask_the_past_sees_the_future(device):
    torch.manual_seed(7)
    layer = SelfAttention(D_IN, 4).to(device, torch.float64)
    x = make_x(device)
    changed = x.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        assert max_diff(layer(changed)[:, 0], layer(x)[:, 0]) > 1e-6


def test_causal_mask_offset():
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]
    assert torch.equal(causal_mask(3, 3), torch.ones(3, 3, dtype=torch.bool).tril())


# ---------------------------------------------------------------- KV cache


@pytest.mark.parametrize("chunks", [[1] * 9, [4, 1, 3, 1], [2, 7], [9]])
def test_kv_cache_gives_the_full_forward_pass(device, chunks):
    mha, x = make_mha(device), make_x(device)
    cache = KVCache()
    with torch.no_grad():
        full = mha(x)
        outs, start = [], 0
        for size in chunks:
            outs.append(mha(x[:, start:start + size], cache))
            start += size
        assert cache.length == 9
        assert cache.k.shape == (2, HEADS, 9, D_OUT // HEADS)
        assert max_diff(torch.cat(outs, dim=1), full) < TOL


def test_kv_cache_update_and_reset(device):
    cache = KVCache()
    assert cache.length == 0 and cache.k is None
    k = torch.randn(1, 2, 3, 4, device=device)
    k_all, v_all = cache.update(k, -k)
    assert torch.equal(k_all, k) and torch.equal(v_all, -k)
    k_all, v_all = cache.update(k[:, :, :1], k[:, :, :1])
    assert cache.length == 4 and torch.equal(k_all[:, :, 3], k[:, :, 0])
    cache.reset()
    assert cache.length == 0 and cache.v is None


def test_kv_cache_rejects_mismatched_shapes(device):
    cache = KVCache()
    cache.update(torch.zeros(1, 2, 3, 4, device=device), torch.zeros(1, 2, 3, 4, device=device))
    with pytest.raises(ValueError, match="do not fit the cache"):
        cache.update(torch.zeros(1, 3, 1, 4, device=device), torch.zeros(1, 3, 1, 4, device=device))
    with pytest.raises(ValueError, match="share one 4-D shape"):
        cache.update(torch.zeros(1, 2, 1, 4, device=device), torch.zeros(1, 2, 1, 5, device=device))


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("cls", [MultiHeadAttention, MultiHeadAttentionWrapper])
def test_dropout_only_in_training(device, cls):
    torch.manual_seed(8)
    layer = cls(D_IN, D_OUT, CONTEXT, HEADS, dropout=0.5).to(device, torch.float64)
    x = make_x(device)
    layer.train()
    with torch.no_grad():
        assert max_diff(layer(x), layer(x)) > 1e-3  # a fresh mask each call
        layer.eval()
        assert torch.equal(layer(x), layer(x))
        no_dropout = cls(D_IN, D_OUT, CONTEXT, HEADS, dropout=0.0).to(device, torch.float64)
        no_dropout.load_state_dict(layer.state_dict())
        assert max_diff(layer(x), no_dropout(x)) < TOL


def test_causal_attention_dropout_keeps_rows_unbiased(device):
    torch.manual_seed(9)
    layer = CausalAttention(D_IN, 4, 64, dropout=0.5).to(device, torch.float64).train()
    x = torch.randn(1, 64, D_IN, dtype=torch.float64, device=device)
    with torch.no_grad():
        weights = layer.attention_weights(x)
    kept = weights[weights > 0]
    assert 0.3 < kept.numel() / (64 * 65 / 2) < 0.7  # about half of the allowed weights survive
    assert (weights.triu(diagonal=1) == 0).all()  # dropout never reopens the future


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("x_shape", "match"),
    [
        ((9, D_IN), "3-D input"),
        ((2, 9, D_IN + 1), f"expects {D_IN} features"),
        ((1, CONTEXT + 1, D_IN), "context_length is 16"),
    ],
)
def test_bad_shapes_raise(device, x_shape, match):
    mha = make_mha(device)
    with pytest.raises(ValueError, match=match):
        mha(torch.zeros(x_shape, dtype=torch.float64, device=device))
    with pytest.raises(ValueError, match=match):
        explicit_attention(mha, torch.zeros(x_shape, dtype=torch.float64, device=device))


def test_cache_overflowing_the_context_raises(device):
    mha, cache = make_mha(device), KVCache()
    with torch.no_grad():
        mha(make_x(device, batch=1, tokens=CONTEXT - 1), cache)
        with pytest.raises(ValueError, match="after 15 cached"):
            mha(make_x(device, batch=1, tokens=2), cache)


def test_teaching_layers_check_input(device):
    with pytest.raises(ValueError, match="3-D input"):
        SelfAttention(D_IN, 4)(torch.zeros(5, D_IN))
    with pytest.raises(ValueError, match="context_length is 4"):
        CausalAttention(D_IN, 4, 4)(torch.zeros(1, 5, D_IN))
    with pytest.raises(ValueError, match="2-D input"):
        simplified_attention(torch.zeros(1, 5, D_IN))
    with pytest.raises(TypeError, match="torch.Tensor"):
        MultiHeadAttention(D_IN, D_OUT, CONTEXT, HEADS)([[0.0] * D_IN])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiHeadAttention(D_IN, 10, CONTEXT, 3)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiHeadAttentionWrapper(D_IN, 10, CONTEXT, 3)
    with pytest.raises(ValueError, match="positive"):
        MultiHeadAttention(D_IN, D_OUT, 0, HEADS)


# ---------------------------------------------------------------- tiled (online-softmax) attention


@pytest.mark.parametrize("block_size", [1, 3, 8, 64])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_attention_equals_sdpa(device, block_size, causal):
    gen = torch.Generator().manual_seed(10)
    q, k, v = (torch.randn(2, 3, 11, 5, generator=gen, dtype=torch.float64).to(device) for _ in range(3))
    q = q * 4.0  # large scores: the running maximum must change from block to block
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert max_diff(tiled_attention(q, k, v, block_size, causal), expected) < TOL


def test_tiled_attention_with_fewer_queries_than_keys(device):
    gen = torch.Generator().manual_seed(11)
    q = torch.randn(1, 2, 3, 4, generator=gen, dtype=torch.float64).to(device)
    k, v = (torch.randn(1, 2, 10, 4, generator=gen, dtype=torch.float64).to(device) for _ in range(2))
    mask = causal_mask(3, 10, device=device)  # the last 3 positions
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert max_diff(tiled_attention(q, k, v, 4), expected) < TOL
    with pytest.raises(ValueError, match="block_size must be positive"):
        tiled_attention(q, k, v, 0)
