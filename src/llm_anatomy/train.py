"""Chapter 14: pretraining a language model on next-token prediction.

Everything a training run needs besides the model and the data:

* :func:`loss_batch`, :func:`evaluate` and :func:`perplexity`: the next-token cross-entropy
  of one batch, its average over a loader, and the perplexity ``exp(loss)``;
* :func:`clip_grad_norm`: gradient clipping by the global norm;
* :class:`TrainConfig` and :func:`make_optimizer`: the hyper-parameters and AdamW with weight
  decay on matrices only;
* :class:`BatchStream`: an endless stream of training batches that knows its position, so a
  run can stop and resume at exactly the batch where it stopped;
* :func:`save_checkpoint` and :func:`load_checkpoint`: everything that defines the rest of a
  run (model, optimizer, step, random number generators, data position, history);
* :func:`train`: the loop, with linear warmup and cosine decay of the learning rate (the
  schedules of :mod:`llm_anatomy.optim.schedules`), periodic evaluation and a progress bar.

Any ``nn.Module`` that maps token ids ``(B, T)`` to logits ``(B, T, V)`` can be trained,
:class:`llm_anatomy.gpt.GPTModel` among them.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset
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


# --8<-- [start:evaluate]
@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, max_batches: int | None = None) -> float:
    """Average next-token loss over (the first ``max_batches`` batches of) a loader.

    The model is put in evaluation mode (no dropout) and restored to its previous mode.
    Batches are weighted by their number of tokens, so a short last batch counts for less.

    Raises:
        ValueError: if ``max_batches`` is not a positive integer or the loader yields nothing.
    """
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches must be a positive integer or None, got {max_batches!r}")
    was_training = model.training
    model.eval()
    total, n_tokens = 0.0, 0
    for i, (inputs, targets) in enumerate(loader):
        if max_batches is not None and i == max_batches:
            break
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
@dataclass
class TrainConfig:
    """Hyper-parameters of a training run.

    Attributes:
        max_steps: Number of optimizer steps (batches) in the whole run.
        lr: Peak learning rate, reached at the end of warmup.
        min_lr: Learning rate at the end of the cosine decay.
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
    """

    max_steps: int = 1000
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

    def __post_init__(self) -> None:
        for name in ("max_steps", "eval_every"):
            _check_positive_int(name, getattr(self, name))
        for name in ("eval_batches", "checkpoint_every"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps < self.max_steps:
            raise ValueError(f"warmup_steps must be an integer in [0, max_steps), got {self.warmup_steps!r}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not 0 < self.warmup_start_factor <= 1:
            raise ValueError(f"warmup_start_factor must be in (0, 1], got {self.warmup_start_factor}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        self.betas = tuple(self.betas)


def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices and embeddings, none on biases and norms.

    Decay pulls weights towards zero. That regularises matrices, but a LayerNorm's scale
    pulled towards 0 or a bias pulled towards 0 only removes useful freedom, so parameters
    with fewer than two dimensions are not decayed (as in GPT-2 and nanoGPT).
    """
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


# --8<-- [end:config]


# --8<-- [start:stream]
class BatchStream:
    """Endless training batches from a loader, epoch after epoch, with a resumable position.

    A shuffling loader draws a new order from its ``generator`` at the start of every epoch.
    The stream remembers that generator's state at the epoch's start and how many batches
    of the epoch it has handed out; restoring both replays the same order and skips to the
    same batch.

    Raises:
        ValueError: if the loader yields no batches, or shuffles with the global random
            number generator (then its order could not be replayed: give it a ``generator``).
    """

    def __init__(self, loader: DataLoader) -> None:
        if len(loader) == 0:
            raise ValueError("the training loader yields no batches (is the text shorter than one batch?)")
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, torch.utils.data.RandomSampler) and loader.generator is None:
            raise ValueError("a shuffling loader needs its own generator= for training to resume exactly")
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
        """Go back to the saved epoch's order and skip the batches already used."""
        self.epoch = state["epoch"]
        self._start_epoch(state["generator"])
        for _ in range(state["position"]):
            next(self._batches)
        self.position = state["position"]


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
) -> None:
    """Write everything that determines the rest of a run to ``path``.

    The file is written under a temporary name and then renamed, so a run killed while
    saving leaves the previous checkpoint intact.
    """
    state = {
        "step": step,  # the learning-rate schedule is a function of the step alone
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),  # AdamW's moment estimates and step counts
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
) -> dict:
    """Restore a checkpoint into ``model`` (and the optimizer, data stream and RNGs if given).

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
) -> dict[str, list]:
    """Train ``model`` on next-token prediction for ``cfg.max_steps`` steps.

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

    Returns:
        The history: per step ``step``, ``lr``, ``loss`` (the training batch's loss),
        ``grad_norm`` (before clipping) and ``tokens_seen``; per evaluation ``eval_step``,
        ``train_loss``, ``val_loss`` and ``val_perplexity`` (NaN without a validation loader).

    Raises:
        ValueError: if ``resume`` or ``stop_after`` is set without a ``checkpoint_path``.
        FloatingPointError: if the loss becomes infinite or NaN (the run has diverged).
    """
    if (resume or stop_after is not None) and checkpoint_path is None:
        raise ValueError("resume and stop_after need a checkpoint_path to resume from or save to")
    optimizer = make_optimizer(model, cfg)
    schedule = warmup_cosine(cfg.lr, cfg.warmup_steps, cfg.max_steps, cfg.min_lr, cfg.warmup_start_factor)
    stream = BatchStream(train_loader)
    eval_train = _fixed_eval_loader(train_loader, cfg.eval_batches, cfg.seed)
    eval_val = None if val_loader is None else _fixed_eval_loader(val_loader, cfg.eval_batches, cfg.seed)
    history, start = _new_history(), 0
    if resume:
        state = load_checkpoint(checkpoint_path, model, optimizer, cfg, stream)
        history, start = state["history"], state["step"]
    else:
        torch.manual_seed(cfg.seed)  # dropout masks
    tokens_seen = history["tokens_seen"][-1] if history["tokens_seen"] else 0
    model.train()
    bar = tqdm(range(start, cfg.max_steps), initial=start, total=cfg.max_steps, disable=not progress)
    for step in bar:
        lr = schedule(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = stream.next_batch()
        loss = loss_batch(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model.parameters(), cfg.grad_clip or math.inf)
        optimizer.step()

        done, tokens_seen, loss_value = step + 1, tokens_seen + inputs.numel(), loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"the loss is {loss_value} at step {done}: lower the learning rate")
        _record(history, step=done, lr=lr, loss=loss_value, grad_norm=grad_norm.item(), tokens_seen=tokens_seen)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}")
        if done % cfg.eval_every == 0 or done == cfg.max_steps:
            train_loss = evaluate(model, eval_train)
            val_loss = math.nan if eval_val is None else evaluate(model, eval_val)
            val_ppl = math.nan if eval_val is None else perplexity(val_loss)
            _record(history, eval_step=done, train_loss=train_loss, val_loss=val_loss, val_perplexity=val_ppl)
            if progress:
                tqdm.write(f"step {done:>6}: train loss {train_loss:.3f}, val loss {val_loss:.3f}")
        stop = done == stop_after
        if checkpoint_path is not None and (
            stop or done == cfg.max_steps or (cfg.checkpoint_every and done % cfg.checkpoint_every == 0)
        ):
            save_checkpoint(checkpoint_path, model, optimizer, cfg, done, stream, history)
        if stop:
            break
    bar.close()
    return history


# --8<-- [end:train]
