"""Training and generation speed of the book's GPTModel against two reference implementations.

Two comparisons of one full training step (forward, cross-entropy, backward, AdamW update),
measured side by side in one run, for GPT-2 small (124M) and for a small model:

* **same precision** (float32, the same architecture, configuration and optimizer):
  ``ours`` (:class:`llm_anatomy.gpt.GPTModel`), ``llms_from_scratch``
  (``llms_from_scratch.ch04.GPTModel``, Raschka's book) and ``transformers``
  (Hugging Face's ``GPT2LMHeadModel``, its default attention);
* **best configuration** of each, as its own documentation runs it: ``ours_best`` (bfloat16
  autocast and ``torch.compile``, fused AdamW), ``transformers_best`` (bfloat16 autocast,
  ``attn_implementation="sdpa"``, fused AdamW, the default optimizer of its ``Trainer``) and
  ``llms_from_scratch`` as its book runs it (float32, its own code: the same runner as in
  the first comparison).

All the models step in one interleaved loop: every round draws a fresh random batch (outside
the timed region), and each model takes one step on it, in an order rotated from round to
round; warm-up rounds (compilation included) come first and are not timed. The median and
the spread (quartiles, min, max) of the timed steps are reported, with a check for a
slowdown trend across steps (the sign of denormal numbers, or of a machine that slows down)
and whether ``torch.set_flush_denormal`` is available and used.

Model FLOP/s are reported as fractions of the float32 *and* bfloat16 matrix-product peaks,
both measured in the same run. Generation: 200 new tokens from the 124M architecture with
random weights, greedy, with our KV cache (float32, and under bfloat16 autocast), without a
cache, and with ``transformers``' ``generate`` (float32 and bfloat16); the same weights are
loaded into both and the tokens compared. Each target of the book that a run does not meet
gets a ``torch.profiler`` breakdown of one step of both sides, with a one-line explanation.

Usage (from the repository root)::

    PYTHONPATH=src python bench/gpt_throughput.py             # writes src/llm_anatomy/results/gpt_throughput.json
    PYTHONPATH=src python bench/gpt_throughput.py --quick     # a tiny smoke run, nothing written
    PYTHONPATH=src python bench/gpt_throughput.py --device cuda   # writes .../gpt_throughput_cuda.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from llms_from_scratch.ch04 import GPTModel as RaschkaGPTModel
from transformers import GPT2Config, GPT2LMHeadModel

from llm_anatomy.device import get_device
from llm_anatomy.gpt import GPTConfig, GPTModel, generate, load_hf_state_dict

# The pages read the results from the reader's package (llm_anatomy.results.load).
RESULTS = Path(__file__).resolve().parents[1] / "src" / "llm_anatomy" / "results"

# The training configurations: the Python GPT of bench/train_python_gpt.py, and GPT-2 small at context 256.
CONFIGS = {
    "small": {
        "cfg": GPTConfig(vocab_size=4096, context_length=256, emb_dim=192, n_heads=4, n_layers=4,
                         drop_rate=0.0, qkv_bias=True),
        "batch_size": 8,
    },
    "gpt2-124M": {
        "cfg": GPTConfig.from_preset("gpt2-small", context_length=256, drop_rate=0.0, qkv_bias=True),
        "batch_size": 2,
    },
}
SAME_PRECISION = ("ours", "llms_from_scratch", "transformers")
BEST = ("ours_best", "llms_from_scratch", "transformers_best")
TARGETS = {  # ratio of tokens/s that the book aims for on its build machine
    "same_precision_vs_transformers": ("ours", "transformers", 1.05),
    "best_vs_llms_from_scratch": ("ours_best", "llms_from_scratch", 2.0),
    "best_vs_transformers_best": ("ours_best", "transformers_best", 1.2),
    "generation_vs_transformers": ("ours_kv_cache", "transformers_generate", 1.3),
}
TREND_LIMIT = 1.15  # last third of the steps this much slower than the first, relative to the others: a trend


def machine(device: torch.device) -> dict:
    """What the numbers were measured on."""
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "platform": platform.platform(),
        "processor": cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the widest vector instructions torch uses
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_at_start": load_average(),
    }


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (runnable processes), where the OS reports them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _timed(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    """``fn()`` and its wall-clock seconds, waiting for the device's queued kernels to finish."""
    sync = getattr(torch, device.type).synchronize  # torch.cpu/cuda/mps.synchronize
    sync()
    start = time.perf_counter()
    result = fn()
    sync()
    return result, time.perf_counter() - start


def matmul_peak(device: torch.device, dtype: torch.dtype, repeats: int = 10) -> dict:
    """FLOP/s of the fastest of ``repeats`` ``(n, n) @ (n, n)`` products in ``dtype``.

    ``n`` grows from 512 to 2048 (8192 on a GPU), big enough to keep the device busy, but
    stops growing once one product takes over 0.2 s: a CPU without bfloat16 instructions
    emulates them hundreds of times slower than float32, and a 2048 product would take minutes.
    """
    n, largest = 512, 2048 if device.type == "cpu" else 8192
    while True:
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
        _, seconds = _timed(lambda a=a, b=b: a @ b, device)  # also the warm-up
        if n >= largest or seconds > 0.2:
            break
        n *= 2
    best = min(_timed(lambda: a @ b, device)[1] for _ in range(repeats if seconds < 1 else 2))
    return {"flops_per_s": 2 * n**3 / best, "n": n}


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


def hf_config(cfg: GPTConfig, **extra: object) -> GPT2Config:
    return GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.context_length, n_embd=cfg.emb_dim,
        n_layer=cfg.n_layers, n_head=cfg.n_heads, resid_pdrop=cfg.drop_rate, embd_pdrop=cfg.drop_rate,
        attn_pdrop=cfg.drop_rate, activation_function="gelu_new", tie_word_embeddings=True,
        bos_token_id=cfg.vocab_size - 1, eos_token_id=cfg.vocab_size - 1, **extra,
    )  # fmt: skip


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision in ``dtype`` on ``device``, or nothing for ``None`` (plain float32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


@dataclass
class Runner:
    """One model in one configuration: how it is built, and one training step of it."""

    name: str
    description: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    dtype: torch.dtype | None = None  # autocast dtype, None = float32
    compiled: bool = False
    times: list[float] = field(default_factory=list)
    warmup_times: list[float] = field(default_factory=list)

    def step(self, inputs: torch.Tensor, targets: torch.Tensor, device: torch.device) -> None:
        with autocast(device, self.dtype):
            out = self.model(inputs)
        logits = out.logits if hasattr(out, "logits") else out  # (B, T, V); transformers returns an object
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())  # the loss in float32
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def build_runners(cfg: GPTConfig, device: torch.device, best_dtype: torch.dtype | None,
                  seed: int = 0) -> dict[str, Runner]:
    """The same architecture in three codes in float32, then ours and transformers at their best.

    Their best is autocast to ``best_dtype`` (``None``: float32, where bfloat16 is slower),
    ``torch.compile`` for ours, SDPA attention for transformers, and fused AdamW for both.
    """
    precision = "bfloat16 autocast" if best_dtype else "float32"
    torch.manual_seed(seed)
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    ours = GPTModel(cfg).to(device)
    raschka = RaschkaGPTModel({
        "vocab_size": cfg.vocab_size, "context_length": cfg.context_length, "emb_dim": cfg.emb_dim,
        "n_heads": cfg.n_heads, "n_layers": cfg.n_layers, "drop_rate": cfg.drop_rate, "qkv_bias": cfg.qkv_bias,
    })  # fmt: skip
    raschka.out_head.weight = raschka.tok_emb.weight  # tie the head, as GPT-2 (and the two others) do
    raschka = raschka.to(device)
    hf = GPT2LMHeadModel(hf_config(cfg)).to(device)
    runners = {
        "ours": Runner("ours", "GPTModel, float32", ours, torch.optim.AdamW(ours.parameters(), lr=1e-4)),
        "llms_from_scratch": Runner("llms_from_scratch", "llms_from_scratch.ch04.GPTModel, float32 (as its book runs it)",
                                    raschka, torch.optim.AdamW(raschka.parameters(), lr=1e-4)),
        "transformers": Runner("transformers", f"GPT2LMHeadModel, float32, attention "
                               f"{hf.config._attn_implementation!r} (its default)",
                               hf, torch.optim.AdamW(hf.parameters(), lr=1e-4)),
    }  # fmt: skip
    ours_best = GPTModel(cfg).to(device)
    hf_best = GPT2LMHeadModel(hf_config(cfg, attn_implementation="sdpa")).to(device)
    runners["ours_best"] = Runner(
        "ours_best", f"GPTModel, {precision}, torch.compile, fused AdamW", torch.compile(ours_best),
        torch.optim.AdamW(ours_best.parameters(), lr=1e-4, **fused), dtype=best_dtype, compiled=True)
    runners["transformers_best"] = Runner(
        "transformers_best", f"GPT2LMHeadModel, {precision}, attn_implementation='sdpa', fused AdamW",
        hf_best, torch.optim.AdamW(hf_best.parameters(), lr=1e-4, **fused), dtype=best_dtype)
    for runner in runners.values():
        runner.model.train()
    return runners


def trend(times: list[float]) -> float:
    """Median of the last third of ``times`` over the median of the first third."""
    third = max(1, len(times) // 3)
    return statistics.median(times[-third:]) / statistics.median(times[:third])


def spread(times: list[float], round_medians: list[float]) -> dict:
    """Median, quartiles, extremes and a trend check of one model's step times.

    ``round_medians`` holds, for each round, the median step time of all the models: a
    model's time divided by it cancels what the machine does to every model alike (load),
    so a trend left in the ratio is the model's own, as denormal numbers would make it.
    """
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else times * 3
    relative = trend([t / m for t, m in zip(times, round_medians, strict=True)])
    return {
        "median": median, "q1": q1, "q3": q3, "min": min(times), "max": max(times),
        "iqr_fraction": (q3 - q1) / median,  # the spread relative to the median
        "last_third_over_first_third": trend(times),  # the machine's drift included
        "relative_to_other_models_last_over_first_third": relative,
        "slowdown_trend": relative > TREND_LIMIT,
    }  # fmt: skip


def time_training(cfg: GPTConfig, batch_size: int, steps: int, warmup: int, device: torch.device,
                  best_dtype: torch.dtype | None) -> tuple[dict[str, Runner], Callable[[], tuple[torch.Tensor, torch.Tensor]], list]:
    """Step every runner once per round on a fresh batch, in a rotating order; warm-up rounds first."""
    runners = build_runners(cfg, device, best_dtype)
    generator = torch.Generator().manual_seed(0)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        data = torch.randint(cfg.vocab_size, (batch_size, cfg.context_length + 1), generator=generator)
        data = data.to(device)  # (B, T + 1)
        return data[:, :-1], data[:, 1:]

    names, loads = list(runners), []
    for round_ in range(warmup + steps):
        inputs, targets = batch()  # fresh every round, drawn outside the timed region
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:  # each model goes first in turn
            runner = runners[name]
            _, seconds = _timed(lambda r=runner, x=inputs, y=targets: r.step(x, y, device), device)
            (runner.warmup_times if round_ < warmup else runner.times).append(seconds)
        loads.append(load_average())
        kind = "warm-up" if round_ < warmup else "timed"
        last = {n: (r.times or r.warmup_times)[-1] for n, r in runners.items()}
        print(f"  round {round_} ({kind}): " + ", ".join(f"{n} {t:.2f}s" for n, t in last.items()), flush=True)
    return runners, batch, loads


MATMUL_OPS = ("mm", "matmul", "linear", "addmm", "bmm", "mkldnn", "onednn", "gemm")
ATTENTION_OPS = ("scaled_dot_product", "flash", "attention")
OPTIMIZER_OPS = ("adam", "_foreach", "optimizer")


def categorize(name: str) -> str:
    lower = name.lower()
    if any(op in lower for op in ATTENTION_OPS):
        return "attention"
    if any(op in lower for op in OPTIMIZER_OPS):
        return "optimizer"
    if any(op in lower for op in MATMUL_OPS):
        return "matmul"
    return "other"


def profile(fn: Callable[[], object], device: torch.device, top: int = 8) -> dict:
    """Where ``fn``'s time goes, from ``torch.profiler``: the top operations and shares by kind."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        _timed(fn, device)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0 or e.self_device_time_total > 0]
    use_device = device.type == "cuda"

    def cost(e) -> float:  # microseconds of the event itself, without its children
        return e.self_device_time_total if use_device else e.self_cpu_time_total

    total = sum(cost(e) for e in events) or 1.0
    shares: dict[str, float] = {}
    for e in events:
        shares[categorize(e.key)] = shares.get(categorize(e.key), 0.0) + cost(e) / total
    ranked = sorted(events, key=cost, reverse=True)[:top]
    return {
        "measured": "device self time" if use_device else "CPU self time",
        "total_ms": total / 1e3,
        "share_by_kind": {k: round(v, 4) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])},
        "top_ops": [{"op": e.key, "ms": round(cost(e) / 1e3, 2), "share": round(cost(e) / total, 4),
                     "calls": e.count} for e in ranked],
    }  # fmt: skip


def explain(ours: str, theirs: str, ratio: float, target: float, profiles: dict) -> str:
    """A one-line reason, from the two profiles, why ``ours`` is not ``target`` times faster."""
    a, b = profiles[ours], profiles[theirs]
    dense = {n: p["share_by_kind"].get("matmul", 0) + p["share_by_kind"].get("attention", 0) for n, p in profiles.items()}
    return (f"{ratio:.2f}x, target {target}x: {ours} spends {dense[ours]:.0%} of its profiled time in matrix "
            f"products and attention ({a['total_ms']:.0f} ms in all, top op {a['top_ops'][0]['op']}), {theirs} "
            f"{dense[theirs]:.0%} ({b['total_ms']:.0f} ms, top op {b['top_ops'][0]['op']}); where both are "
            "dominated by the same library kernels, the calling code has little left to win")


def time_generation(new_tokens: int, repeats: int, device: torch.device, bf16: bool,
                    prompt_tokens: int = 8) -> tuple[dict, dict]:
    """Greedy generation with the 124M architecture, random weights shared by ours and transformers.

    With ``bf16``, ours and transformers also generate under bfloat16 autocast.
    """
    cfg = GPTConfig.from_preset("gpt2-small", drop_rate=0.0, qkv_bias=True)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(hf_config(cfg, attn_implementation="sdpa")).eval()
    ours = load_hf_state_dict(GPTModel(cfg), hf.state_dict()).eval().to(device)
    hf = hf.to(device)
    prompt = torch.randint(cfg.vocab_size - 1, (1, prompt_tokens), generator=torch.Generator().manual_seed(1))
    prompt = prompt.to(device)  # (1, prompt_tokens)

    def hf_generate(n: int = new_tokens) -> torch.Tensor:
        return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, use_cache=True, pad_token_id=cfg.vocab_size - 1)

    def in_bf16(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def run(*args: object) -> torch.Tensor:
            with autocast(device, torch.bfloat16):
                return fn(*args)
        return run

    runs: dict[str, Callable[..., torch.Tensor]] = {
        "ours_kv_cache": lambda n=new_tokens: generate(ours, prompt, n, use_cache=True),
        "transformers_generate": hf_generate,
        "ours_no_cache": lambda n=new_tokens: generate(ours, prompt, n, use_cache=False),
    }
    if bf16:
        runs["ours_kv_cache_bf16"] = in_bf16(lambda n=new_tokens: generate(ours, prompt, n, use_cache=True))
        runs["transformers_generate_bf16"] = in_bf16(hf_generate)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    with torch.no_grad():
        for run in runs.values():
            run(2)  # warm-up
        names = [n for n in runs if n != "ours_no_cache"]
        for round_ in range(repeats):  # interleaved, the order rotated, so that load changes hit all alike
            shift = round_ % len(names)
            order = names[shift:] + names[:shift] + (["ours_no_cache"] if round_ == 0 else [])  # ten times slower: once
            for name in order:
                outputs[name], elapsed = _timed(runs[name], device)
                seconds[name].append(elapsed)
                print(f"  {name}: {elapsed:.1f} s, {new_tokens / elapsed:.1f} tokens/s", flush=True)
    results = {
        name: {"seconds": times, "median_seconds": statistics.median(times),
               "tokens_per_s": new_tokens / statistics.median(times),
               "min_max_tokens_per_s": [new_tokens / max(times), new_tokens / min(times)]}
        for name, times in seconds.items()
    }  # fmt: skip
    reference = outputs["ours_kv_cache"]
    results["same_tokens_as_ours_kv_cache_float32"] = {n: bool(torch.equal(o, reference)) for n, o in outputs.items()}
    if bf16:  # bfloat16 rounding may flip a close argmax: count the new tokens that agree before the first flip
        agree = outputs["transformers_generate_bf16"] == outputs["ours_kv_cache_bf16"]  # (1, T)
        results["bf16_leading_tokens_agreeing"] = int(agree[0, prompt_tokens:].cumprod(0).sum())
    # with the cache, the new token attends to the prompt and the tokens generated so far
    results["flops_per_token_forward"] = forward_flops_per_token(cfg, prompt_tokens + new_tokens / 2)
    results["compiled"] = False  # torch.compile of a growing KV cache recompiles per length: not timed here
    results["new_tokens"], results["prompt_tokens"] = new_tokens, prompt_tokens
    profilable = {name: (lambda run=run: run(20)) for name, run in runs.items() if name != "ours_no_cache"}
    return results, profilable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per model (124M)")
    parser.add_argument("--small-steps", type=int, default=20, help="timed training steps per model (small)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up rounds (compilation included)")
    parser.add_argument("--new-tokens", type=int, default=200, help="tokens to generate")
    parser.add_argument("--gen-repeats", type=int, default=3, help="timed generations with a cache (median)")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True) during the run (default: off, as readers run)")
    parser.add_argument("--best-dtype", choices=["auto", "bfloat16", "float32"], default="auto",
                        help="autocast of the best configurations (auto: bfloat16 where its matmul beats float32's)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run; writes nothing")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N, mps")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: src/llm_anatomy/results/gpt_throughput.json, _DEVICE.json off the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.small_steps, args.warmup, args.new_tokens, args.gen_repeats = 2, 2, 1, 5, 1

    device = get_device(args.device)
    if args.out is None:
        suffix = "" if device.type == "cpu" else f"_{device.type}"
        args.out = RESULTS / f"gpt_throughput{suffix}.json"
    start = time.perf_counter()
    report = {"command": "python bench/gpt_throughput.py " + " ".join(sys.argv[1:]), "machine": machine(device)}
    # set_flush_denormal returns whether the CPU supports flushing (x86 with SSE3); restore the default after asking
    supported = torch.set_flush_denormal(True)
    torch.set_flush_denormal(args.flush_denormal and supported)
    report["denormals"] = {"flush_denormal_supported": supported, "flush_denormal_used": args.flush_denormal and supported,
                           "fresh_batch_every_step": True, "trend_limit": TREND_LIMIT}

    peaks: dict[str, list[dict]] = {"float32": [], "bfloat16": []}

    def measure_peaks(when: str) -> None:
        for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            peaks[dtype_name].append(matmul_peak(device, dtype))
            print(f"{dtype_name} matmul peak ({when}): {peaks[dtype_name][-1]['flops_per_s'] / 1e9:,.1f} GFLOP/s "
                  f"(n = {peaks[dtype_name][-1]['n']})", flush=True)

    measure_peaks("start")
    # the best configuration uses bfloat16 where this device multiplies it faster than float32
    bf16_gain = peaks["bfloat16"][0]["flops_per_s"] / peaks["float32"][0]["flops_per_s"]
    best_dtype = {"auto": torch.bfloat16 if bf16_gain > 1 else None, "bfloat16": torch.bfloat16,
                  "float32": None}[args.best_dtype]
    report["best_dtype"] = {
        "choice": args.best_dtype, "used": "bfloat16" if best_dtype else "float32",
        "bfloat16_over_float32_matmul": bf16_gain,
    }  # fmt: skip
    print(f"best configurations in {report['best_dtype']['used']} (bfloat16 matmul x{bf16_gain:.2f} float32)", flush=True)
    report["training"] = {}
    for label, setup in CONFIGS.items():
        cfg, batch_size = setup["cfg"], setup["batch_size"]
        steps = args.steps if label == "gpt2-124M" else args.small_steps
        if args.quick and label == "gpt2-124M":
            continue
        print(f"training step, {label}: batch {batch_size} x {cfg.context_length} tokens", flush=True)
        runners, batch, loads = time_training(cfg, batch_size, steps, args.warmup, device, best_dtype)
        tokens = batch_size * cfg.context_length
        flops = training_flops_per_token(cfg) * tokens
        models = {}
        round_medians = [statistics.median(step) for step in zip(*(r.times for r in runners.values()), strict=True)]
        for name, r in runners.items():
            s = spread(r.times, round_medians)
            models[name] = {
                "description": r.description, "autocast": str(r.dtype) if r.dtype else None, "compiled": r.compiled,
                "step_seconds": r.times, "warmup_step_seconds": r.warmup_times, "step_seconds_spread": s,
                "median_step_seconds": s["median"], "tokens_per_s": tokens / s["median"],
                "tokens_per_s_iqr": [tokens / s["q3"], tokens / s["q1"]],
                "tokens_per_s_min_max": [tokens / s["max"], tokens / s["min"]],
                "model_flops_per_s": flops / s["median"],
            }  # fmt: skip
            print(f"  {name:18} {models[name]['tokens_per_s']:8.0f} tokens/s (IQR {s['iqr_fraction']:.0%}, "
                  f"trend x{s['relative_to_other_models_last_over_first_third']:.2f})  {models[name]['model_flops_per_s'] / 1e9:6.1f} GFLOP/s")

        def ratio(a: str, b: str, models: dict = models) -> dict:
            """tokens/s of ``a`` over ``b``: of the medians, and of the quartiles (worst and best case)."""
            x, y = models[a], models[b]
            return {"median": x["tokens_per_s"] / y["tokens_per_s"],
                    "iqr": [x["tokens_per_s_iqr"][0] / y["tokens_per_s_iqr"][1],
                            x["tokens_per_s_iqr"][1] / y["tokens_per_s_iqr"][0]]}  # fmt: skip

        report["training"][label] = {
            "config": {**vars(cfg), "batch_size": batch_size},
            "tokens_per_step": tokens, "flops_per_token": training_flops_per_token(cfg),
            "timed_steps": steps, "warmup_rounds": args.warmup, "load_average_each_round": loads,
            "same_precision": {"models": list(SAME_PRECISION), "ours_vs_llms_from_scratch": ratio("ours", "llms_from_scratch"),
                               "ours_vs_transformers": ratio("ours", "transformers")},
            "best": {"models": list(BEST), "ours_vs_llms_from_scratch": ratio("ours_best", "llms_from_scratch"),
                     "ours_vs_transformers": ratio("ours_best", "transformers_best"),
                     "ours_best_vs_ours_float32": ratio("ours_best", "ours")},
            "models": models,
        }  # fmt: skip
        profiles_todo = []
        for key, (ours, theirs, target) in TARGETS.items():
            if ours in models and models[ours]["tokens_per_s"] / models[theirs]["tokens_per_s"] < target:
                profiles_todo.append((key, {n: runners[n] for n in (ours, theirs)}))
        # profile now, while the models exist; free them before the next configuration
        inputs, targets = batch()
        profiled: dict[str, dict] = {}  # one profiled step per model, shared by the targets it takes part in
        for key, pair in profiles_todo:
            for n, r in pair.items():
                if n not in profiled:
                    profiled[n] = profile(lambda r=r, x=inputs, y=targets: r.step(x, y, device), device)
            profiles = {n: profiled[n] for n in pair}
            ours, theirs, target = TARGETS[key]
            report["training"][label].setdefault("profiles", {})[key] = {
                "profiles": profiles,
                "why": explain(ours, theirs, models[ours]["tokens_per_s"] / models[theirs]["tokens_per_s"], target, profiles),
            }
        del runners, batch, profiles_todo

    print(f"generation, 124M architecture, {args.new_tokens} new tokens", flush=True)
    gen, gen_runs = time_generation(args.new_tokens, args.gen_repeats, device, bf16=best_dtype is not None)
    for suffix in ("", "_bf16") if best_dtype else ("",):
        gen[f"ours_vs_transformers{suffix}"] = (gen[f"ours_kv_cache{suffix}"]["tokens_per_s"]
                                                / gen[f"transformers_generate{suffix}"]["tokens_per_s"])
    gen["kv_cache_vs_no_cache"] = gen["ours_kv_cache"]["tokens_per_s"] / gen["ours_no_cache"]["tokens_per_s"]
    ours, theirs, target = TARGETS["generation_vs_transformers"]
    if gen["ours_vs_transformers"] < target:
        with torch.no_grad():
            profiles = {n: profile(gen_runs[n], device) for n in (ours, theirs)}
        gen["profiles"] = {"profiles": profiles, "why": explain(ours, theirs, gen["ours_vs_transformers"], target, profiles)}
    report["generation"] = gen

    measure_peaks("end")
    report["matmul_peak_flops"] = {name: max(v["flops_per_s"] for v in values) for name, values in peaks.items()}
    report["matmul_peak_flops_start_end"] = peaks
    report["machine"]["load_average_at_end"] = load_average()
    peak32, peak16 = report["matmul_peak_flops"]["float32"], report["matmul_peak_flops"]["bfloat16"]
    for result in report["training"].values():
        for m in result["models"].values():
            m["fraction_of_float32_peak"] = m["model_flops_per_s"] / peak32
            m["fraction_of_bfloat16_peak"] = m["model_flops_per_s"] / peak16
    for name in [n for n in gen_runs if n in gen] + ["ours_no_cache"]:
        flops_per_s = gen["flops_per_token_forward"] * gen[name]["tokens_per_s"]
        gen[name].update(model_flops_per_s=flops_per_s, fraction_of_float32_peak=flops_per_s / peak32,
                         fraction_of_bfloat16_peak=flops_per_s / peak16)

    targets = {}
    for key, (ours, theirs, target) in TARGETS.items():
        if key == "generation_vs_transformers":
            targets[key] = {"target": target, "ratio": {"generation": gen["ours_vs_transformers"]},
                            "why": gen.get("profiles", {}).get("why")}
        else:
            targets[key] = {"target": target, "why": {},
                            "ratio": {label: r["models"][ours]["tokens_per_s"] / r["models"][theirs]["tokens_per_s"]
                                      for label, r in report["training"].items()}}  # fmt: skip
            for label, r in report["training"].items():
                if key in r.get("profiles", {}):
                    targets[key]["why"][label] = r["profiles"][key]["why"]
        targets[key]["met"] = {k: v >= target for k, v in targets[key]["ratio"].items()}
    report["targets"] = targets
    report["any_slowdown_trend"] = any(m["step_seconds_spread"]["slowdown_trend"]
                                       for r in report["training"].values() for m in r["models"].values())
    report["wall_seconds"] = time.perf_counter() - start

    print(json.dumps(targets, indent=1))
    print(f"wall time {report['wall_seconds'] / 60:.1f} min; load average at start {report['machine']['load_average_at_start']},"
          f" at end {report['machine']['load_average_at_end']}")
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
