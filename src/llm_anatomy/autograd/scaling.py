"""Scaling backpropagation up: mixed precision, gradient checkpointing and data parallelism.

Chapter 7 builds a scalar autograd engine and then explains the three tricks that let the
same algorithm train models with billions of parameters. Real speed-ups need GPUs, but the
*correctness* of each trick can be shown on any CPU, and that is what these helpers do:

* :func:`autocast_error` runs a small network in ``bfloat16`` under :func:`torch.autocast`
  and measures how far the result drifts from full ``float32``.
* :func:`checkpoint_gradients` computes the gradients of a stack of blocks with and
  without :func:`torch.utils.checkpoint.checkpoint` and counts how many times each block's
  forward pass really ran.
* :func:`ddp_gradients_match` starts several CPU processes that talk through
  :mod:`torch.distributed` (the ``gloo`` backend), lets each one backpropagate through its
  own shard of a batch, averages the gradients with an all-reduce and compares them with
  the gradient of the whole batch computed in one process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

from llm_anatomy.device import get_device

__all__ = [
    "CountingBlock",
    "autocast_error",
    "checkpoint_gradients",
    "ddp_gradients_match",
    "find_free_port",
    "make_batch",
    "make_tiny_model",
    "shard_gradients",
]


# --8<-- [start:tiny]
def make_tiny_model(seed: int = 0, width: int = 16) -> nn.Sequential:
    """A two-layer perceptron with reproducible weights: 4 inputs, one output.

    Args:
        seed: Seed for the weights, so that every process builds the same model.
        width: Number of hidden units.

    Returns:
        ``Linear(4, width) -> Tanh -> Linear(width, 1)`` in ``float32`` on the CPU.
    """
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 1))


def make_batch(n: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A reproducible regression batch: ``n`` inputs of size 4 and ``n`` targets."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = torch.randn(n, 1, generator=generator)
    return x, y


def shard_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of the mean squared error of ``model`` on ``(x, y)``, one tensor per parameter."""
    model.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)  # the *mean* over the rows it is given
    loss.backward()
    return [p.grad.detach().clone() for p in model.parameters()]


# --8<-- [end:tiny]


# --8<-- [start:autocast]
def autocast_error(
    dtype: torch.dtype = torch.bfloat16,
    device: torch.device | None = None,
    n: int = 256,
    seed: int = 0,
) -> tuple[torch.dtype, float]:
    """Run an MLP under :func:`torch.autocast` and compare it with full ``float32``.

    Autocast leaves the weights in ``float32`` and casts the inputs of matrix
    multiplications to ``dtype`` on the fly; numerically sensitive operations keep
    ``float32``.

    Args:
        dtype: The low-precision type, ``torch.bfloat16`` or ``torch.float16``.
        device: Where to run; :func:`llm_anatomy.device.get_device` when ``None``.
        n: Number of input rows.
        seed: Seed for the model and the inputs.

    Returns:
        The dtype of the autocast output, and the largest absolute difference from the
        ``float32`` output divided by the largest absolute ``float32`` output.
    """
    device = device or get_device()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)).to(device)
    x = torch.randn(n, 64, device=device)
    with torch.no_grad():
        reference = model(x)  # float32 everywhere
        with torch.autocast(device_type=device.type, dtype=dtype):
            low = model(x)  # the two Linear layers run in `dtype`
    relative = (low.float() - reference).abs().max() / reference.abs().max()
    return low.dtype, relative.item()


# --8<-- [end:autocast]


# --8<-- [start:checkpoint]
class CountingBlock(nn.Module):
    """``Linear -> Tanh`` that counts how many times its forward pass runs."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.tanh(self.linear(x))


def checkpoint_gradients(
    use_checkpoint: bool,
    n_blocks: int = 4,
    width: int = 32,
    seed: int = 0,
    device: torch.device | None = None,
) -> tuple[list[torch.Tensor], int]:
    """Backpropagate through a stack of blocks, optionally with activation checkpointing.

    With ``use_checkpoint=True`` each block is wrapped in
    :func:`torch.utils.checkpoint.checkpoint`: its inner activations are *not* kept for
    the backward pass; the block's forward pass is run again when its gradient is needed.

    Args:
        use_checkpoint: Whether to checkpoint every block.
        n_blocks: Number of blocks in the stack.
        width: Width of every block.
        seed: Seed for the weights and the input.
        device: Where to run; :func:`llm_anatomy.device.get_device` when ``None``.

    Returns:
        The gradients of all parameters (moved to the CPU), and the total number of
        block forward calls made during the forward *and* the backward pass.
    """
    device = device or get_device()
    torch.manual_seed(seed)
    blocks = nn.ModuleList(CountingBlock(width) for _ in range(n_blocks)).to(device)
    h = torch.randn(8, width, device=device)
    for block in blocks:
        if use_checkpoint:
            h = checkpoint(block, h, use_reentrant=False)  # store only the block's input
        else:
            h = block(h)  # store every intermediate activation
    loss = h.pow(2).mean()
    loss.backward()  # checkpointed blocks run their forward again here
    grads = [p.grad.detach().cpu() for p in blocks.parameters()]
    return grads, sum(block.calls for block in blocks)


# --8<-- [end:checkpoint]


# --8<-- [start:ddp]
def find_free_port() -> int:
    """Ask the operating system for a TCP port that nobody is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))  # port 0: "any free port, please"
        return s.getsockname()[1]


def _ddp_worker(out_path: str, use_ddp: bool) -> None:
    """What each process runs; it learns its rank and the world size from the environment."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # reads MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank, world_size = dist.get_rank(), dist.get_world_size()
    try:
        model = make_tiny_model()  # same seed -> the same weights in every process
        x, y = make_batch(n=8 * world_size)
        shard = slice(rank * 8, (rank + 1) * 8)  # each rank sees only its own 8 rows
        if use_ddp:
            # The wrapper all-reduces gradients itself, in buckets, during backward.
            ddp = nn.parallel.DistributedDataParallel(model)
            nn.functional.mse_loss(ddp(x[shard]), y[shard]).backward()
            del ddp  # drop the wrapper (and its communication hooks) before the group goes
        else:
            shard_gradients(model, x[shard], y[shard])
            for p in model.parameters():
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # sum over all ranks...
                p.grad /= world_size  # ...then divide: the average gradient
        if rank == 0:
            torch.save([p.grad for p in model.parameters()], out_path)
        dist.barrier()  # close the connections only when every rank is done with them
    finally:
        dist.destroy_process_group()


def ddp_gradients_match(
    world_size: int = 2, use_ddp: bool = False, timeout: float = 120.0
) -> float:
    """Data parallelism on CPU processes gives the gradient of the whole batch.

    Starts ``world_size`` Python processes that run this file as a script, the way
    ``torchrun`` does: each gets its rank, the world size and the address of rank 0 in
    environment variables. Each builds the same small model, computes the gradient of the
    mean loss on its own shard of the batch, and the processes average their gradients
    with an all-reduce over the ``gloo`` backend. The result is compared with the gradient
    of the whole batch computed in this process.

    Args:
        world_size: Number of processes (the "GPUs" of the simulation).
        use_ddp: Let :class:`torch.nn.parallel.DistributedDataParallel` do the all-reduce
            instead of calling :func:`torch.distributed.all_reduce` by hand.
        timeout: Seconds to wait for the processes before giving up.

    Returns:
        The largest absolute difference between the averaged shard gradients and the
        full-batch gradient (of the order of 1e-8: float32 rounding).

    Raises:
        RuntimeError: if a worker process fails.
    """
    port = find_free_port()
    src_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "grads.pt")
        workers = []
        for rank in range(world_size):
            env = dict(
                os.environ,
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
                RANK=str(rank),
                WORLD_SIZE=str(world_size),
            )
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [src_dir, env.get("PYTHONPATH")]))
            env["OMP_NUM_THREADS"] = "1"  # tiny model: one thread per process is plenty
            command = [sys.executable, os.path.abspath(__file__), out_path, str(int(use_ddp))]
            workers.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
        _wait_for(workers, timeout)
        averaged = torch.load(out_path)
    x, y = make_batch(n=8 * world_size)
    full = shard_gradients(make_tiny_model(), x, y)  # one process, the whole batch
    return max((a - f).abs().max().item() for a, f in zip(averaged, full, strict=True))


# --8<-- [end:ddp]


def _wait_for(workers: list[subprocess.Popen], timeout: float) -> None:
    """Wait for every worker; kill them all and raise if one fails or they hang."""
    try:
        errors = [w.communicate(timeout=timeout)[1] for w in workers]
    except subprocess.TimeoutExpired:
        for w in workers:
            w.kill()
            w.communicate()
        raise RuntimeError(f"the worker processes did not finish within {timeout} s") from None
    for rank, (w, err) in enumerate(zip(workers, errors, strict=True)):
        if w.returncode != 0:
            raise RuntimeError(f"worker {rank} failed with exit code {w.returncode}:\n{err}")


if __name__ == "__main__":  # a worker started by ddp_gradients_match
    _ddp_worker(sys.argv[1], use_ddp=bool(int(sys.argv[2])))
