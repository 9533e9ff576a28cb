"""The scalar autograd engine of chapter 7, checked against torch.autograd in float64."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from llm_anatomy.autograd import Value, topological_order

# Operations that both a Value and a 0-d torch tensor understand. Their domains are kept
# valid: log and fractional powers only see numbers >= 1, divisors are >= 0.5.
UNARY: dict[str, Callable] = {
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "log": lambda a: (a * a + 1).log(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "sqrt": lambda a: (a * a + 1) ** 0.5,
    "reciprocal": lambda a: (a * a + 1) ** -1,
}
BINARY: dict[str, Callable] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
}
WITH_CONSTANT: dict[str, Callable] = {  # a plain number on either side
    "add_c": lambda a, c: a + c,
    "radd_c": lambda a, c: c + a,
    "sub_c": lambda a, c: a - c,
    "rsub_c": lambda a, c: c - a,
    "mul_c": lambda a, c: a * c,
    "rmul_c": lambda a, c: c * a,
    "div_c": lambda a, c: a / (c * c + 0.5),
    "rdiv_c": lambda a, c: c / (a * a + 0.5),
}


class TorchNary:
    """Value.sum and Value.dot, written with torch."""

    @staticmethod
    def sum(values):
        return torch.stack(list(values)).sum()

    @staticmethod
    def dot(ws, xs):
        return (torch.stack(list(ws)) * torch.stack(list(xs))).sum()


OP_NAMES = sorted([*UNARY, *BINARY, *WITH_CONSTANT, "sum", "dot"])


def programs():
    """Random straight-line programs: each step applies an operation to earlier results.

    A step is ``(operation, picks, constant)``; ``picks`` choose the operands among the
    inputs and the results of the previous steps, so results are often reused and the
    graph is a DAG rather than a tree.
    """
    step = st.tuples(
        st.sampled_from(OP_NAMES),
        st.lists(st.integers(0, 10**6), min_size=2, max_size=6),
        st.floats(-3, 3),
    )
    return st.lists(step, min_size=1, max_size=12)


def apply(name, operands, constant, nary):
    if name in UNARY:
        return UNARY[name](operands[0])
    if name in BINARY:
        return BINARY[name](operands[0], operands[1])
    if name in WITH_CONSTANT:
        return WITH_CONSTANT[name](operands[0], constant)
    if name == "sum":
        return nary.sum(operands)
    half = len(operands) // 2
    return nary.dot(operands[:half], operands[half : 2 * half])


def run_program(steps, inputs, nary):
    """Run the program on ``inputs``; the output is the sum of every step's result."""
    nodes = list(inputs)
    for name, picks, constant in steps:
        operands = [nodes[i % len(nodes)] for i in picks]
        nodes.append(apply(name, operands, constant, nary))
    return nary.sum(nodes[len(inputs) :])


def torch_reference(steps, numbers):
    """The output and the gradient of every input, computed by torch in float64."""
    inputs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in numbers]
    out = run_program(steps, inputs, TorchNary)
    grads = torch.autograd.grad(out, inputs, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(steps=programs(), numbers=st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_random_programs_match_torch(steps, numbers):
    inputs = [Value(x) for x in numbers]
    try:
        out = run_program(steps, inputs, Value)
    except OverflowError:  # Python floats raise where torch returns inf
        reject()
    expected_out, expected_grads = torch_reference(steps, numbers)
    if not all(map(math.isfinite, [out.data, expected_out, *expected_grads])):
        reject()
    out.backward()
    assert_close(out.data, expected_out)
    assert_close([x.grad for x in inputs], expected_grads)


OPERATIONS: dict[str, tuple[Callable, int]] = {  # name: (function, number of Value inputs)
    **{name: (f, 1) for name, f in UNARY.items()},
    **{name: (f, 2) for name, f in BINARY.items()},
    **{name: (lambda a, f=f: f(a, 1.7), 1) for name, f in WITH_CONSTANT.items()},
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("numbers", [(0.3, -1.2), (-2.5, 0.8), (1.5, 2.0)])
def test_each_operation_matches_torch(name, numbers):
    op, n_args = OPERATIONS[name]
    inputs = [Value(x) for x in numbers[:n_args]]
    out = op(*inputs)
    out.backward()
    torch_inputs = [
        torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in numbers[:n_args]
    ]
    expected = op(*torch_inputs)
    expected.backward()
    assert out.data == pytest.approx(expected.item(), rel=1e-12, abs=1e-12)
    for ours, theirs in zip(inputs, torch_inputs, strict=True):
        assert ours.grad == pytest.approx(theirs.grad.item(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("x", [-800.0, -30.0, 0.0, 30.0, 800.0])
def test_sigmoid_is_stable_for_large_inputs(x):
    s = Value(x).sigmoid()
    expected = torch.tensor(x, dtype=torch.float64).sigmoid().item()
    assert s.data == pytest.approx(expected, abs=1e-15)


def test_relu_has_zero_slope_at_zero_like_torch():
    x = Value(0.0)
    x.relu().backward()
    assert x.grad == 0.0


@pytest.mark.parametrize("exponent", [0, 0.5, 1, 2])
def test_power_rule_at_zero_matches_torch(exponent):
    x = Value(0.0)
    (x**exponent).backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (t**exponent).backward()
    assert x.grad == t.grad.item()


def test_docstring_example():
    a, b = Value(2.0), Value(-3.0)
    c = a * b + a
    c.backward()
    assert (c.data, a.grad, b.grad) == (-4.0, -2.0, 2.0)


def test_sum_and_dot_are_single_nodes():
    xs = [Value(float(i)) for i in range(5)]
    ws = [Value(0.5 * i) for i in range(5)]
    total = Value.sum(xs)
    dot = Value.dot(ws, xs)
    assert total.data == 10.0 and len(total.children) == 5 and total.local_grads == (1.0,) * 5
    assert dot.data == sum(0.5 * i * i for i in range(5)) and len(dot.children) == 10
    assert len(topological_order(dot)) == 11


def test_sum_and_dot_accept_plain_numbers():
    x = Value(2.0)
    total = Value.sum([x, 3, 4.5])
    dot = Value.dot([x, 2.0], [3, x])
    dot.backward()
    assert total.data == 9.5
    assert dot.data == 10.0 and x.grad == 5.0  # d(3x + 2x)/dx


def test_topological_order_puts_children_first():
    a = Value(1.0)
    b = a * 2
    c = a + b
    d = c * b
    order = topological_order(d)
    assert len(order) == len(set(order)) == 5  # a, the constant 2, b, c and d
    position = {node: i for i, node in enumerate(order)}
    for node in order:
        for child in node.children:
            assert position[child] < position[node]
    assert order[-1] is d


def test_long_chain_backward_has_no_recursion_error():
    n = 100_000
    assert n > sys.getrecursionlimit()
    x = Value(0.5)
    y = x
    for _ in range(n):
        y = y * 1.0000001
    y.backward()
    assert len(topological_order(y)) == 2 * n + 1  # each step adds a product and a constant
    assert x.grad == pytest.approx(1.0000001**n, rel=1e-9)


def test_gradients_accumulate_until_zeroed():
    x = Value(3.0)
    y = (x * x).tanh() + x
    y.backward()
    first = x.grad
    y.backward()  # intermediate nodes restart from 0, leaves add up
    assert x.grad == pytest.approx(2 * first, rel=1e-15)
    y.zero_grad()
    assert all(node.grad == 0.0 for node in topological_order(y))


def test_backward_from_a_leaf():
    x = Value(4.0)
    x.backward()
    assert x.grad == 1.0


def test_repr():
    assert repr(Value(2.0)) == "Value(data=2.0000, grad=0.0000)"


@pytest.mark.parametrize("number", [3, 2.5, True, np.float32(2.5), np.int64(3), np.array(1.5)])
def test_numbers_are_stored_as_floats(number):
    value = Value(number)
    assert type(value.data) is float and value.data == float(number)


def test_nan_and_inf_from_arithmetic_are_allowed():
    assert math.isnan((Value(float("nan")) * 2).data)
    assert (Value(1e308) * 10).data == math.inf


@pytest.mark.parametrize("data", [[1, 2], np.array([1.0, 2.0]), "3", None, 1 + 2j])
def test_constructor_rejects_non_numbers(data):
    with pytest.raises(TypeError, match="Value wraps a single number .* one scalar loss"):
        Value(data)


@pytest.mark.parametrize(
    ("compute", "typename"),
    [
        (lambda: Value(1) + "a", "str"),
        (lambda: "a" + Value(1), "str"),
        (lambda: Value(1) * [1], "list"),
        (lambda: [1] * Value(1), "list"),
        (lambda: Value(1) - None, "NoneType"),
        (lambda: Value(1) / np.array([1.0, 2.0]), "ndarray"),
        (lambda: Value.sum([Value(1), "a"]), "str"),
    ],
)
def test_unsupported_operands_raise_type_error(compute, typename):
    with pytest.raises(TypeError, match=f"'{typename}'.*supports Value, int and float"):
        compute()


def test_log_of_non_positive_raises():
    with pytest.raises(ValueError, match=r"log is only defined for positive numbers, got -1\.0"):
        Value(-1).log()
    with pytest.raises(ValueError, match="positive"):
        Value(0).log()


def test_division_by_zero_raises():
    with pytest.raises(ZeroDivisionError, match="divide 1.0 by a Value equal to zero"):
        Value(1) / Value(0)
    with pytest.raises(ZeroDivisionError, match="zero"):
        1 / Value(0.0)


def test_power_errors():
    with pytest.raises(TypeError, match="only int and float exponents are supported, got Value"):
        Value(2) ** Value(2)
    with pytest.raises(ValueError, match="not a real number"):
        Value(-8) ** (1 / 3)
    with pytest.raises(ZeroDivisionError, match="negative power"):
        Value(0) ** -1


def test_mismatched_children_and_local_grads_raise():
    with pytest.raises(ValueError, match="1 children but 0 local gradients"):
        Value(1.0, children=(Value(2.0),))


def test_dot_length_mismatch_raises():
    with pytest.raises(ValueError, match="equal length, got 2 and 1"):
        Value.dot([Value(1), Value(2)], [Value(3)])
