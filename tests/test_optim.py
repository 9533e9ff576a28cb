"""Chapter 6: our optimizers, schedules and mini-batches against torch.optim and DataLoader."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from llm_anatomy.optim import (
    SGD,
    Adam,
    AdamW,
    constant,
    cosine,
    exponential,
    linear_warmup,
    minibatches,
    step_decay,
    warmup_cosine,
)

STEPS = 100
BATCH = 16


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: a second CPU thread only adds waiting, badly so on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_problem(device, dtype, seed=0):
    """A two-class problem no straight line solves and the initial weights of a small MLP."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(128, 4, generator=gen, dtype=dtype)  # (128, 4)
    y = ((X[:, 0] * X[:, 1] + X[:, 2]) > 0).to(dtype)  # (128,)
    weights = [
        torch.randn(4, 16, generator=gen, dtype=dtype) * 0.5,
        torch.zeros(16, dtype=dtype),
        torch.randn(16, 1, generator=gen, dtype=dtype) * 0.25,
        torch.zeros(1, dtype=dtype),
    ]
    return X.to(device), y.to(device), [w.to(device) for w in weights]


def mlp_loss(params, X, y):
    W1, b1, W2, b2 = params
    logits = (torch.tanh(X @ W1 + b1) @ W2 + b2).squeeze(1)  # (batch,)
    return (torch.nn.functional.softplus(logits) - y * logits).mean()  # binary cross-entropy


def fixed_batches(X, y, count, seed=1):
    """``count`` mini-batches from successive shuffled epochs, the same for every optimizer."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    while len(batches) < count:
        batches.extend(minibatches(X, y, BATCH, generator=gen))
    return batches[:count]


def train(make_optimizer, init, batches, schedule=None):
    """Run one optimizer step per batch from copies of ``init``; return the final parameters."""
    params = [w.clone().requires_grad_() for w in init]
    optimizer, scheduler = make_optimizer(params)
    for step, (xb, yb) in enumerate(batches):
        if schedule is not None:
            optimizer.lr = schedule(step)
        optimizer.zero_grad()
        mlp_loss(params, xb, yb).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return [p.detach() for p in params]


CASES = {
    "gd": (SGD, torch.optim.SGD, {"lr": 0.1}),
    "momentum": (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    "nesterov": (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    "dampening": (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-2}),
    "adam": (Adam, torch.optim.Adam, {"lr": 1e-2}),
    "adam-l2": (Adam, torch.optim.Adam, {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    "adamw": (AdamW, torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
    "adamw-default": (AdamW, torch.optim.AdamW, {}),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_100_steps_match_torch_optim(case, dtype, device):
    ours, theirs, hyper = CASES[case]
    X, y, init = make_problem(device, dtype)
    batches = fixed_batches(X, y, STEPS)
    mine = train(lambda p: (ours(p, **hyper), None), init, batches)
    reference = train(lambda p: (theirs(p, **hyper), None), init, batches)
    for p_mine, p_ref in zip(mine, reference, strict=True):
        assert p_mine.device == p_ref.device and p_mine.dtype == dtype
        torch.testing.assert_close(p_mine, p_ref, rtol=0, atol=1e-6)
    moved = max((p - p0).abs().max().item() for p, p0 in zip(mine, init, strict=True))
    assert moved > 0.1, "the parameters barely moved: the comparison would prove nothing"


def test_training_really_lowers_the_loss(device):
    X, y, init = make_problem(device, torch.float64)
    final = train(lambda p: (Adam(p, lr=1e-2), None), init, fixed_batches(X, y, 300))
    assert mlp_loss(final, X, y) < 0.6 * mlp_loss(init, X, y)


SCHEDULED = {
    "momentum+step": (
        lambda p: SGD(p, lr=0.2, momentum=0.9),
        step_decay(0.2, step_size=30, gamma=0.3),
        lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
        lambda opt: lr_scheduler.StepLR(opt, step_size=30, gamma=0.3),
    ),
    "adamw+warmup-cosine": (
        lambda p: AdamW(p, lr=3e-2, weight_decay=0.05),
        warmup_cosine(3e-2, warmup_steps=10, total_steps=STEPS, min_lr=1e-3),
        lambda p: torch.optim.AdamW(p, lr=3e-2, weight_decay=0.05),
        lambda opt: lr_scheduler.SequentialLR(
            opt,
            [
                lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=10),
                lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS - 10, eta_min=1e-3),
            ],
            milestones=[10],
        ),
    ),
}


@pytest.mark.parametrize("case", SCHEDULED)
def test_scheduled_training_matches_torch(case, device):
    make_ours, schedule, make_theirs, make_scheduler = SCHEDULED[case]
    X, y, init = make_problem(device, torch.float64)
    batches = fixed_batches(X, y, STEPS)
    mine = train(lambda p: (make_ours(p), None), init, batches, schedule=schedule)

    def torch_pair(params):
        optimizer = make_theirs(params)
        return optimizer, make_scheduler(optimizer)

    reference = train(torch_pair, init, batches)
    for p_mine, p_ref in zip(mine, reference, strict=True):
        torch.testing.assert_close(p_mine, p_ref, rtol=0, atol=1e-6)


LR = 0.3
SCHEDULES = {
    "constant": (constant(LR), lambda opt: lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)),
    "step": (step_decay(LR, step_size=7, gamma=0.5), lambda opt: lr_scheduler.StepLR(opt, 7, gamma=0.5)),
    "exponential": (exponential(LR, gamma=0.93), lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.93)),
    "warmup": (
        linear_warmup(LR, warmup_steps=10, start_factor=0.05),
        lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.05, end_factor=1.0, total_iters=10),
    ),
    "cosine": (
        cosine(LR, total_steps=50, min_lr=0.01),
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=50, eta_min=0.01),
    ),
    "warmup-cosine": (
        warmup_cosine(LR, warmup_steps=8, total_steps=50, min_lr=0.02, start_factor=0.1),
        lambda opt: lr_scheduler.SequentialLR(
            opt,
            [
                lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=8),
                lr_scheduler.CosineAnnealingLR(opt, T_max=42, eta_min=0.02),
            ],
            milestones=[8],
        ),
    ),
}


@pytest.mark.parametrize("case", SCHEDULES)
def test_schedules_match_torch_lr_scheduler(case):
    ours, make_scheduler = SCHEDULES[case]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    scheduler = make_scheduler(optimizer)
    for step in range(51):
        assert abs(ours(step) - scheduler.get_last_lr()[0]) < 1e-12, f"step {step}"
        optimizer.step()
        scheduler.step()


def test_cosine_stays_at_min_lr_after_the_last_step():
    schedule = warmup_cosine(1.0, warmup_steps=5, total_steps=20, min_lr=0.1)
    assert schedule(5) == 1.0
    assert [schedule(s) for s in (20, 21, 100)] == [pytest.approx(0.1)] * 3


@pytest.mark.parametrize("drop_last", [False, True])
def test_minibatches_equal_dataloader_batches(drop_last, device):
    X = torch.arange(70.0, device=device).reshape(35, 2)
    y = torch.arange(35, device=device)
    dataset = TensorDataset(X.cpu(), y.cpu())
    # The sampler gets the generator: DataLoader(generator=...) would also draw worker seeds from it.
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(3))
    loader = DataLoader(dataset, batch_size=8, sampler=sampler, drop_last=drop_last)
    ours = list(minibatches(X, y, 8, generator=torch.Generator().manual_seed(3), drop_last=drop_last))
    theirs = list(loader)
    assert len(ours) == len(theirs) == (4 if drop_last else 5)
    for (xb, yb), (xt, yt) in zip(ours, theirs, strict=True):
        assert xb.device == X.device
        assert torch.equal(xb.cpu(), xt) and torch.equal(yb.cpu(), yt)


def test_minibatches_without_shuffle_keep_the_order():
    X, y = torch.arange(10.0), torch.arange(10)
    assert [yb.tolist() for _, yb in minibatches(X, y, 4, shuffle=False)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_zero_grad_sets_gradients_to_none_like_torch():
    p = torch.ones(3, requires_grad=True)
    optimizer = SGD([p], lr=0.1)
    (p * p).sum().backward()
    optimizer.zero_grad()
    assert p.grad is None


def leaf():
    return torch.zeros(2, requires_grad=True)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SGD([leaf()], lr=-0.1), ValueError, "learning rate must be >= 0"),
        (lambda: Adam([leaf()], lr=float("nan")), ValueError, "learning rate must be >= 0"),
        (lambda: SGD([leaf()], lr=0.1, momentum=1.0), ValueError, "momentum must be in"),
        (lambda: SGD([leaf()], lr=0.1, nesterov=True), ValueError, "Nesterov momentum needs"),
        (lambda: SGD([leaf()], lr=0.1, weight_decay=-1), ValueError, "weight_decay must be >= 0"),
        (lambda: Adam([leaf()], betas=(1.0, 0.999)), ValueError, "beta1 must be in"),
        (lambda: Adam([leaf()], betas=(0.9, -0.1)), ValueError, "beta2 must be in"),
        (lambda: AdamW([leaf()], betas=(0.9,)), ValueError, "betas must be a pair"),
        (lambda: Adam([leaf()], eps=-1e-8), ValueError, "eps must be >= 0"),
        (lambda: SGD([torch.zeros(2)], lr=0.1), ValueError, "parameter 0 does not require grad"),
        (lambda: SGD([leaf(), [1.0]], lr=0.1), TypeError, "parameter 1 is a list"),
        (lambda: SGD([leaf() * 2], lr=0.1), ValueError, "not a leaf tensor"),
        (lambda: SGD([], lr=0.1), ValueError, "empty list"),
    ],
)
def test_bad_hyperparameters_and_parameters_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_duplicate_parameter_raises():
    p = leaf()
    with pytest.raises(ValueError, match="more than once"):
        Adam([p, p])


def test_negative_learning_rate_from_a_schedule_raises():
    optimizer = SGD([leaf()], lr=0.1)
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        optimizer.lr = -1e-3


def test_step_without_backward_raises_and_changes_nothing():
    a, b = leaf(), leaf()
    optimizer = Adam([a, b], lr=0.1)
    (3 * a).sum().backward()  # b gets no gradient
    with pytest.raises(RuntimeError, match=r"parameters \[1\] have no gradient"):
        optimizer.step()
    assert torch.equal(a, torch.zeros(2)) and optimizer.steps == 0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: constant(-1.0), "learning rate must be >= 0"),
        (lambda: step_decay(0.1, step_size=0), "step_size must be an integer >= 1"),
        (lambda: exponential(0.1, gamma=1.5), "gamma must be in"),
        (lambda: linear_warmup(0.1, warmup_steps=10, start_factor=0.0), "start_factor must be in"),
        (lambda: cosine(0.1, total_steps=10, min_lr=0.2), "min_lr must be in"),
        (lambda: warmup_cosine(0.1, warmup_steps=10, total_steps=10), "total_steps must be an integer > warmup_steps"),
        (lambda: constant(0.1)(-1), "step must be an integer >= 0"),
        (lambda: cosine(0.1, 10)(2.5), "step must be an integer >= 0"),
    ],
)
def test_bad_schedule_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_minibatches_check_their_input():
    with pytest.raises(ValueError, match="X has 4 rows but y has 3 values"):
        minibatches(torch.zeros(4, 2), torch.zeros(3), 2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        minibatches(torch.zeros(4, 2), torch.zeros(4), 0)
