"""A GPT that learns Python: pretrain a small GPT on the standard library's source code.

The corpus is every ``.py`` file of this Python's standard library (tests excluded), in a
shuffled file order, files separated by ``<|endoftext|>``; the last 10% of the files are held
out for validation. The tokenizer is by default the book's byte-level BPE
(:class:`llm_anatomy.tokenizer.BPETokenizer`) trained on the first ``--bpe-chars`` characters
of the training files, with ``--vocab`` ids, and run through its tiktoken fast path. A
4,096-token vocabulary learned on Python source spends its ids on Python (``self``,
indentation, ``return``) and keeps the embedding and output layers small; GPT-2's 50,257
English-web tokens (``--tokenizer gpt2``, whose rank file is named by ``LLM_ANATOMY_GPT2_RANKS`` or downloaded once) would
make the output layer alone larger than the rest of the model and every step slower.

The model is chapter 13's :class:`llm_anatomy.gpt.GPTModel`, trained with chapter 14's
:func:`llm_anatomy.train.train`. Written to ``--out-dir`` (default ``bench/results``):

* ``python_gpt.json``: configuration, corpus and tokenizer statistics, final losses,
  perplexity, tokens seen, wall time, tokens/s, machine, the loss history and the samples;
* ``python_gpt_loss.png`` and ``.svg``: the loss curves;
* ``python_gpt_samples.txt``: code generated from a few prompts;
* ``python_gpt.pt`` (checkpoint, resumable with ``--resume``) and ``python_gpt_bpe.json``
  (the tokenizer).

Usage (from the repository root)::

    PYTHONPATH=src python bench/train_python_gpt.py --threads 1    # the run chapter 14 shows
    PYTHONPATH=src python bench/train_python_gpt.py --steps 40 --out-dir /tmp/smoke   # a smoke run
    PYTHONPATH=src python bench/train_python_gpt.py --precision bfloat16   # matrix products in bfloat16
    PYTHONPATH=src torchrun --nproc_per_node=2 bench/train_python_gpt.py --batch-size 4   # 2 processes

The committed results were made in float32 by one process; ``--precision bfloat16`` (AMX on
recent CPUs, tensor cores on GPUs), ``--compile`` and ``--accumulation`` are the options of
:class:`llm_anatomy.train.TrainConfig`. Under ``torchrun`` every process runs this script,
``train`` shards the batches (the global batch is ``nproc_per_node * --batch-size``), and
only rank 0 writes results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from llm_anatomy.data import create_dataloader, stdlib_corpus  # noqa: E402
from llm_anatomy.gpt import GPTConfig, GPTModel, generate, num_parameters  # noqa: E402
from llm_anatomy.tokenizer import BPETokenizer, gpt2_ranks_file, load_gpt2_encoding  # noqa: E402
from llm_anatomy.train import TrainConfig, perplexity, train  # noqa: E402

EOT = "<|endoftext|>"
PROMPTS = [
    EOT,
    "def ",
    "import os\n\n\ndef ",
    "class Stack:\n    def __init__(self):\n",
    "    for i in range(",
]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=600, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--context", type=int, default=256, help="context length (tokens per window)")
    p.add_argument("--emb", type=int, default=192, help="embedding width")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=60, help="warmup steps")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=16)
    p.add_argument("--tokenizer", choices=["ours", "gpt2"], default="ours")
    p.add_argument("--vocab", type=int, default=4096, help="BPE vocabulary size (--tokenizer ours)")
    p.add_argument("--bpe-chars", type=int, default=1_000_000, help="characters the BPE is trained on")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the files held out")
    p.add_argument("--sample-tokens", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out-dir")
    p.add_argument("--precision", choices=["float32", "bfloat16", "float16"], default="float32",
                   help="mixed precision of the matrix products (float16: CUDA only)")
    p.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    p.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step")
    return p.parse_args()


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
    }


def load_corpus(val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Standard-library files in a shuffled order, split into training and validation files."""
    files = [f for f in stdlib_corpus(seed=seed, separator=EOT).split(EOT) if f.strip()]
    n_val = max(1, int(len(files) * val_fraction))
    return files[:-n_val], files[-n_val:]


def make_tokenizer(args: argparse.Namespace, train_text: str):
    """A tiktoken ``Encoding``: our BPE trained on Python, or GPT-2's ranks."""
    if args.tokenizer == "gpt2":
        return load_gpt2_encoding(), {"kind": "gpt2", "ranks": str(gpt2_ranks_file())}
    start = time.perf_counter()
    bpe = BPETokenizer().train(train_text[: args.bpe_chars], args.vocab, special_tokens=(EOT,))
    seconds = time.perf_counter() - start
    bpe.save(args.out_dir / "python_gpt_bpe.json")
    info = {"kind": "ours", "vocab_size": bpe.vocab_size, "trained_on_chars": args.bpe_chars,
            "training_seconds": seconds}
    return bpe.to_tiktoken(), info


def plot_losses(history: dict, path_stem: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    steps, losses = history["step"], history["loss"]
    ax.plot(steps, losses, color="0.75", linewidth=0.8, label="training batch")
    ax.plot(history["eval_step"], history["train_loss"], "o-", label="train (eval)")
    ax.plot(history["eval_step"], history["val_loss"], "s-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats/token)")
    ax.set_title("A small GPT learning Python's standard library")
    ax.grid(alpha=0.3)
    ax.legend()
    for suffix in (".png", ".svg"):
        fig.savefig(path_stem.with_suffix(suffix), bbox_inches="tight", dpi=120, metadata=None
                    if suffix == ".png" else {"Date": None})
    plt.close(fig)


def samples(model: GPTModel, encoding, n_tokens: int, seed: int) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    out = []
    for prompt in PROMPTS:
        idx = torch.tensor([encoding.encode(prompt, allowed_special={EOT})])
        for label, kwargs in (("greedy", {}), ("T=0.8, top-k 40", {"temperature": 0.8, "top_k": 40})):
            ids = generate(model, idx, n_tokens, generator=generator, **kwargs)[0].tolist()
            out.append({"prompt": prompt, "decoding": label, "text": encoding.decode(ids)})
    return out


def main() -> None:
    args = parse_args()
    if "RANK" in os.environ:  # started by torchrun: one process of several
        dist.init_process_group("gloo")  # CPU processes; "nccl" for one GPU per process
    rank = dist.get_rank() if dist.is_initialized() else 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    machine_at_start = machine()

    train_files, val_files = load_corpus(args.val_fraction, args.seed)
    train_text, val_text = EOT.join(train_files), EOT.join(val_files)
    encoding, tokenizer_info = make_tokenizer(args, train_text)
    start = time.perf_counter()
    train_ids = encoding.encode(train_text, allowed_special={EOT})
    val_ids = encoding.encode(val_text, allowed_special={EOT})
    encode_seconds = time.perf_counter() - start
    print(f"{len(train_files)} training files, {len(val_files)} validation files; "
          f"{len(train_ids):,} + {len(val_ids):,} tokens ({len(train_text) / len(train_ids):.2f} chars/token)")

    train_loader = create_dataloader(train_ids, args.batch_size, args.context, args.context, seed=args.seed)
    val_loader = create_dataloader(val_ids, args.batch_size, args.context, args.context, shuffle=False)
    model_cfg = GPTConfig(vocab_size=encoding.n_vocab, context_length=args.context, emb_dim=args.emb,
                          n_heads=args.heads, n_layers=args.layers, drop_rate=args.dropout)
    model = GPTModel(model_cfg)
    cfg = TrainConfig(max_steps=args.steps, lr=args.lr, min_lr=args.lr / 10, warmup_steps=args.warmup,
                      eval_every=args.eval_every, eval_batches=args.eval_batches,
                      checkpoint_every=args.eval_every, seed=args.seed, precision=args.precision,
                      compile=args.compile, accumulation_steps=args.accumulation)
    print(f"{num_parameters(model):,} parameters; {cfg}")

    checkpoint = args.out_dir / "python_gpt.pt"
    first_step = torch.load(checkpoint, weights_only=True)["step"] if args.resume else 0
    start = time.perf_counter()
    history = train(model, train_loader, val_loader, cfg, checkpoint_path=checkpoint, resume=args.resume)
    wall = time.perf_counter() - start
    if rank != 0:  # the other processes trained the same model; rank 0 reports
        dist.barrier()
        dist.destroy_process_group()
        return
    tokens_this_run = history["tokens_seen"][-1] - (history["tokens_seen"][first_step - 1] if first_step else 0)
    generated = samples(model, encoding, args.sample_tokens, args.seed)

    final_val = history["val_loss"][-1]
    report = {
        "command": "PYTHONPATH=src python " + " ".join(sys.argv),
        "model": {**vars(model_cfg), "parameters": num_parameters(model)},
        "train_config": vars(cfg),
        "batch_size": args.batch_size,
        "tokenizer": tokenizer_info,
        "corpus": {
            "source": "Python standard library .py files (tests excluded)",
            "train_files": len(train_files), "val_files": len(val_files),
            "train_chars": len(train_text), "val_chars": len(val_text),
            "train_tokens": len(train_ids), "val_tokens": len(val_ids),
            "encode_seconds": encode_seconds,
        },
        "final_train_loss": history["train_loss"][-1],
        "final_val_loss": final_val,
        "final_val_perplexity": perplexity(final_val),
        "tokens_seen": history["tokens_seen"][-1],
        "epochs": history["tokens_seen"][-1] / len(train_ids),
        "wall_seconds": wall,
        "tokens_per_s": tokens_this_run / wall,
        "resumed": args.resume,
        "machine": {**machine_at_start, "load_average_at_end": os.getloadavg()},
        "history": history,
        "samples": generated,
    }
    (Path(__file__).resolve().parents[1] / "src/llm_anatomy/results/python_gpt.json").write_text(json.dumps(report, indent=1) + "\n")  # read by the pages
    plot_losses(history, args.out_dir / "python_gpt_loss")
    with open(args.out_dir / "python_gpt_samples.txt", "w", encoding="utf-8") as f:
        f.write(f"# {report['command']}\n# final validation loss {final_val:.3f}, "
                f"perplexity {perplexity(final_val):.1f}\n")
        for s in generated:
            f.write(f"\n===== prompt {s['prompt']!r}, {s['decoding']} =====\n{s['text']}\n")
    print(f"val loss {final_val:.3f} (perplexity {perplexity(final_val):.1f}), "
          f"{report['tokens_per_s']:.0f} tokens/s, {wall / 60:.1f} min; results in {args.out_dir}")
    if dist.is_initialized():
        dist.barrier()  # close the connections only when every rank is done with them
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
