"""Chapter 14: pretraining a language model on next-token prediction.

Everything a training run needs besides the model and the data:

* :func:`loss_batch`, :func:`evaluate` and :func:`perplexity`: the next-token cross-entropy
  of one batch, its average over a loader, and the perplexity ``exp(loss)``;
* :func:`clip_grad_norm`: gradient clipping by the global norm;
* :class:`TrainConfig` and :func:`make_optimizer`: the hyper-parameters and AdamW with weight
  decay on matrices only (fused or ``foreach`` where torch has those kernels);
* :func:`precision_context`: mixed precision, a forward pass under ``torch.autocast`` in
  bfloat16 (CPU and CUDA) or float16 (CUDA, with a gradient scaler in :func:`train`);
* :class:`BatchStream`: an endless stream of training batches that knows its position, so a
  run can stop and resume at exactly the batch where it stopped;
* :func:`save_checkpoint` and :func:`load_checkpoint`: everything that defines the rest of a
  run (model, optimizer, step, random number generators, data position, history);
* :func:`train`: the loop, with linear warmup and cosine decay of the learning rate (the
  schedules of :mod:`llm_anatomy.optim.schedules`) or the reader's own optimizer and
  scheduler, gradient accumulation, ``torch.compile``, periodic evaluation, a progress bar,
  and data parallelism when started by ``torchrun`` (``torch.distributed``).

Any ``nn.Module`` that maps token ids ``(B, T)`` to logits ``(B, T, V)`` can be trained,
:class:`llm_anatomy.gpt.GPTModel` among them.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from llm_anatomy.optim.schedules import warmup_cosine

__all__ = [
    "BatchStream",
    "TrainConfig",
    "clip_grad_norm",
    "evaluate",
    "load_checkpoint",
    "loss_batch",
    "make_optimizer",
    "perplexity",
    "precision_context",
    "save_checkpoint",
    "train",
]


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError("the model has no parameters to train") from None


# --8<-- [start:loss]
def loss_batch(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of one batch.

    Args:
        model: Maps token ids ``(B, T)`` to logits ``(B, T, V)``.
        inputs: Token ids ``(B, T)``.
        targets: The token that follows each input position, ``(B, T)``.

    Returns:
        A scalar tensor: the average over all ``B * T`` positions of ``-log p(target)``.

    Raises:
        ValueError: if the shapes of inputs, targets and logits do not fit together.
    """
    if inputs.ndim != 2 or inputs.shape != targets.shape:
        raise ValueError(
            f"inputs and targets must both have shape (B, T), got {tuple(inputs.shape)} and {tuple(targets.shape)}"
        )
    device = _model_device(model)
    inputs, targets = inputs.to(device), targets.to(device)
    logits = model(inputs)  # (B, T, V)
    if logits.ndim != 3 or logits.shape[:2] != inputs.shape:
        raise ValueError(f"the model must return logits of shape (B, T, V), got {tuple(logits.shape)}")
    if logits.dtype in (torch.bfloat16, torch.float16):  # a model run under autocast
        logits = logits.float()  # the log-softmax and the mean keep float32's precision
    # one classification problem per position: (B * T, V) scores against (B * T,) answers
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def perplexity(loss: float) -> float:
    """``exp(loss)``: the number of equally likely tokens the model is, on average, choosing from.

    Raises:
        ValueError: if the loss is negative or NaN (a cross-entropy never is).
    """
    loss = float(loss)
    if not loss >= 0:
        raise ValueError(f"a cross-entropy loss is >= 0, got {loss}")
    return math.exp(loss) if loss < 709 else math.inf  # exp overflows a float above ~709.78


# --8<-- [end:loss]


# --8<-- [start:precision]
PRECISIONS = ("float32", "bfloat16", "float16")


def precision_context(device: torch.device | str, precision: str = "float32") -> contextlib.AbstractContextManager:
    """The context a forward pass runs in: plain float32, or mixed precision under autocast.

    Under ``torch.autocast`` the weights stay in float32; matrix products and convolutions
    run in the 16-bit type (on AMX units of recent CPUs and the tensor cores of GPUs),
    while reductions such as softmax and the loss stay in float32.

    Args:
        device: Where the model runs.
        precision: ``"float32"``, ``"bfloat16"`` (CPU or CUDA) or ``"float16"`` (CUDA only).

    Raises:
        ValueError: for an unknown precision, float16 anywhere but on CUDA, or a 16-bit
            precision on a device without autocast support here (neither CPU nor CUDA).
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "float32":
        return contextlib.nullcontext()
    if precision == "float16" and device.type != "cuda":
        raise ValueError(f"float16 mixed precision runs on CUDA only (it needs a gradient scaler); "
                         f"on the {device.type} use precision='bfloat16'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"mixed precision is supported on 'cpu' and 'cuda', not on {device.type!r}")
    return torch.autocast(device.type, dtype=getattr(torch, precision))


# --8<-- [end:precision]


# --8<-- [start:evaluate]
@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, max_batches: int | None = None,
             precision: str = "float32") -> float:
    """Average next-token loss over (the first ``max_batches`` batches of) a loader.

    The model is put in evaluation mode (no dropout) and restored to its previous mode.
    Batches are weighted by their number of tokens, so a short last batch counts for less.
    ``precision`` is that of :func:`precision_context` (the loss itself is float32).

    Raises:
        ValueError: if ``max_batches`` is not a positive integer or the loader yields nothing.
    """
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches must be a positive integer or None, got {max_batches!r}")
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total, n_tokens = 0.0, 0
    for i, (inputs, targets) in enumerate(loader):
        if max_batches is not None and i == max_batches:
            break
        with precision_context(device, precision):
            total += loss_batch(model, inputs, targets).item() * targets.numel()
        n_tokens += targets.numel()
    model.train(was_training)
    if n_tokens == 0:
        raise ValueError("the loader yielded no batches to evaluate")
    return total / n_tokens


# --8<-- [end:evaluate]


# --8<-- [start:clip]
def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    The global norm treats every gradient of the model as one long vector. Scaling them
    all by the same factor keeps the direction of the update and only shortens it. This is
    the computation of ``torch.nn.utils.clip_grad_norm_``.

    Returns:
        The global norm before clipping (a scalar tensor).

    Raises:
        ValueError: if ``max_norm`` is not positive.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])  # one norm per tensor
    total_norm = torch.linalg.vector_norm(norms)  # sqrt of the sum of all squares
    scale = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)  # 1 when already short enough
    for g in grads:
        g.mul_(scale)
    return total_norm


# --8<-- [end:clip]


# --8<-- [start:config]
ADAMW_IMPLS = ("auto", "fused", "foreach", "for-loop")


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run.

    Attributes:
        max_steps: Number of optimizer steps in the whole run; ``None`` when ``epochs`` is given.
        epochs: Passes over the training loader instead of ``max_steps`` (which must then be
            ``None``): ``epochs * len(train_loader) // accumulation_steps`` optimizer steps.
        lr: Peak learning rate, reached at the end of warmup.
        min_lr: Learning rate at the end of the cosine decay (``min_lr = lr``: constant rate).
        warmup_steps: Steps of linear warmup from ``warmup_start_factor * lr`` to ``lr``.
        warmup_start_factor: Fraction of ``lr`` used at step 0.
        weight_decay: AdamW's decoupled weight decay, applied to matrices only.
        betas: AdamW's decay rates of the first and second moment estimates.
        grad_clip: Maximum global gradient norm; ``None`` disables clipping.
        eval_every: Evaluate train and validation loss every this many steps (and at the end).
        eval_batches: Batches per evaluation (a fixed random subset); ``None`` uses all of them.
        checkpoint_every: Save a checkpoint every this many steps (and at the end);
            ``None`` saves only at the end. Only used when a checkpoint path is given.
        seed: Seeds dropout and the choice of evaluation batches.
        accumulation_steps: Micro-batches whose gradients add up before each optimizer step:
            one step sees ``accumulation_steps`` times the loader's batch.
        precision: ``"float32"``, or mixed precision: ``"bfloat16"`` (CPU and CUDA) or
            ``"float16"`` (CUDA, with a gradient scaler). The weights, the optimizer and
            the loss stay in float32.
        compile: Run the model through ``torch.compile`` (the first steps pay for compiling).
        optimizer_impl: AdamW's implementation: ``"fused"`` (one kernel for all tensors),
            ``"foreach"`` (a few vectorised operations per group), ``"for-loop"`` (one
            tensor at a time) or ``"auto"`` (fused where torch has it, on CPU and CUDA,
            else foreach). All compute the same update, up to rounding.

    The learning-rate fields, ``weight_decay``, ``betas`` and ``optimizer_impl`` describe the
    optimizer :func:`train` builds; they are unused when the reader passes their own.
    """

    max_steps: int | None = 1000
    epochs: int | None = None
    lr: float = 4e-4
    min_lr: float = 4e-5
    warmup_steps: int = 100
    warmup_start_factor: float = 0.01
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0
    eval_every: int = 100
    eval_batches: int | None = 10
    checkpoint_every: int | None = None
    seed: int = 0
    accumulation_steps: int = 1
    precision: str = "float32"
    compile: bool = False
    optimizer_impl: str = "auto"

    def __post_init__(self) -> None:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("give either max_steps or epochs (with max_steps=None), "
                             f"got max_steps={self.max_steps!r}, epochs={self.epochs!r}")
        for name in ("max_steps", "epochs", "eval_batches", "checkpoint_every"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        for name in ("eval_every", "accumulation_steps"):
            _check_positive_int(name, getattr(self, name))
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0 or (
            self.max_steps is not None and self.warmup_steps >= self.max_steps
        ):
            raise ValueError(f"warmup_steps must be an integer in [0, max_steps), got {self.warmup_steps!r}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not 0 < self.warmup_start_factor <= 1:
            raise ValueError(f"warmup_start_factor must be in (0, 1], got {self.warmup_start_factor}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.optimizer_impl not in ADAMW_IMPLS:
            raise ValueError(f"optimizer_impl must be one of {ADAMW_IMPLS}, got {self.optimizer_impl!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be True or False, got {self.compile!r}")
        self.betas = tuple(self.betas)

    def total_steps(self, batches_per_epoch: int) -> int:
        """Optimizer steps of the run, given the training loader's batches per epoch.

        Raises:
            ValueError: if ``epochs`` give no more steps than ``warmup_steps``.
        """
        if self.max_steps is not None:
            return self.max_steps
        steps = self.epochs * batches_per_epoch // self.accumulation_steps
        if steps <= self.warmup_steps:
            raise ValueError(f"{self.epochs} epochs of {batches_per_epoch} batches give {steps} optimizer steps, "
                             f"not more than warmup_steps={self.warmup_steps}")
        return steps



def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices and embeddings, none on biases and norms.

    Decay pulls weights towards zero. That regularises matrices, but a LayerNorm's scale
    pulled towards 0 or a bias pulled towards 0 only removes useful freedom, so parameters
    with fewer than two dimensions are not decayed (as in GPT-2 and nanoGPT).
    ``cfg.optimizer_impl`` picks torch's fused, foreach or for-loop implementation.
    """
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    impl = cfg.optimizer_impl
    if impl == "auto":  # torch has fused AdamW kernels for the CPU (since 2.4) and CUDA
        impl = "fused" if params and params[0].device.type in ("cpu", "cuda") else "foreach"
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for-loop": {"foreach": False}}[impl]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, **kernels)


# --8<-- [end:config]


# --8<-- [start:stream]
class BatchStream:
    """Endless training batches from a loader, epoch after epoch, with a resumable position.

    A shuffling loader draws a new order from its ``generator`` at the start of every epoch.
    The stream remembers that generator's state at the epoch's start and how many batches
    of the epoch it has handed out; restoring both replays the same order and skips to the
    same batch. A :class:`~torch.utils.data.DistributedSampler` is told the epoch, which
    fixes its order. A loader that shuffles with the global random number generator (a
    plain ``DataLoader(shuffle=True)``) works too, but its order cannot be replayed: such a
    stream is not ``resumable``.

    Raises:
        ValueError: if the loader yields no batches.
    """

    def __init__(self, loader: DataLoader) -> None:
        if len(loader) == 0:
            raise ValueError("the training loader yields no batches (is the text shorter than one batch?)")
        sampler = getattr(loader, "sampler", None)
        self.resumable = not (isinstance(sampler, RandomSampler) and loader.generator is None)
        self.loader = loader
        self.epoch, self.position = 0, 0
        self._epoch_start_state = None
        self._batches = None

    def _start_epoch(self, generator_state: torch.Tensor | None = None) -> None:
        generator = getattr(self.loader, "generator", None)
        if generator is not None:
            if generator_state is not None:
                generator.set_state(generator_state)
            self._epoch_start_state = generator.get_state()
        if isinstance(getattr(self.loader, "sampler", None), DistributedSampler):
            self.loader.sampler.set_epoch(self.epoch)  # its order is a function of seed and epoch
        self._batches = iter(self.loader)
        self.position = 0

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(inputs, targets)`` batch, starting a new epoch when one ends."""
        if self._batches is None:
            self._start_epoch()
        try:
            batch = next(self._batches)
        except StopIteration:
            self.epoch += 1
            self._start_epoch()
            batch = next(self._batches)
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        """Epoch number, batches used in this epoch and the generator state at its start."""
        return {"epoch": self.epoch, "position": self.position, "generator": self._epoch_start_state}

    def load_state_dict(self, state: dict) -> None:
        """Go back to the saved epoch's order and skip the batches already used.

        Raises:
            ValueError: if the loader shuffles with the global random number generator.
        """
        if not self.resumable:
            raise ValueError(NOT_RESUMABLE)
        self.epoch = state["epoch"]
        self._start_epoch(state["generator"])
        for _ in range(state["position"]):
            next(self._batches)
        self.position = state["position"]


NOT_RESUMABLE = (
    "this training loader shuffles with the global random number generator (DataLoader(shuffle=True) "
    "without generator=), so its order cannot be replayed and the run cannot resume exactly; give it "
    "generator=torch.Generator().manual_seed(0), or use llm_anatomy.data.create_dataloader"
)


# --8<-- [end:stream]


# --8<-- [start:checkpoint]
def _rng_states() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
    }


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(states["python"])


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    step: int,
    stream: BatchStream,
    history: dict,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """Write everything that determines the rest of a run to ``path``.

    The file is written under a temporary name and then renamed, so a run killed while
    saving leaves the previous checkpoint intact.
    """
    state = {
        "step": step,  # our learning-rate schedule is a function of the step alone
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),  # AdamW's moment estimates and step counts
        "scheduler": None if scheduler is None else scheduler.state_dict(),  # a reader's own schedule
        "scaler": None if scaler is None else scaler.state_dict(),  # float16's current loss scale
        "config": asdict(cfg),
        "data": stream.state_dict(),
        "rng": _rng_states(),  # dropout masks
        "history": history,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)  # atomic on POSIX and Windows


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    cfg: TrainConfig | None = None,
    stream: BatchStream | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict:
    """Restore a checkpoint into ``model`` (and the optimizer, data stream, RNGs, ... if given).

    Returns:
        The checkpoint's dictionary (``step``, ``history``, ``config``, ...).

    Raises:
        FileNotFoundError: if there is no checkpoint at ``path``.
        ValueError: if ``cfg`` differs from the configuration the checkpoint was trained with.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only
    if cfg is not None and state["config"] != asdict(cfg):
        changed = sorted(k for k, v in asdict(cfg).items() if state["config"].get(k) != v)
        raise ValueError(f"the checkpoint was trained with a different TrainConfig: {', '.join(changed)} differ")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    if stream is not None:
        stream.load_state_dict(state["data"])
        _set_rng_states(state["rng"])  # after the stream, in case its loader used the global RNG
    return state


# --8<-- [end:checkpoint]


def _fixed_eval_loader(loader: DataLoader, max_batches: int | None, seed: int) -> DataLoader:
    """The same ``max_batches`` batches of the loader's dataset at every evaluation.

    A fixed random subset makes successive evaluations comparable and leaves the training
    loader's generator untouched, so evaluating does not change the training order.
    """
    if loader.batch_size is None:
        raise ValueError("evaluation needs a loader with a batch_size")
    dataset = loader.dataset
    n_items = len(dataset)
    if max_batches is not None and max_batches * loader.batch_size < n_items:
        chosen = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed))
        dataset = Subset(dataset, sorted(chosen[: max_batches * loader.batch_size].tolist()))
    return DataLoader(dataset, batch_size=loader.batch_size, shuffle=False, generator=torch.Generator())


def _new_history() -> dict[str, list]:
    per_step = ("step", "lr", "loss", "grad_norm", "tokens_seen")
    per_eval = ("eval_step", "train_loss", "val_loss", "val_perplexity")
    return {key: [] for key in per_step + per_eval}


def _record(history: dict[str, list], **values: float) -> None:
    for key, value in values.items():
        history[key].append(value)


# --8<-- [start:distributed]
def _sharded(loader: DataLoader, seed: int) -> DataLoader:
    """The loader's dataset split between the processes of a ``torch.distributed`` run.

    Each process gets every ``world_size``-th window of one shared order (shuffled with
    ``seed`` and the epoch when the original loader shuffles) in batches of the loader's
    ``batch_size``: together they see a global batch ``world_size`` times as large.
    """
    if loader.batch_size is None:
        raise ValueError("a distributed run needs a training loader with a batch_size")
    if isinstance(loader.sampler, DistributedSampler):
        return loader  # the reader sharded it already
    shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, drop_last=loader.drop_last,
                      collate_fn=loader.collate_fn, num_workers=loader.num_workers)


def _wrap(model: nn.Module, cfg: TrainConfig) -> tuple[nn.Module, nn.parallel.DistributedDataParallel | None]:
    """The module the loop calls: DDP around the model in a distributed run, then compiled if asked."""
    ddp = None
    if dist.is_available() and dist.is_initialized():
        device = _model_device(model)
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=None if device.type == "cpu" else [device])
    net = model if ddp is None else ddp
    return (torch.compile(net) if cfg.compile else net), ddp


# --8<-- [end:distributed]


# --8<-- [start:train]
def train(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    cfg: TrainConfig,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> dict[str, list]:
    """Train ``model`` on next-token prediction for ``cfg.max_steps`` steps (or ``cfg.epochs``).

    Args:
        model: Maps token ids ``(B, T)`` to logits ``(B, T, V)``; trained on its own device.
        train_loader: Yields ``(inputs, targets)`` batches; cycled through as many epochs as needed.
        val_loader: Held-out batches for evaluation, or ``None``.
        cfg: The hyper-parameters.
        checkpoint_path: Where to save checkpoints (see ``cfg.checkpoint_every``).
        resume: Continue from the checkpoint at ``checkpoint_path`` instead of starting afresh.
        progress: Show a tqdm progress bar and print every evaluation.
        stop_after: Stop after this step, saving a checkpoint, as a job whose time is up
            would; ``train(..., resume=True)`` later finishes the run.
        optimizer: The reader's own optimizer over ``model``'s parameters. Without one,
            :func:`make_optimizer` builds AdamW and the learning rate follows warmup and
            cosine decay; with one, the rate is the optimizer's own, changed only by
            ``scheduler``.
        scheduler: The reader's learning-rate scheduler for ``optimizer``, stepped once per
            optimizer step.

    When ``torch.distributed`` is initialised (a script started by ``torchrun``), every
    process runs this function: the model is wrapped in ``DistributedDataParallel``, each
    process trains on its own share of every global batch, the logged loss is the global
    batch's, and only rank 0 shows progress and saves checkpoints.

    Returns:
        The history: per step ``step``, ``lr``, ``loss`` (the training batch's loss),
        ``grad_norm`` (before clipping) and ``tokens_seen``; per evaluation ``eval_step``,
        ``train_loss``, ``val_loss`` and ``val_perplexity`` (NaN without a validation loader).

    Raises:
        ValueError: if ``resume`` or ``stop_after`` is set without a ``checkpoint_path``, a
            scheduler comes without its optimizer, the precision does not suit the device,
            or a run resumes with a loader whose order cannot be replayed.
        FloatingPointError: if the loss becomes infinite or NaN (the run has diverged).
    """
    if (resume or stop_after is not None) and checkpoint_path is None:
        raise ValueError("resume and stop_after need a checkpoint_path to resume from or save to")
    if scheduler is not None and (optimizer is None or scheduler.optimizer is not optimizer):
        raise ValueError("a scheduler needs the optimizer it drives: pass that optimizer as optimizer= too")
    device = _model_device(model)
    precision_context(device, cfg.precision)  # a clear error now for a precision the device lacks
    distributed = dist.is_available() and dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    stream = BatchStream(_sharded(train_loader, cfg.seed) if distributed else train_loader)
    if resume and not stream.resumable:
        raise ValueError(NOT_RESUMABLE)
    max_steps = cfg.total_steps(len(stream.loader))
    schedule = None
    if optimizer is None:
        optimizer = make_optimizer(model, cfg)
        schedule = warmup_cosine(cfg.lr, cfg.warmup_steps, max_steps, cfg.min_lr, cfg.warmup_start_factor)
    scaler = torch.amp.GradScaler(device.type) if cfg.precision == "float16" else None  # float16 only
    eval_train = _fixed_eval_loader(train_loader, cfg.eval_batches, cfg.seed)
    eval_val = None if val_loader is None else _fixed_eval_loader(val_loader, cfg.eval_batches, cfg.seed)
    history, start = _new_history(), 0
    if resume:
        state = load_checkpoint(checkpoint_path, model, optimizer, cfg, stream, scheduler, scaler)
        history, start = state["history"], state["step"]
    else:
        torch.manual_seed(cfg.seed)  # dropout masks
    net, ddp = _wrap(model, cfg)  # what the loop calls: the model, in DDP, compiled
    tokens_seen = history["tokens_seen"][-1] if history["tokens_seen"] else 0
    model.train()
    show = progress and rank == 0
    bar = tqdm(range(start, max_steps), initial=start, total=max_steps, disable=not show)
    for step in bar:
        if schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = schedule(step)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.zero_grad(set_to_none=True)
        n_tokens, step_loss = 0, 0.0
        for micro in range(cfg.accumulation_steps):  # gradients add up over the micro-batches
            inputs, targets = stream.next_batch()
            last = micro == cfg.accumulation_steps - 1
            with contextlib.nullcontext() if ddp is None or last else ddp.no_sync():  # all-reduce once
                with precision_context(device, cfg.precision):
                    loss = loss_batch(net, inputs, targets) / cfg.accumulation_steps  # float32
                (loss if scaler is None else scaler.scale(loss)).backward()
            step_loss = step_loss + loss.detach()  # the step's mean loss, summed over micro-batches
            n_tokens += inputs.numel()
        if scaler is not None:
            scaler.unscale_(optimizer)  # the true gradients, for clipping and the logged norm
        grad_norm = clip_grad_norm(model.parameters(), cfg.grad_clip or math.inf)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)  # skipped if a gradient overflowed in float16
            scaler.update()
        if scheduler is not None:
            scheduler.step()
        if distributed:
            dist.all_reduce(step_loss)  # the loss of the global batch: the mean over processes
            step_loss /= world_size

        done, tokens_seen, loss_value = step + 1, tokens_seen + n_tokens * world_size, step_loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"the loss is {loss_value} at step {done}: lower the learning rate")
        _record(history, step=done, lr=lr, loss=loss_value, grad_norm=grad_norm.item(), tokens_seen=tokens_seen)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}")
        if done % cfg.eval_every == 0 or done == max_steps:
            train_loss = evaluate(model, eval_train, precision=cfg.precision)
            val_loss = math.nan if eval_val is None else evaluate(model, eval_val, precision=cfg.precision)
            val_ppl = math.nan if eval_val is None else perplexity(val_loss)
            _record(history, eval_step=done, train_loss=train_loss, val_loss=val_loss, val_perplexity=val_ppl)
            if show:
                tqdm.write(f"step {done:>6}: train loss {train_loss:.3f}, val loss {val_loss:.3f}")
        stop = done == stop_after
        if checkpoint_path is not None and rank == 0 and (
            stop or done == max_steps or (cfg.checkpoint_every and done % cfg.checkpoint_every == 0)
        ):
            save_checkpoint(checkpoint_path, model, optimizer, cfg, done, stream, history, scheduler, scaler)
        if stop:
            break
    bar.close()
    return history


# --8<-- [end:train]
