"""One process of the 2-process DDP test in test_train.py: ``python ddp_train_worker.py OUT``.

Started the way ``torchrun`` starts a script (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the
environment); trains the tiny GPT of the test with :func:`llm_anatomy.train.train` and, on rank 0,
saves the history to ``OUT``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from llm_anatomy.data import create_dataloader
from llm_anatomy.gpt import GPTConfig, GPTModel
from llm_anatomy.train import TrainConfig, train

IDS = list(("def add(a, b):\n    return a + b\n\n\nclass Point:\n    pass\n\n\n" * 8).encode("utf-8"))
CFG = TrainConfig(max_steps=6, lr=3e-3, warmup_steps=2, eval_every=3, eval_batches=None, seed=4,
                  accumulation_steps=2)


def tiny_gpt() -> GPTModel:
    torch.manual_seed(0)
    return GPTModel(GPTConfig(vocab_size=256, context_length=16, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0))


def windows():
    """The windows of the test text: 32 of them, a multiple of every global batch used."""
    return create_dataloader(IDS, batch_size=2, max_length=16, stride=14, seed=0).dataset


if __name__ == "__main__":
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        loader = torch.utils.data.DataLoader(windows(), batch_size=2, shuffle=True,
                                             generator=torch.Generator().manual_seed(0), drop_last=True)
        history = train(tiny_gpt(), loader, None, CFG, progress=False)  # train() shards the loader
        if dist.get_rank() == 0:
            torch.save(history, sys.argv[1])
        dist.barrier()  # close the connections only when every rank is done with them
    finally:
        dist.destroy_process_group()
