"""Chapter 13: our GPT-2 against Hugging Face transformers' GPT2LMHeadModel, same weights."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import transformers  # the hf extra, part of the test extra: imported, never skipped
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from llm_anatomy.attention import KVCache
from llm_anatomy.gpt import (
    GELU,
    GPTConfig,
    GPTModel,
    LayerNorm,
    config_from_hf,
    from_pretrained_gpt2,
    generate,
    load_hf_state_dict,
    load_safetensors,
    next_token,
    num_parameters,
    top_k_filter,
    top_p_filter,
)

transformers.utils.logging.disable_progress_bar()

TOL = 1e-4
TINY = {"n_layer": 2, "n_head": 4, "n_embd": 64, "vocab_size": 100, "n_positions": 32}


def tiny_hf(seed: int = 0, **overrides) -> GPT2LMHeadModel:
    """A small random GPT2LMHeadModel in eval mode; weights wide enough that outputs vary."""
    torch.manual_seed(seed)
    cfg = GPT2Config(**{**TINY, **overrides}, bos_token_id=None, eos_token_id=None, initializer_range=0.2)
    return GPT2LMHeadModel(cfg).eval()


def tiny_ours(hf: GPT2LMHeadModel, device, fused: bool = True) -> GPTModel:
    """Our model built from ``hf``'s config and filled with its state dict."""
    model = GPTModel(replace(config_from_hf(hf.config.to_dict()), fused_kernels=fused))
    return load_hf_state_dict(model, hf.state_dict()).to(device).eval()


def random_ids(*shape: int, vocab: int = 100, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("preset", ["gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"])
def test_parameter_count_matches_transformers(preset):
    cfg = GPTConfig.from_preset(preset, qkv_bias=True)
    hf_cfg = GPT2Config(n_embd=cfg.emb_dim, n_layer=cfg.n_layers, n_head=cfg.n_heads)
    with torch.device("meta"):  # shapes only: no memory for the weights
        ours, theirs = GPTModel(cfg), GPT2LMHeadModel(hf_cfg)
    expected = sum(p.numel() for p in theirs.parameters())  # tied head counted once
    assert num_parameters(ours) == expected
    if preset == "gpt2-small":
        assert num_parameters(ours) == 124_439_808
        assert num_parameters(ours, count_tied_once=False) == 124_439_808 + 50257 * 768


def test_untied_head_and_no_qkv_bias_change_the_count():
    base = GPTConfig(vocab_size=100, context_length=32, emb_dim=64, n_heads=4, n_layers=2)
    tied, untied = GPTModel(base), GPTModel(replace(base, tie_weights=False))
    assert num_parameters(untied) - num_parameters(tied) == 100 * 64
    assert tied.out_head.weight is tied.tok_emb.weight
    with_bias = GPTModel(replace(base, qkv_bias=True))
    assert num_parameters(with_bias) - num_parameters(tied) == 2 * 3 * 64


def test_config_presets_and_validation():
    assert GPTConfig.from_preset("gpt2-xl").emb_dim == 1600
    assert GPTConfig.from_preset("gpt2-small", context_length=256).context_length == 256
    with pytest.raises(ValueError, match="unknown preset 'gpt3'"):
        GPTConfig.from_preset("gpt3")
    with pytest.raises(ValueError, match="divisible by n_heads"):
        GPTConfig(emb_dim=100, n_heads=12)
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        GPTConfig(n_layers=0)
    with pytest.raises(ValueError, match="drop_rate"):
        GPTConfig(drop_rate=1.0)


# ---------------------------------------------------------------- components


def test_layernorm_and_gelu_match_torch(device):
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0)).to(device) * 3 + 1
    ln, ref = LayerNorm(16).to(device), torch.nn.LayerNorm(16).to(device)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
        ref.weight.copy_(ln.weight)
        ref.bias.copy_(ln.bias)
    torch.testing.assert_close(ln(x), ref(x), atol=1e-5, rtol=0)
    from transformers.activations import NewGELUActivation

    torch.testing.assert_close(GELU()(x), torch.nn.GELU(approximate="tanh")(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(GELU()(x), NewGELUActivation()(x), atol=1e-6, rtol=0)


def test_fused_kernels_pick_torch_modules_and_change_nothing_else(device):
    cfg = GPTConfig(vocab_size=50, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)
    torch.manual_seed(0)
    fused = GPTModel(cfg).to(device)
    formulas = GPTModel(replace(cfg, fused_kernels=False)).to(device)
    formulas.load_state_dict(fused.state_dict())  # same names: the weights move as they are
    assert isinstance(fused.blocks[0].norm1, torch.nn.LayerNorm)
    assert isinstance(fused.blocks[0].ff.gelu, torch.nn.GELU)
    assert isinstance(formulas.final_norm, LayerNorm) and isinstance(formulas.blocks[1].ff.gelu, GELU)
    idx = random_ids(2, 16, vocab=50).to(device)
    for model in (fused, formulas):
        model(idx).pow(2).mean().backward()
    torch.testing.assert_close(fused(idx), formulas(idx), atol=1e-5, rtol=0)
    for (name, a), b in zip(fused.named_parameters(), formulas.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)


# ---------------------------------------------------------------- parity with transformers


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "formulas"])
def test_logits_match_transformers_through_safetensors(device, tmp_path, fused):
    hf = tiny_hf()
    hf.save_pretrained(tmp_path)  # writes config.json and model.safetensors, offline
    model = GPTModel(replace(config_from_hf(hf.config.to_dict()), fused_kernels=fused))
    load_safetensors(model, tmp_path / "model.safetensors")
    model.to(device).eval()
    hf.to(device)
    idx = random_ids(3, 32).to(device)
    with torch.no_grad():
        ours, theirs = model(idx), hf(idx).logits
    assert ours.shape == (3, 32, 100)
    assert (ours - theirs).abs().max().item() < TOL


def test_from_pretrained_gpt2_loads_a_saved_folder_and_matches_transformers(device, tmp_path, monkeypatch):
    # the reader's path to OpenAI's weights, run offline on a folder written by save_pretrained
    hf = tiny_hf(seed=11)
    hf.save_pretrained(tmp_path)  # config.json and model.safetensors, as on the hub
    model = from_pretrained_gpt2(tmp_path)
    assert not model.training
    assert model.cfg == config_from_hf(hf.config.to_dict())
    model.to(device)
    hf.to(device)
    idx = random_ids(2, 32, seed=12).to(device)
    with torch.no_grad():
        ours, theirs = model(idx), hf(idx).logits
    assert ours.shape == (2, 32, 100)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-5)  # measured: 1.7e-6, logits up to 5.8 (float32)
    # a hub name fetches the same two files (stubbed here: no network in the tests)
    requested = []

    def fake_download(repo_id: str, filename: str) -> str:
        requested.append((repo_id, filename))
        return str(tmp_path / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    from_hub = from_pretrained_gpt2("gpt2")
    assert requested == [("gpt2", "config.json"), ("gpt2", "model.safetensors")]
    assert all(torch.equal(a, b.cpu()) for a, b in zip(from_hub.state_dict().values(), model.state_dict().values(), strict=True))
    # a folder without weights is refused with its path
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no safetensors file"):
        from_pretrained_gpt2(tmp_path)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "formulas"])
def test_logits_and_gradients_match_transformers_through_state_dict(device, fused):
    hf = tiny_hf(seed=2).to(device)
    model = tiny_ours(hf, device, fused)
    idx = random_ids(2, 20, seed=3).to(device)
    ours, theirs = model(idx), hf(idx).logits
    assert (ours - theirs).abs().max().item() < TOL
    # the same loss gives the same gradients: the two models train alike
    targets = random_ids(2, 20, seed=4).to(device)
    loss_fn = torch.nn.functional.cross_entropy
    loss_fn(ours.flatten(0, 1), targets.flatten()).backward()
    loss_fn(theirs.flatten(0, 1), targets.flatten()).backward()
    blocks, theirs_h = model.blocks, hf.transformer.h
    pairs = {  # ours, theirs (Conv1D weights are stored transposed)
        "tok_emb": (model.tok_emb.weight.grad, hf.transformer.wte.weight.grad),
        "qkv": (blocks[0].att.qkv.weight.grad, theirs_h[0].attn.c_attn.weight.grad.T),
        "ff.fc": (blocks[1].ff.fc.weight.grad, theirs_h[1].mlp.c_fc.weight.grad.T),
        "norm1.bias": (blocks[1].norm1.bias.grad, theirs_h[1].ln_1.bias.grad),
        "final_norm": (model.final_norm.weight.grad, hf.transformer.ln_f.weight.grad),
    }
    for name, (ours_grad, their_grad) in pairs.items():
        assert (ours_grad - their_grad).abs().max().item() < TOL, name


def test_untied_head_loads_lm_head(device):
    hf = tiny_hf(seed=5, tie_word_embeddings=False)
    model = GPTModel(config_from_hf(hf.config.to_dict()))
    assert not model.cfg.tie_weights
    load_hf_state_dict(model, hf.state_dict())
    model.to(device).eval()
    hf.to(device)
    idx = random_ids(2, 16, seed=6).to(device)
    with torch.no_grad():
        assert (model(idx) - hf(idx).logits).abs().max().item() < TOL


def test_greedy_generation_matches_transformers(device):
    hf = tiny_hf(seed=7).to(device)
    model = tiny_ours(hf, device)
    prompt = random_ids(2, 5, seed=8).to(device)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=20, do_sample=False)
    ours = generate(model, prompt, max_new_tokens=20)
    assert torch.equal(ours, theirs)


# ---------------------------------------------------------------- generation


@pytest.fixture
def small_model(device):
    return tiny_ours(tiny_hf(seed=9), device)


def test_cached_forward_equals_full_forward(small_model, device):
    idx = random_ids(2, 12, seed=10).to(device)
    with torch.no_grad():
        full = small_model(idx)
        caches = [KVCache() for _ in small_model.blocks]
        pieces = [small_model(idx[:, :5], caches)] + [small_model(idx[:, t : t + 1], caches) for t in range(5, 12)]
    assert caches[0].length == 12
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("prompt_len, new", [(4, 20), (20, 30)])  # the second run fills the context
def test_cached_and_uncached_greedy_are_identical(small_model, device, prompt_len, new):
    prompt = random_ids(3, prompt_len, seed=11).to(device)
    cached = generate(small_model, prompt, new, use_cache=True)
    uncached = generate(small_model, prompt, new, use_cache=False)
    assert cached.shape == (3, prompt_len + new)
    assert torch.equal(cached, uncached)


def test_sampling_is_reproducible_with_a_seeded_generator(small_model, device):
    prompt = random_ids(2, 4, seed=12).to(device)

    def sample(seed, use_cache=True):
        gen = torch.Generator(device=device).manual_seed(seed)
        return generate(small_model, prompt, 25, temperature=1.0, top_k=20, top_p=0.95,
                        use_cache=use_cache, generator=gen)

    first = sample(0)
    assert torch.equal(first, sample(0))
    assert torch.equal(first, sample(0, use_cache=False))
    assert not torch.equal(first, sample(1))


def test_prompt_longer_than_context_is_cropped(small_model, device):
    long_prompt = random_ids(2, 50, seed=13).to(device)  # context_length is 32
    for use_cache in (True, False):
        out = generate(small_model, long_prompt, 6, use_cache=use_cache)
        assert torch.equal(out[:, :50], long_prompt)  # the prompt comes back whole
        cropped = generate(small_model, long_prompt[:, -32:], 6, use_cache=use_cache)
        assert torch.equal(out[:, 50:], cropped[:, 32:])  # the model saw only the last 32 tokens


def test_eos_stops_and_pads(small_model, device):
    prompt = random_ids(2, 4, seed=14).to(device)
    free = generate(small_model, prompt, 10)
    eos = free[0, 6].item()  # a token the first row generates within three steps
    out = generate(small_model, prompt, 10, eos_id=eos)
    ends = []
    for row, free_row in zip(out, free, strict=True):
        hits = (free_row[4:] == eos).nonzero().flatten()
        end = 4 + hits[0].item() + 1 if len(hits) else free.shape[1]  # one past the first eos
        assert torch.equal(row[:end], free_row[:end])  # the same tokens until the eos
        assert (row[end:] == eos).all()  # padded with eos afterwards
        ends.append(end)
    assert ends[0] <= 7
    assert out.shape[1] == max(ends)  # stops as soon as every row has finished


def test_generate_restores_training_mode_and_checks_arguments(small_model, device):
    small_model.train()
    prompt = random_ids(1, 3).to(device)
    generate(small_model, prompt, 2)
    assert small_model.training
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(small_model, prompt, -1)
    with pytest.raises(ValueError, match="temperature"):
        generate(small_model, prompt, 2, temperature=-0.5)
    with pytest.raises(ValueError, match="top_k"):
        generate(small_model, prompt, 2, temperature=1.0, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        generate(small_model, prompt, 2, temperature=1.0, top_p=1.5)
    with pytest.raises(ValueError, match="idx must be"):
        generate(small_model, prompt[0], 2)


# ---------------------------------------------------------------- top-k and top-p


PROBS = torch.tensor([0.10, 0.50, 0.05, 0.20, 0.15])  # order by probability: 1, 3, 4, 0, 2


def kept(logits: torch.Tensor) -> set[int]:
    return set(torch.isfinite(logits).nonzero().flatten().tolist())


def test_top_k_keeps_the_k_most_likely():
    logits = PROBS.log()
    assert kept(top_k_filter(logits, 1)) == {1}
    assert kept(top_k_filter(logits, 3)) == {1, 3, 4}
    assert kept(top_k_filter(logits, 99)) == {0, 1, 2, 3, 4}
    assert top_k_filter(logits, 2)[1] == logits[1]  # kept logits are unchanged


def test_top_p_keeps_the_smallest_nucleus():
    logits = PROBS.log()
    assert kept(top_p_filter(logits, 0.4)) == {1}  # the top token alone has 0.5
    assert kept(top_p_filter(logits, 0.6)) == {1, 3}  # 0.5 + 0.2 = 0.7 >= 0.6
    assert kept(top_p_filter(logits, 0.8)) == {1, 3, 4}  # 0.85
    assert kept(top_p_filter(logits, 0.9)) == {0, 1, 3, 4}  # 0.95
    assert kept(top_p_filter(logits, 1.0)) == {0, 1, 2, 3, 4}


def test_filters_match_transformers_warpers(device):
    logits = torch.randn(8, 50, generator=torch.Generator().manual_seed(0)).to(device) * 2
    for k in (1, 5, 17):
        theirs = TopKLogitsWarper(top_k=k)(None, logits.clone())
        assert torch.equal(torch.isfinite(top_k_filter(logits, k)), torch.isfinite(theirs))
    for p in (0.1, 0.5, 0.9, 0.99):
        theirs = TopPLogitsWarper(top_p=p)(None, logits.clone())
        assert torch.equal(torch.isfinite(top_p_filter(logits, p)), torch.isfinite(theirs))


def test_next_token_greedy_and_sampling_sets(device):
    logits = PROBS.log().to(device).repeat(2000, 1)  # 2000 rows, one draw each
    assert (next_token(logits, temperature=0.0) == 1).all()
    gen = torch.Generator(device=device).manual_seed(0)
    assert set(next_token(logits, 1.0, top_k=2, generator=gen).unique().tolist()) == {1, 3}
    assert set(next_token(logits, 1.0, top_p=0.8, generator=gen).unique().tolist()) == {1, 3, 4}
    freq = (next_token(logits, 1.0, generator=gen) == 1).float().mean().item()
    assert abs(freq - 0.5) < 0.05  # temperature 1 samples the model's own probabilities


# ---------------------------------------------------------------- bad input and bad checkpoints


def test_load_rejects_wrong_shape_missing_and_unexpected_tensors():
    hf = tiny_hf()
    state = hf.state_dict()
    model = GPTModel(config_from_hf(hf.config.to_dict()))

    wrong = dict(state)
    wrong["transformer.h.1.mlp.c_fc.weight"] = torch.zeros(64, 100)
    with pytest.raises(ValueError, match=r"blocks\.1\.ff\.fc\.weight.*h\.1\.mlp\.c_fc\.weight"):
        load_hf_state_dict(model, wrong)

    missing = {k: v for k, v in state.items() if k != "transformer.h.0.attn.c_attn.weight"}
    with pytest.raises(KeyError, match=r"h\.0\.attn\.c_attn\.weight"):
        load_hf_state_dict(model, missing)

    no_bias = GPTModel(GPTConfig(vocab_size=100, context_length=32, emb_dim=64, n_heads=4, n_layers=2))
    with pytest.raises(ValueError, match=r"no place in the model.*c_attn\.bias"):
        load_hf_state_dict(no_bias, state)

    one_layer = GPTModel(GPTConfig(vocab_size=100, context_length=32, emb_dim=64, n_heads=4, n_layers=1,
                                   qkv_bias=True))
    with pytest.raises(ValueError, match=r"h\.1\."):
        load_hf_state_dict(one_layer, state)

    with pytest.raises(FileNotFoundError, match="no safetensors file"):
        load_safetensors(model, "/nonexistent/model.safetensors")


def test_config_from_hf_rejects_other_models():
    with pytest.raises(ValueError, match="activation_function='relu'"):
        config_from_hf({**TINY, "activation_function": "relu"})


def test_forward_rejects_bad_input(small_model, device):
    with pytest.raises(TypeError, match="integer token ids"):
        small_model(torch.zeros(1, 4, device=device))
    with pytest.raises(ValueError, match="2-D"):
        small_model(torch.zeros(4, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 100\)"):
        small_model(torch.full((1, 4), 100, device=device))
    with pytest.raises(ValueError, match="exceed context_length=32"):
        small_model(torch.zeros(1, 33, dtype=torch.long, device=device))
    caches = [KVCache() for _ in small_model.blocks]
    small_model(torch.zeros(1, 30, dtype=torch.long, device=device), caches)
    with pytest.raises(ValueError, match="after 30 cached"):
        small_model(torch.zeros(1, 3, dtype=torch.long, device=device), caches)
    with pytest.raises(ValueError, match="one KVCache per block"):
        small_model(torch.zeros(1, 3, dtype=torch.long, device=device), caches[:1])


# ---------------------------------------------------------------- initialisation, bfloat16, compile


def test_initialisation_is_a_documented_choice():
    cfg = GPTConfig(vocab_size=500, context_length=32, emb_dim=64, n_heads=4, n_layers=3, tie_weights=False,
                    qkv_bias=True)
    assert GPTConfig().init == "gpt2"  # the default is unchanged
    torch.manual_seed(0)
    gpt2 = GPTModel(cfg)
    torch.manual_seed(0)
    default = GPTModel(replace(cfg, init="torch"))
    # GPT-2: N(0, 0.02), zero biases, residual projections N(0, 0.02 / sqrt(2 * 3))
    assert gpt2.tok_emb.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert gpt2.blocks[0].ff.proj.weight.std().item() == pytest.approx(0.02 / 6**0.5, rel=0.05)
    assert torch.count_nonzero(gpt2.blocks[0].ff.fc.bias) == 0
    # torch: N(0, 1) embeddings, Linear weights and biases uniform in +-1/sqrt(fan_in)
    assert default.tok_emb.weight.std().item() == pytest.approx(1.0, rel=0.05)
    fc = default.blocks[0].ff.fc  # 64 -> 256
    assert fc.weight.abs().max().item() <= 1 / 64**0.5
    assert fc.weight.std().item() == pytest.approx(1 / (3 * 64) ** 0.5, rel=0.05)  # std of U(-a, a) is a/sqrt(3)
    assert torch.count_nonzero(fc.bias) == fc.bias.numel()
    assert default.out_head.weight.std().item() == pytest.approx(1 / (3 * 64) ** 0.5, rel=0.05)
    tied = GPTModel(GPTConfig(vocab_size=500, context_length=32, emb_dim=64, n_heads=4, n_layers=1, init="torch"))
    assert tied.out_head.weight is tied.tok_emb.weight
    assert tied.tok_emb.weight.std().item() == pytest.approx(1.0, rel=0.05)  # the embedding's init is kept
    with pytest.raises(ValueError, match="init must be one of"):
        GPTConfig(init="xavier")


def test_bfloat16_generation_gives_the_float32_tokens_up_to_a_near_tie(small_model, device):
    prompt = random_ids(3, 4, seed=11).to(device)
    fp32 = generate(small_model, prompt, 20)
    bf16 = generate(small_model, prompt, 20, precision="bfloat16")
    with torch.no_grad():
        logits = small_model(fp32[:, :-1])[:, 3:]  # (3, 20, V): the logits each new token came from
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits_bf16 = small_model(fp32[:, :-1])[:, 3:].float()
    error = (logits_bf16 - logits).abs().max().item()
    assert 0 < error < 0.03 * logits.abs().max().item()  # bfloat16: 8 significant bits
    top2 = logits.topk(2, dim=-1).values
    margins = top2[..., 0] - top2[..., 1]  # (3, 20): how far the chosen token led the runner-up
    sure = 0
    for row in range(3):  # up to the first near-tie that bfloat16's rounding could flip, same tokens
        ties = (margins[row] <= 2 * error).nonzero()
        n_safe = ties[0].item() if len(ties) else 20
        assert torch.equal(bf16[row, : 4 + n_safe], fp32[row, : 4 + n_safe])
        sure += n_safe
    assert sure >= 10  # the check covered a real stretch of tokens (18 of 60 with this seed)


@pytest.mark.slow
def test_compiled_generation_gives_the_same_tokens(small_model, device):
    # inductor with dynamic shapes: ~35 s of CPU on 2 cores (2 minutes on a busy machine), hence slow
    prompt = random_ids(2, 4, seed=12).to(device)
    assert torch.equal(generate(small_model, prompt, 12, compile=True), generate(small_model, prompt, 12))


def test_generate_rejects_a_precision_the_device_lacks(small_model, device):
    prompt = random_ids(1, 4, seed=13).to(device)
    with pytest.raises(ValueError, match="precision must be one of"):
        generate(small_model, prompt, 2, precision="int8")
    if device.type == "cpu":
        with pytest.raises(ValueError, match="float16 mixed precision runs on CUDA only"):
            generate(small_model, prompt, 2, precision="float16")
