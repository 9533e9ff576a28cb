"""Time one training epoch of the chapter-7 autograd engine against micrograd.

Both engines train the same 2 -> 16 -> 16 -> 1 ReLU network, from the same initial
weights, on the same 100 points of ``make_moons``, with the same loss (micrograd's demo
loss: mean hinge loss plus L2 regularisation) and the same learning rate. The script
checks that both produce the same losses at every epoch, so that the timing compares the
same work, then reports the median time of an epoch (forward, backward and update).

A third run, "ours, binary ops", uses our engine but writes every neuron and sum the way
micrograd does (``w0*x0 + w1*x1 + ...``, one node per ``+`` and ``*``) instead of with
``Value.dot`` and ``Value.sum``. It separates the two sources of the speed-up: the engine
itself (``__slots__``, stored local gradients, one backward loop) and the n-ary nodes.

Run from the repository root::

    PYTHONPATH=src python bench/autograd_vs_micrograd.py --epochs 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from micrograd.engine import Value as MicroValue
from micrograd.nn import MLP as MicroMLP
from sklearn.datasets import make_moons
from tqdm import tqdm

from llm_anatomy.autograd import MLP, SGD, Value

ALPHA = 1e-4  # L2 regularisation strength, as in micrograd's demo
LR = 0.05
SIZES = [16, 16, 1]


def make_data() -> tuple[list[list[float]], list[float]]:
    """100 two-moons points, labels -1 and +1 as the hinge loss expects."""
    x, y = make_moons(n_samples=100, noise=0.1, random_state=0)
    return x.tolist(), [2.0 * label - 1.0 for label in y]


def ours_epoch(model: MLP, optimizer: SGD, xs: list[list[Value]], ys: list[float]) -> float:
    scores = [model(x)[0] for x in xs]
    losses = [(1 + -y * score).relu() for y, score in zip(ys, scores, strict=True)]
    params = model.parameters()
    loss = Value.sum(losses) * (1.0 / len(losses)) + ALPHA * Value.dot(params, params)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.data


def binary_ops_epoch(model: MLP, optimizer: SGD, xs: list[list[Value]], ys: list[float]) -> float:
    scores = [binary_ops_forward(model, x) for x in xs]
    losses = [(1 + -y * score).relu() for y, score in zip(ys, scores, strict=True)]
    params = model.parameters()
    loss = sum(losses) * (1.0 / len(losses)) + ALPHA * sum(p * p for p in params)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.data


def binary_ops_forward(model: MLP, x: list[Value]) -> Value:
    """``model(x)[0]`` with each neuron written as a chain of binary ``*`` and ``+``."""
    for i, layer in enumerate(model.layers):
        sums = [sum((w * xi for w, xi in zip(n.w, x, strict=True)), n.b) for n in layer.neurons]
        x = [s.relu() for s in sums] if i < len(model.layers) - 1 else sums
    return x[0]


def micrograd_epoch(model: MicroMLP, xs: list[list[MicroValue]], ys: list[float]) -> float:
    scores = [model(x) for x in xs]
    losses = [(1 + -y * score).relu() for y, score in zip(ys, scores, strict=True)]
    params = model.parameters()
    loss = sum(losses) * (1.0 / len(losses)) + ALPHA * sum(p * p for p in params)
    model.zero_grad()
    loss.backward()
    for p in params:
        p.data -= LR * p.grad
    return loss.data


def time_epochs(
    name: str, epochs: int, run_epoch: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run one warm-up epoch then ``epochs`` timed ones; return (seconds, losses)."""
    losses = [run_epoch()]
    seconds = []
    for _ in tqdm(range(epochs), desc=name, leave=False):
        start = time.perf_counter()
        losses.append(run_epoch())
        seconds.append(time.perf_counter() - start)
    return seconds, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="timed epochs (after one warm-up)")
    parser.add_argument(
        "--out", type=Path, default=Path("bench/results/autograd_vs_micrograd.json")
    )
    args = parser.parse_args()

    points, ys = make_data()
    ours = MLP(2, SIZES, nonlin="relu")
    theirs = MicroMLP(2, SIZES)  # hidden layers ReLU, last layer linear, like ours
    for p_ours, p_theirs in zip(ours.parameters(), theirs.parameters(), strict=True):
        p_theirs.data = p_ours.data
    binary = MLP(2, SIZES, nonlin="relu")  # the same seed, so the same initial weights
    ours_x = [[Value(v) for v in point] for point in points]
    their_x = [[MicroValue(v) for v in point] for point in points]
    runs = {
        "ours": partial(ours_epoch, ours, SGD(ours.parameters(), lr=LR), ours_x, ys),
        "ours, binary ops": partial(
            binary_ops_epoch, binary, SGD(binary.parameters(), lr=LR), ours_x, ys
        ),
        "micrograd": partial(micrograd_epoch, theirs, their_x, ys),
    }
    seconds, losses = {}, {}
    for name, run_epoch in runs.items():
        seconds[name], losses[name] = time_epochs(name, args.epochs, run_epoch)
    for name in runs:
        for a, b in zip(losses[name], losses["micrograd"], strict=True):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (
                f"{name} loss {a} != micrograd loss {b}"
            )

    median = {name: statistics.median(s) for name, s in seconds.items()}
    speedup = {name: median["micrograd"] / median[name] for name in runs}
    print(f"{'engine':<18} {'s / epoch':>10} {'speed-up':>9} {'final loss':>11}")
    for name in runs:
        print(f"{name:<18} {median[name]:>10.4f} {speedup[name]:>8.2f}x {losses[name][-1]:>11.6f}")

    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_cores": os.cpu_count(),
        "epochs": args.epochs,
        "network": [2, *SIZES],
        "samples": len(points),
        "seconds_per_epoch": seconds,
        "median_seconds_per_epoch": median,
        "speedup_vs_micrograd": speedup,
        "final_loss": {name: losses[name][-1] for name in runs},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
