"""Chapter 14: the training loop against torch's loss, clipping and schedules, and exact resumption."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

# Raschka's llms-from-scratch (chapter 5), the peer implementation: part of the test
# environment, installed --no-deps by nox (PEER in noxfile.py), so it is imported, not skipped.
from llms_from_scratch import ch05
from torch import nn
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset

import llm_anatomy.train as train_module
from llm_anatomy.data import create_dataloader
from llm_anatomy.gpt import GPTConfig, GPTModel
from llm_anatomy.optim.schedules import warmup_cosine
from llm_anatomy.tokenizer import BPETokenizer
from llm_anatomy.train import (
    BatchStream,
    TrainConfig,
    clip_grad_norm,
    evaluate,
    load_checkpoint,
    loss_batch,
    make_optimizer,
    perplexity,
    train,
)

TEXT = (
    "def add(a, b):\n    return a + b\n\n\n"
    "def mul(a, b):\n    return a * b\n\n\n"
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n\n"
)
IDS = list(TEXT.encode("utf-8")) * 6  # bytes as token ids: vocabulary of 256


def tiny_gpt(seed: int = 0, drop_rate: float = 0.1, context: int = 16) -> GPTModel:
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=256, context_length=context, emb_dim=32, n_heads=2, n_layers=2,
                    drop_rate=drop_rate)
    return GPTModel(cfg)


class BigramLM(nn.Module):
    """A stand-in language model: logits from the current token only, plus dropout."""

    def __init__(self, vocab_size: int = 256, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, 16)
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(16, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.emb(idx)))  # (B, T, V)


def loaders(seed: int = 1):
    split = int(0.8 * len(IDS))
    train_loader = create_dataloader(IDS[:split], batch_size=4, max_length=16, stride=8, seed=seed)
    val_loader = create_dataloader(IDS[split:], batch_size=4, max_length=16, stride=16, shuffle=False)
    return train_loader, val_loader


# ----------------------------------------------------------------------------- loss and perplexity


def test_loss_batch_is_cross_entropy_of_flattened_logits(device):
    model = tiny_gpt().to(device).eval()
    inputs, targets = next(iter(loaders()[0]))
    ours = loss_batch(model, inputs, targets)
    logits = model(inputs.to(device))
    reference = F.cross_entropy(logits.reshape(-1, 256), targets.to(device).reshape(-1))
    assert ours.device.type == device.type
    assert torch.allclose(ours, reference, rtol=0, atol=1e-6)


def test_loss_batch_matches_llms_from_scratch(device):
    model = tiny_gpt().to(device).eval()
    inputs, targets = next(iter(loaders()[0]))
    theirs = ch05.calc_loss_batch(inputs, targets, model, device)
    assert torch.allclose(loss_batch(model, inputs, targets), theirs, rtol=0, atol=1e-6)


def test_perplexity_is_exp_of_loss_and_equals_vocab_size_for_a_uniform_model():
    assert perplexity(2.0) == pytest.approx(math.exp(2.0), rel=1e-15)
    assert perplexity(0.0) == 1.0
    assert perplexity(1e4) == math.inf
    uniform = BigramLM()
    nn.init.zeros_(uniform.head.weight)
    nn.init.zeros_(uniform.head.bias)  # every logit 0: each of the 256 tokens has p = 1/256
    inputs, targets = next(iter(loaders()[0]))
    loss = loss_batch(uniform, inputs, targets).item()
    assert loss == pytest.approx(math.log(256), rel=1e-6)
    assert perplexity(loss) == pytest.approx(256, rel=1e-5)


def test_evaluate_weights_batches_by_tokens_and_restores_the_mode(device):
    model = tiny_gpt().to(device)
    model.train()
    loader = create_dataloader(IDS[:300], batch_size=4, max_length=16, stride=16, shuffle=False, drop_last=False)
    assert len(loader.dataset) % 4 != 0  # a short last batch
    inputs = torch.cat([x for x, _ in loader]).to(device)
    targets = torch.cat([y for _, y in loader]).to(device)
    with torch.no_grad():
        model.eval()
        reference = F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()).item()
        model.train()
    assert evaluate(model, loader) == pytest.approx(reference, abs=1e-6)
    assert model.training
    first = evaluate(model, loader, max_batches=1)
    x, y = next(iter(loader))
    model.eval()
    assert first == pytest.approx(loss_batch(model, x, y).item(), abs=1e-6)


# ----------------------------------------------------------------------------- schedule and clipping


def test_learning_rate_follows_warmup_then_cosine():
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=30, lr=1e-2, min_lr=1e-3, warmup_steps=6, warmup_start_factor=0.1,
                      eval_every=30, eval_batches=1)
    history = train(BigramLM(), train_loader, val_loader, cfg, progress=False)
    expected = warmup_cosine(1e-2, 6, 30, 1e-3, start_factor=0.1)
    assert history["lr"] == [expected(step) for step in range(30)]
    # and the same rates from torch's schedulers, stepped once per optimizer step
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=1e-2)
    scheduler = lr_scheduler.SequentialLR(optimizer, [
        lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=6),
        lr_scheduler.CosineAnnealingLR(optimizer, T_max=24, eta_min=1e-3),
    ], milestones=[6])
    torch_lrs = []
    for _ in range(30):
        torch_lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(abs(a - b) for a, b in zip(history["lr"], torch_lrs, strict=True)) < 1e-12
    assert history["lr"].index(max(history["lr"])) == 6  # the peak is reached right after warmup


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e6])
def test_clip_grad_norm_matches_torch(device, max_norm):
    torch.manual_seed(0)
    shapes = [(7, 5), (5,), (3, 4, 2)]
    grads = [torch.randn(s, device=device) for s in shapes]
    ours = [torch.zeros(s, device=device, requires_grad=True) for s in shapes]
    theirs = [torch.zeros(s, device=device, requires_grad=True) for s in shapes]
    for g, a, b in zip(grads, ours, theirs, strict=True):
        a.grad, b.grad = g.clone(), g.clone()
    norm = clip_grad_norm(ours, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert torch.allclose(norm, torch_norm, rtol=1e-6, atol=0)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a.grad, b.grad, rtol=1e-6, atol=1e-7)
    clipped = torch.linalg.vector_norm(torch.cat([a.grad.flatten() for a in ours])).item()
    assert clipped <= max_norm * (1 + 1e-5)
    if max_norm > norm:  # short enough already: untouched
        assert all(torch.equal(a.grad, g) for a, g in zip(ours, grads, strict=True))


def test_training_clips_every_update(monkeypatch):
    seen = []

    def recording_clip(parameters, max_norm):
        parameters = list(parameters)
        norm = clip_grad_norm(parameters, max_norm)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters if p.grad is not None]))
        seen.append((norm.item(), after.item()))
        return norm

    monkeypatch.setattr(train_module, "clip_grad_norm", recording_clip)
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=8, lr=1e-2, warmup_steps=0, min_lr=0.0, grad_clip=0.1, eval_every=8, eval_batches=1)
    history = train(tiny_gpt(), train_loader, val_loader, cfg, progress=False)
    assert len(seen) == 8
    assert all(before > 0.1 and after <= 0.1 * (1 + 1e-5) for before, after in seen)
    assert history["grad_norm"] == pytest.approx([before for before, _ in seen], rel=1e-7)


def test_weight_decay_only_on_matrices_and_tied_weight_once():
    model = tiny_gpt()
    optimizer = make_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])
    n_in_groups = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
    assert n_in_groups == sum(p.numel() for p in model.parameters())  # the tied matrix counted once
    assert sum(p is model.tok_emb.weight for p in decayed["params"]) == 1


# ----------------------------------------------------------------------------- the loop


def test_eval_every_logs_train_and_val_loss():
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=25, lr=3e-3, min_lr=3e-4, warmup_steps=2, eval_every=10, eval_batches=2)
    history = train(tiny_gpt(), train_loader, val_loader, cfg, progress=False)
    assert history["step"] == list(range(1, 26))
    assert history["eval_step"] == [10, 20, 25]  # every eval_every steps and at the end
    assert len(history["train_loss"]) == len(history["val_loss"]) == 3
    assert history["val_perplexity"] == pytest.approx([math.exp(v) for v in history["val_loss"]])
    assert history["tokens_seen"][-1] == 25 * 4 * 16
    assert all(math.isfinite(v) for v in history["train_loss"] + history["val_loss"])


def test_tiny_gpt_overfits_tiny_text():
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=150, lr=1e-2, min_lr=1e-3, warmup_steps=10, weight_decay=0.0,
                      eval_every=50, eval_batches=None)
    history = train(tiny_gpt(drop_rate=0.0), train_loader, val_loader, cfg, progress=False)
    start = math.log(256)  # loss of a model that knows nothing
    assert history["loss"][0] == pytest.approx(start, abs=0.3)
    assert history["train_loss"][-1] < 0.25 * start  # the repeated text is nearly memorised
    assert history["train_loss"] == sorted(history["train_loss"], reverse=True)


def test_one_epoch_matches_raschkas_train_model_simple(capsys):
    # constant learning rate, no clipping, no weight decay: the loop of llms-from-scratch, chapter 5
    ours = tiny_gpt(drop_rate=0.0)
    train_loader, val_loader = loaders()
    n_batches = len(train_loader)
    cfg = TrainConfig(max_steps=n_batches, lr=1e-3, min_lr=1e-3, warmup_steps=0, weight_decay=0.0,
                      grad_clip=None, eval_every=n_batches, eval_batches=1)
    train(ours, train_loader, val_loader, cfg, progress=False)

    theirs = tiny_gpt(drop_rate=0.0)
    train_loader, val_loader = loaders()
    optimizer = torch.optim.AdamW(theirs.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.0)
    tokenizer = BPETokenizer(special_tokens={"<|endoftext|>": 256})  # bytes, as our token ids
    ch05.train_model_simple(theirs, train_loader, val_loader, optimizer, "cpu", num_epochs=1, eval_freq=5,
                            eval_iter=1, start_context="def", tokenizer=tokenizer)
    capsys.readouterr()  # it prints its progress and a sample
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-6), name


def test_training_runs_on_the_chosen_device(device):
    train_loader, val_loader = loaders()
    model = tiny_gpt().to(device)
    cfg = TrainConfig(max_steps=5, lr=1e-3, warmup_steps=1, eval_every=5, eval_batches=1)
    history = train(model, train_loader, val_loader, cfg, progress=False)
    assert next(model.parameters()).device.type == device.type
    assert len(history["loss"]) == 5


# ----------------------------------------------------------------------------- checkpoints


class Interrupted(Exception):
    pass


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run_exactly(tmp_path, monkeypatch):
    # dropout on, a shuffling loader (22 batches an epoch) and a checkpoint inside the second epoch
    cfg = TrainConfig(max_steps=40, lr=3e-3, min_lr=3e-4, warmup_steps=5, eval_every=7, eval_batches=3,
                      checkpoint_every=30, seed=5)
    full_model = tiny_gpt(drop_rate=0.2)
    full = train(full_model, *loaders(), cfg, progress=False)

    path = tmp_path / "ckpt.pt"
    real_save = train_module.save_checkpoint

    def save_then_crash(*args, **kwargs):
        real_save(*args, **kwargs)
        raise Interrupted  # the process dies right after its first checkpoint, at step 30

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_crash)
    with pytest.raises(Interrupted):
        train(tiny_gpt(drop_rate=0.2), *loaders(), cfg, checkpoint_path=path, progress=False)
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)

    torch.manual_seed(1234)  # a fresh process: other RNG state, other initial weights, fresh loaders
    torch.rand(10)
    resumed_model = tiny_gpt(seed=99, drop_rate=0.2)
    resumed = train(resumed_model, *loaders(), cfg, checkpoint_path=path, resume=True, progress=False)

    assert len(loaders()[0]) == 22  # so step 30 lay inside the second epoch
    assert resumed == full  # every loss, learning rate, gradient norm and evaluation, bit for bit
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert load_checkpoint(path, tiny_gpt())["step"] == 40


def test_stop_after_then_resume_finishes_the_same_run(tmp_path):
    cfg = TrainConfig(max_steps=30, lr=1e-2, warmup_steps=3, eval_every=4, eval_batches=2, seed=2)

    def bigram():
        torch.manual_seed(0)
        return BigramLM(drop_rate=0.3)

    full = train(bigram(), *loaders(), cfg, progress=False)
    part = train(bigram(), *loaders(), cfg, checkpoint_path=tmp_path / "c.pt", stop_after=25, progress=False)
    assert part["step"] == list(range(1, 26))
    rest = train(BigramLM(drop_rate=0.3), *loaders(), cfg, checkpoint_path=tmp_path / "c.pt", resume=True,
                 progress=False)
    assert rest == full


def test_batch_stream_resumes_mid_epoch():
    loader = create_dataloader(IDS, batch_size=4, max_length=16, stride=8, seed=3)
    stream = BatchStream(loader)
    for _ in range(len(loader) + 5):  # into the second epoch
        stream.next_batch()
    state = stream.state_dict()
    expected = [stream.next_batch()[0] for _ in range(len(loader))]  # crosses into the third epoch
    other = BatchStream(create_dataloader(IDS, batch_size=4, max_length=16, stride=8, seed=3))
    other.load_state_dict(state)
    assert (other.epoch, other.position) == (1, 5)
    assert all(torch.equal(a, other.next_batch()[0]) for a in expected)


def test_resume_errors(tmp_path):
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=4, warmup_steps=1, eval_every=4, eval_batches=1)
    with pytest.raises(ValueError, match="checkpoint_path"):
        train(BigramLM(), train_loader, val_loader, cfg, resume=True)
    with pytest.raises(ValueError, match="checkpoint_path"):
        train(BigramLM(), train_loader, val_loader, cfg, stop_after=2)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(BigramLM(), train_loader, val_loader, cfg, checkpoint_path=tmp_path / "none.pt", resume=True)
    path = tmp_path / "c.pt"
    train(BigramLM(), train_loader, val_loader, cfg, checkpoint_path=path, progress=False)
    assert not (tmp_path / "c.pt.partial").exists()
    changed = TrainConfig(max_steps=4, warmup_steps=1, eval_every=4, eval_batches=1, lr=1.0)
    with pytest.raises(ValueError, match="different TrainConfig: lr differ"):
        train(BigramLM(), train_loader, val_loader, changed, checkpoint_path=path, resume=True)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_raises_clear_errors():
    model = BigramLM()
    x = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="shape"):
        loss_batch(model, x, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        loss_batch(_Flat(), x, x)
    with pytest.raises(ValueError, match=">= 0"):
        perplexity(-0.1)
    with pytest.raises(ValueError, match=">= 0"):
        perplexity(float("nan"))
    with pytest.raises(ValueError, match="max_batches"):
        evaluate(model, loaders()[1], max_batches=0)
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(model.parameters(), 0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(max_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=0)
    with pytest.raises(ValueError, match="grad_clip"):
        TrainConfig(grad_clip=-1.0)
    with pytest.raises(ValueError, match="warmup_start_factor"):
        TrainConfig(warmup_start_factor=0.0)
    data = TensorDataset(torch.zeros(8, 5, dtype=torch.long), torch.zeros(8, 5, dtype=torch.long))
    plain = BatchStream(DataLoader(data, batch_size=2, shuffle=True))  # accepted, but cannot be replayed
    with pytest.raises(ValueError, match="cannot resume exactly.*generator="):
        plain.load_state_dict(plain.state_dict())
    with pytest.raises(ValueError, match="no batches"):
        BatchStream(DataLoader(data, batch_size=16, drop_last=True))


class _Flat(nn.Module):
    """A broken model that returns one score vector per sequence instead of per position."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(5, 256)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.lin(idx.float())  # (B, V)


def test_a_diverging_run_stops_with_an_error():
    model = BigramLM()
    with torch.no_grad():
        model.head.bias[0] = float("nan")
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=5, warmup_steps=1, eval_every=5, eval_batches=1)
    with pytest.raises(FloatingPointError, match="step 1"):
        train(model, train_loader, val_loader, cfg, progress=False)


# ----------------------------------------------------------------------------- options: precision, compile,
# ----------------------------------------------------------------------------- accumulation, optimizers


def test_bfloat16_loss_curve_follows_float32():
    # bfloat16 keeps 8 significant bits: the curves differ by rounding, not in shape.
    # Tolerance: 0.15 nats at any step (measured: 0.07 over 40 steps), 0.05 on the mean.
    curves = {}
    for precision in ("float32", "bfloat16"):
        cfg = TrainConfig(max_steps=40, lr=1e-2, min_lr=1e-3, warmup_steps=4, eval_every=40, eval_batches=2,
                          precision=precision)
        curves[precision] = train(tiny_gpt(drop_rate=0.0), *loaders(), cfg, progress=False)
    fp32, bf16 = curves["float32"]["loss"], curves["bfloat16"]["loss"]
    gaps = [abs(a - b) for a, b in zip(fp32, bf16, strict=True)]
    assert 0 < max(gaps) < 0.15
    assert sum(gaps) / len(gaps) < 0.05
    assert bf16[-1] < 0.6 * bf16[0]  # it learns
    assert curves["bfloat16"]["val_loss"][-1] == pytest.approx(curves["float32"]["val_loss"][-1], abs=0.1)


def test_precision_context_runs_matmuls_in_bfloat16_and_the_loss_in_float32():
    model = BigramLM()
    inputs, targets = next(iter(loaders()[0]))
    with train_module.precision_context("cpu", "bfloat16"):
        assert model(inputs).dtype == torch.bfloat16
        loss = loss_batch(model, inputs, targets)
    assert loss.dtype == torch.float32
    with train_module.precision_context("cpu", "float32"):
        assert model(inputs).dtype == torch.float32


def test_float16_needs_cuda_and_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match="float16 mixed precision runs on CUDA only"):
        train(BigramLM(), *loaders(), TrainConfig(max_steps=2, warmup_steps=0, precision="float16"), progress=False)
    with pytest.raises(ValueError, match="float16 mixed precision runs on CUDA only"):
        train_module.precision_context("cpu", "float16")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="float64")
    with pytest.raises(ValueError, match="precision must be one of"):
        train_module.precision_context("cpu", "fp16")
    with pytest.raises(ValueError, match="optimizer_impl must be one of"):
        TrainConfig(optimizer_impl="apex")
    with pytest.raises(ValueError, match="accumulation_steps"):
        TrainConfig(accumulation_steps=0)
    with pytest.raises(ValueError, match="compile must be True or False"):
        TrainConfig(compile="yes")
    with pytest.raises(ValueError, match="either max_steps or epochs"):
        TrainConfig(epochs=3)  # max_steps keeps its default: two lengths for one run
    with pytest.raises(ValueError, match="either max_steps or epochs"):
        TrainConfig(max_steps=None)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        TrainConfig(max_steps=None, epochs=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 with a gradient scaler runs on CUDA")
def test_float16_with_a_gradient_scaler_follows_float32_on_cuda():
    curves = {}
    for precision in ("float32", "float16"):
        cfg = TrainConfig(max_steps=30, lr=1e-2, min_lr=1e-3, warmup_steps=3, eval_every=30, eval_batches=1,
                          precision=precision)
        curves[precision] = train(tiny_gpt(drop_rate=0.0).cuda(), *loaders(), cfg, progress=False)["loss"]
    gaps = [abs(a - b) for a, b in zip(curves["float32"], curves["float16"], strict=True)]
    assert max(gaps) < 0.1  # float16 keeps 11 significant bits, more than bfloat16


def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch():
    # float64 and no dropout: the only difference left is the order of additions
    def run(batch_size: int, accumulation_steps: int):
        torch.manual_seed(0)
        model = tiny_gpt(drop_rate=0.0).double()
        loader = create_dataloader(IDS, batch_size=batch_size, max_length=16, stride=8, shuffle=False)
        cfg = TrainConfig(max_steps=6, lr=3e-3, warmup_steps=2, grad_clip=0.5, eval_every=6, eval_batches=2,
                          accumulation_steps=accumulation_steps)
        return model, train(model, loader, None, cfg, progress=False)

    big_model, big = run(batch_size=6, accumulation_steps=1)
    small_model, small = run(batch_size=2, accumulation_steps=3)
    assert small["tokens_seen"] == big["tokens_seen"] == [6 * 16 * s for s in range(1, 7)]
    assert small["loss"] == pytest.approx(big["loss"], rel=0, abs=1e-12)
    assert small["grad_norm"] == pytest.approx(big["grad_norm"], rel=1e-10)
    assert max(g for g in big["grad_norm"]) > 0.5  # clipping acted on the summed gradient
    for a, b in zip(small_model.parameters(), big_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("impl", ["fused", "foreach", "for-loop"])
def test_adamw_implementations_give_the_same_update(impl):
    optimizer = make_optimizer(tiny_gpt(), TrainConfig(optimizer_impl=impl))
    assert optimizer.defaults["fused"] is (True if impl == "fused" else None)
    assert optimizer.defaults["foreach"] is {"fused": None, "foreach": True, "for-loop": False}[impl]
    assert make_optimizer(tiny_gpt(), TrainConfig()).defaults["fused"] is True  # "auto" on the CPU
    cfg = TrainConfig(max_steps=8, lr=1e-2, warmup_steps=2, eval_every=8, eval_batches=1, optimizer_impl=impl)
    reference = TrainConfig(max_steps=8, lr=1e-2, warmup_steps=2, eval_every=8, eval_batches=1,
                            optimizer_impl="for-loop")
    ours, theirs = tiny_gpt(), tiny_gpt()
    train(ours, *loaders(), cfg, progress=False)
    train(theirs, *loaders(), reference, progress=False)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)


def test_compiled_model_trains_like_the_eager_one():
    # inductor compiles forward and backward: ~40 s of CPU on 2 cores, so only 3 steps
    cfg = TrainConfig(max_steps=3, lr=1e-2, warmup_steps=1, eval_every=3, eval_batches=1)
    eager = train(tiny_gpt(drop_rate=0.0), *loaders(), cfg, progress=False)
    compiled_cfg = TrainConfig(max_steps=3, lr=1e-2, warmup_steps=1, eval_every=3, eval_batches=1, compile=True)
    model = tiny_gpt(drop_rate=0.0)
    compiled = train(model, *loaders(), compiled_cfg, progress=False)
    assert compiled["loss"] == pytest.approx(eager["loss"], abs=1e-4)
    assert not any(name.startswith("_orig_mod") for name in model.state_dict())  # the model is left plain


# ----------------------------------------------------------------------------- what readers bring


def test_the_readers_own_optimizer_and_scheduler_are_used_as_given():
    # AdamW with decay on every parameter and a step schedule, as another book would write it
    model = tiny_gpt(drop_rate=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    cfg = TrainConfig(max_steps=10, warmup_steps=0, grad_clip=None, eval_every=10, eval_batches=None)
    history = train(model, *loaders(), cfg, progress=False, optimizer=optimizer, scheduler=scheduler)
    assert history["lr"] == [4e-4 * 0.5 ** (step // 4) for step in range(10)]

    # the same run written by hand: a plain loop over the same batches
    reference = tiny_gpt(drop_rate=0.0)
    ref_optimizer = torch.optim.AdamW(reference.parameters(), lr=4e-4, weight_decay=0.1)
    ref_scheduler = lr_scheduler.StepLR(ref_optimizer, step_size=4, gamma=0.5)
    batches = BatchStream(loaders()[0])
    for _ in range(10):
        inputs, targets = batches.next_batch()
        ref_optimizer.zero_grad()
        F.cross_entropy(reference(inputs).flatten(0, 1), targets.flatten()).backward()
        ref_optimizer.step()
        ref_scheduler.step()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="scheduler needs the optimizer"):
        train(model, *loaders(), cfg, progress=False, scheduler=scheduler)


def test_epochs_instead_of_steps_and_a_constant_rate_without_clipping():
    train_loader, val_loader = loaders()
    cfg = TrainConfig(max_steps=None, epochs=2, lr=1e-3, min_lr=1e-3, warmup_steps=0, grad_clip=None,
                      eval_every=1000, eval_batches=None)
    history = train(BigramLM(), train_loader, val_loader, cfg, progress=False)
    assert history["step"][-1] == 2 * len(train_loader) == 44
    assert history["eval_step"] == [44]  # the end of the run
    assert set(history["lr"]) == {1e-3}
    accumulated = TrainConfig(max_steps=None, epochs=2, warmup_steps=0, eval_every=100, accumulation_steps=4)
    assert accumulated.total_steps(len(train_loader)) == 11  # 44 batches, 4 per step
    with pytest.raises(ValueError, match="not more than warmup_steps"):
        TrainConfig(max_steps=None, epochs=1, warmup_steps=30).total_steps(len(train_loader))


def test_a_plain_shuffling_loader_trains_but_cannot_resume(tmp_path):
    windows = create_dataloader(IDS, batch_size=4, max_length=16, stride=8).dataset
    plain = DataLoader(windows, batch_size=4, shuffle=True, drop_last=True)  # no generator=
    cfg = TrainConfig(max_steps=6, warmup_steps=1, eval_every=6, eval_batches=1)
    path = tmp_path / "plain.pt"
    history = train(BigramLM(), plain, None, cfg, checkpoint_path=path, stop_after=3, progress=False)
    assert history["step"] == [1, 2, 3] and path.is_file()  # the weights are saved all the same
    with pytest.raises(ValueError, match="cannot resume exactly"):
        train(BigramLM(), plain, None, cfg, checkpoint_path=path, resume=True, progress=False)


def test_resume_stays_exact_with_bfloat16_accumulation_and_the_readers_scheduler(tmp_path):
    def run(**kwargs):
        torch.manual_seed(0)
        model = tiny_gpt(drop_rate=0.2)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1, fused=True)
        scheduler = lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
        cfg = TrainConfig(max_steps=14, warmup_steps=0, eval_every=5, eval_batches=2, seed=3,
                          precision="bfloat16", accumulation_steps=2)
        return train(model, *loaders(), cfg, progress=False, optimizer=optimizer, scheduler=scheduler,
                     checkpoint_path=tmp_path / "opts.pt", **kwargs)

    full = run()
    first = run(stop_after=9)  # 18 of 22 batches: the resumed part crosses into the second epoch
    assert first["step"] == list(range(1, 10))
    torch.manual_seed(77)
    assert run(resume=True) == full


def test_once_computes_a_result_once_per_key():
    from llm_anatomy.memo import forget, once

    calls = []

    def long_run():
        calls.append(1)
        return {"loss": [3.0, 2.0]}

    forget("test/a")
    first = once("test/a", long_run)
    assert once("test/a", long_run) is first and len(calls) == 1
    assert once("test/b", long_run) is not first and len(calls) == 2
    forget("test/a")
    once("test/a", long_run)
    assert len(calls) == 3
    with pytest.raises(TypeError, match="non-empty string"):
        once("", long_run)
    with pytest.raises(TypeError, match="callable"):
        once("test/c", 3)
    forget()


def test_two_ddp_processes_follow_the_single_process_run_on_the_same_global_batch(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from torch.utils.data import DistributedSampler

    from llm_anatomy.autograd.scaling import _wait_for, find_free_port

    worker = Path(__file__).with_name("ddp_train_worker.py")
    sys.path.insert(0, str(worker.parent))
    try:
        import ddp_train_worker as w
    finally:
        sys.path.remove(str(worker.parent))
    assert len(w.windows()) == 32
    out, port = tmp_path / "history.pt", find_free_port()
    src = str(Path(train_module.__file__).parents[1])
    processes = []
    for rank in range(2):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                   OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
        processes.append(subprocess.Popen([sys.executable, str(worker), str(out)], env=env, stderr=subprocess.PIPE,
                                          text=True))
    _wait_for(processes, timeout=300)
    distributed = torch.load(out, weights_only=True)

    # one process, batches of 2 x 2 windows in the order the distributed sampler draws (seed, epoch)
    sampler = DistributedSampler(w.windows(), num_replicas=1, rank=0, shuffle=True, seed=w.CFG.seed)
    loader = DataLoader(w.windows(), batch_size=4, sampler=sampler, drop_last=True)
    single = train(w.tiny_gpt(), loader, None, w.CFG, progress=False)
    assert distributed["step"] == single["step"] == list(range(1, 7))
    assert distributed["tokens_seen"] == single["tokens_seen"]  # 2 processes x 2 micro-batches x 2 x 16
    assert distributed["loss"] == pytest.approx(single["loss"], abs=1e-5)
    assert distributed["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-4)
    assert distributed["train_loss"] == pytest.approx(single["train_loss"], abs=1e-5)
