"""Training and generation speed of the book's GPTModel against two reference implementations.

Training: tokens per second of one full training step (forward, cross-entropy, backward,
AdamW update) for

* ``ours``: :class:`llm_anatomy.gpt.GPTModel` (chapter 13) as the book uses it, with torch's
  fused LayerNorm and GELU kernels (``fused_kernels=True``, the default);
* ``ours_formulas``: the same model with chapter 13's LayerNorm and GELU written from their
  formulas (``fused_kernels=False``);
* ``llms_from_scratch``: ``llms_from_scratch.ch04.GPTModel`` (Raschka's book, as installed);
* ``transformers``: Hugging Face's ``GPT2LMHeadModel``;

with the same architecture (GPT-2's, qkv bias, tied output head, no dropout), the same batch
and the same optimizer, timed in turn in one process. Generation: 200 new tokens from the
124M architecture with random weights, greedily, with our KV cache, without it, and with
``transformers``' ``generate`` (the same weights loaded into both). Achieved FLOP/s are
compared with the peak of a large float32 matrix product measured on the same machine.

Usage (from the repository root)::

    PYTHONPATH=src python bench/gpt_throughput.py            # writes bench/results/gpt_throughput.json
    PYTHONPATH=src python bench/gpt_throughput.py --quick    # a tiny smoke run, nothing written
    PYTHONPATH=src python bench/gpt_throughput.py --device cuda  # writes bench/results/gpt_throughput_cuda.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from llms_from_scratch.ch04 import GPTModel as RaschkaGPTModel
from transformers import GPT2Config, GPT2LMHeadModel

from llm_anatomy.device import get_device
from llm_anatomy.gpt import GPTConfig, GPTModel, generate, load_hf_state_dict

RESULTS = Path(__file__).parent / "results"

# The training configurations: GPT-2 small at context 256, and the Python GPT of bench/train_python_gpt.py.
CONFIGS = {
    "gpt2-124M": {
        "cfg": GPTConfig.from_preset("gpt2-small", context_length=256, drop_rate=0.0, qkv_bias=True),
        "batch_size": 2,
    },
    "small": {
        "cfg": GPTConfig(vocab_size=4096, context_length=256, emb_dim=192, n_heads=4, n_layers=4,
                         drop_rate=0.0, qkv_bias=True),
        "batch_size": 8,
    },
}


def machine(device: torch.device) -> dict:
    """What the numbers were measured on."""
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def matmul_peak(device: torch.device, repeats: int = 10) -> float:
    """FLOP/s of the fastest of ``repeats`` float32 ``(n, n) @ (n, n)`` products."""
    n = 2048 if device.type == "cpu" else 8192  # big enough to keep the device busy
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b, device)[1] for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn, device: torch.device) -> tuple[object, float]:
    """``fn()`` and its wall-clock seconds, waiting for the device's queued kernels to finish."""
    sync = getattr(torch, device.type).synchronize  # torch.cpu/cuda/mps.synchronize
    sync()
    start = time.perf_counter()
    result = fn()
    sync()
    return result, time.perf_counter() - start


def matmul_weights(cfg: GPTConfig) -> int:
    """Weights that multiply activations: every linear layer and the output head.

    Embedding lookups cost no multiplications, and biases and LayerNorms are negligible.
    """
    C, L, V = cfg.emb_dim, cfg.n_layers, cfg.vocab_size
    return L * (3 * C * C + C * C + 2 * 4 * C * C) + C * V


def forward_flops_per_token(cfg: GPTConfig, attended: float) -> float:
    """``2 N`` for the matrix products plus ``4 L C`` per attended position (scores and values)."""
    return 2 * matmul_weights(cfg) + 4 * cfg.n_layers * attended * cfg.emb_dim


def training_flops_per_token(cfg: GPTConfig) -> float:
    """Forward + backward FLOPs per token, ``6 N + 12 L T C``: three times a forward pass.

    Attention is counted over the full ``T x T`` score matrix, as the kernels compute it.
    This is the estimate of the PaLM paper (appendix B) and nanoGPT.
    """
    return 3 * forward_flops_per_token(cfg, cfg.context_length)


def build_models(cfg: GPTConfig, seed: int = 0) -> dict[str, torch.nn.Module]:
    """The same architecture three times."""
    torch.manual_seed(seed)
    ours = GPTModel(cfg)
    raschka = RaschkaGPTModel({
        "vocab_size": cfg.vocab_size, "context_length": cfg.context_length, "emb_dim": cfg.emb_dim,
        "n_heads": cfg.n_heads, "n_layers": cfg.n_layers, "drop_rate": cfg.drop_rate, "qkv_bias": cfg.qkv_bias,
    })  # fmt: skip
    raschka.out_head.weight = raschka.tok_emb.weight  # tie the head, as GPT-2 (and the two others) do
    hf = GPT2LMHeadModel(hf_config(cfg))
    formulas = GPTModel(dataclasses.replace(cfg, fused_kernels=False))
    return {"ours": ours, "ours_formulas": formulas, "llms_from_scratch": raschka, "transformers": hf}


def hf_config(cfg: GPTConfig) -> GPT2Config:
    return GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.context_length, n_embd=cfg.emb_dim,
        n_layer=cfg.n_layers, n_head=cfg.n_heads, resid_pdrop=cfg.drop_rate, embd_pdrop=cfg.drop_rate,
        attn_pdrop=cfg.drop_rate, activation_function="gelu_new", tie_word_embeddings=True,
        bos_token_id=cfg.vocab_size - 1, eos_token_id=cfg.vocab_size - 1,
    )  # fmt: skip


def logits_of(model: torch.nn.Module, idx: torch.Tensor) -> torch.Tensor:
    out = model(idx)
    return out.logits if hasattr(out, "logits") else out  # transformers returns an output object


def time_training(cfg: GPTConfig, batch_size: int, steps: int, device: torch.device) -> dict:
    """Seconds per training step of each model, timed in turn (one step each, round after round)."""
    models = {name: model.to(device) for name, model in build_models(cfg).items()}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    generator = torch.Generator().manual_seed(0)
    data = torch.randint(cfg.vocab_size, (batch_size, cfg.context_length + 1), generator=generator).to(device)
    inputs, targets = data[:, :-1], data[:, 1:]
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(steps + 1):  # round 0 warms up (allocations, optimizer state)
        for name, model in models.items():
            model.train()

            def step(model=model, optimizer=optimizers[name]):
                loss = F.cross_entropy(logits_of(model, inputs).flatten(0, 1), targets.flatten())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            _, seconds = _timed(step, device)
            if round_ > 0:
                times[name].append(seconds)
        print(f"  round {round_}: " + ", ".join(f"{n} {t[-1]:.2f}s" for n, t in times.items() if t), flush=True)
    return times


def time_generation(new_tokens: int, repeats: int, device: torch.device, prompt_tokens: int = 8) -> dict:
    """Greedy generation with the 124M architecture, random weights shared by ours and transformers."""
    cfg = GPTConfig.from_preset("gpt2-small", drop_rate=0.0, qkv_bias=True)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(hf_config(cfg)).eval()
    ours = load_hf_state_dict(GPTModel(cfg), hf.state_dict()).eval().to(device)
    hf = hf.to(device)
    prompt = torch.randint(cfg.vocab_size - 1, (1, prompt_tokens), generator=torch.Generator().manual_seed(1))
    prompt = prompt.to(device)
    runs = {
        "ours_kv_cache": lambda: generate(ours, prompt, new_tokens, use_cache=True),
        "ours_no_cache": lambda: generate(ours, prompt, new_tokens, use_cache=False),
        "transformers_generate": lambda: hf.generate(
            prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, use_cache=True, pad_token_id=cfg.vocab_size - 1,
        ),
    }  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    with torch.no_grad():
        generate(ours, prompt, 2)  # warm-up
        for round_ in range(repeats):  # in turn, so that load changes hit all alike
            for name, run in runs.items():
                if name == "ours_no_cache" and round_ > 0:
                    continue  # ten times slower: timed once
                outputs[name], elapsed = _timed(run, device)
                seconds[name].append(elapsed)
                print(f"  {name}: {seconds[name][-1]:.1f} s, {new_tokens / seconds[name][-1]:.1f} tokens/s", flush=True)
    results = {
        name: {"seconds": times, "median_seconds": statistics.median(times),
               "tokens_per_s": new_tokens / statistics.median(times)}
        for name, times in seconds.items()
    }  # fmt: skip
    reference = outputs["ours_kv_cache"]
    results["same_tokens"] = {name: bool(torch.equal(out, reference)) for name, out in outputs.items()}
    # with the cache, the new token attends to the prompt and the tokens generated so far
    results["flops_per_token_forward"] = forward_flops_per_token(cfg, prompt_tokens + new_tokens / 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model (124M)")
    parser.add_argument("--small-steps", type=int, default=20, help="timed training steps per model (small)")
    parser.add_argument("--new-tokens", type=int, default=200, help="tokens to generate")
    parser.add_argument("--gen-repeats", type=int, default=3, help="timed generations with a cache (median)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run; writes nothing")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N, mps")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: results/gpt_throughput.json, _DEVICE.json off the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.small_steps, args.new_tokens, args.gen_repeats = 1, 1, 5, 1

    device = get_device(args.device)
    if args.out is None:
        suffix = "" if device.type == "cpu" else f"_{device.type}"
        args.out = RESULTS / f"gpt_throughput{suffix}.json"
    report = {"machine": machine(device)}
    print(f"measuring the float32 matmul peak on {device} ...", flush=True)
    peak_start = matmul_peak(device)  # measured again at the end; the larger value is the peak
    print(f"  {peak_start / 1e9:.1f} GFLOP/s", flush=True)

    report["training"] = {}
    for label, setup in CONFIGS.items():
        cfg, batch_size = setup["cfg"], setup["batch_size"]
        steps = args.steps if label == "gpt2-124M" else args.small_steps
        if args.quick and label == "gpt2-124M":
            continue
        print(f"training step, {label}: batch {batch_size} x {cfg.context_length} tokens", flush=True)
        times = time_training(cfg, batch_size, steps, device)
        tokens = batch_size * cfg.context_length
        flops = training_flops_per_token(cfg) * tokens
        models = {}
        for name, seconds in times.items():
            median = statistics.median(seconds)
            models[name] = {
                "step_seconds": seconds,
                "median_step_seconds": median,
                "tokens_per_s": tokens / median,
                "model_flops_per_s": flops / median,
            }
        ours = models["ours"]["tokens_per_s"]
        report["training"][label] = {
            "config": {**vars(cfg), "batch_size": batch_size},
            "tokens_per_step": tokens,
            "flops_per_token": training_flops_per_token(cfg),
            "models": models,
            "speedup_vs_llms_from_scratch": ours / models["llms_from_scratch"]["tokens_per_s"],
            "speedup_vs_transformers": ours / models["transformers"]["tokens_per_s"],
            "speedup_fused_vs_formulas": ours / models["ours_formulas"]["tokens_per_s"],
            "formulas_speedup_vs_llms_from_scratch": models["ours_formulas"]["tokens_per_s"]
            / models["llms_from_scratch"]["tokens_per_s"],
        }
        for name, m in models.items():
            print(f"  {name:18} {m['tokens_per_s']:8.0f} tokens/s  {m['model_flops_per_s'] / 1e9:6.1f} GFLOP/s")

    print(f"generation, 124M architecture, {args.new_tokens} new tokens", flush=True)
    gen = time_generation(args.new_tokens, args.gen_repeats, device)

    peak_end = matmul_peak(device)
    print(f"float32 matmul peak at the end: {peak_end / 1e9:.1f} GFLOP/s", flush=True)
    peak = max(peak_start, peak_end)
    report["matmul_peak_flops"] = peak
    report["matmul_peak_flops_start_end"] = [peak_start, peak_end]
    report["machine"]["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    for result in report["training"].values():
        for m in result["models"].values():
            m["fraction_of_matmul_peak"] = m["model_flops_per_s"] / peak

    gen["speedup_kv_cache_vs_no_cache"] = gen["ours_kv_cache"]["tokens_per_s"] / gen["ours_no_cache"]["tokens_per_s"]
    gen["speedup_kv_cache_vs_transformers"] = (
        gen["ours_kv_cache"]["tokens_per_s"] / gen["transformers_generate"]["tokens_per_s"]
    )
    gen["kv_cache_fraction_of_matmul_peak"] = gen["flops_per_token_forward"] * gen["ours_kv_cache"]["tokens_per_s"] / peak
    gen["new_tokens"] = args.new_tokens
    report["generation"] = gen

    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1, default=str)[:4000])
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
