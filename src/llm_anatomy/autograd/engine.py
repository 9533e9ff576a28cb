"""A scalar automatic-differentiation engine.

A :class:`Value` holds one number. Every arithmetic operation on values creates a new
value that remembers where it came from, so a computation builds a graph as it runs.
:meth:`Value.backward` then walks that graph from the output back to the inputs and
applies the chain rule, leaving in every node's ``grad`` the derivative of the output
with respect to that node.

The engine follows the design of Andrej Karpathy's micrograd with one change that makes
it both simpler to read and faster: instead of storing a ``_backward`` closure in every
node, each node stores the *local derivatives* of its output with respect to each of its
inputs, computed once during the forward pass. The backward pass is then a single loop
that is the same for every operation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence


def _to_float(data: object) -> float:
    """Convert a Python or NumPy number (or a 0-d array) to ``float``, refusing anything else."""
    if isinstance(data, numbers.Real) or getattr(data, "shape", None) == ():
        return float(data)  # type: ignore[arg-type]
    raise TypeError(
        f"Value wraps a single number (int or float), got {type(data).__name__}. "
        "To backpropagate from many numbers, first combine them into one scalar loss, "
        "for example with Value.sum."
    )


def _lift(other: object, op: str) -> Value:
    """Return ``other`` as a :class:`Value`, wrapping plain numbers as constants."""
    if isinstance(other, Value):
        return other
    if isinstance(other, numbers.Real):
        return Value(other)
    raise TypeError(
        f"unsupported operand type for {op}: {type(other).__name__!r}; "
        "Value arithmetic supports Value, int and float"
    )


def _power_rule(base: float, exponent: float) -> float:
    """The derivative of ``base ** exponent`` with respect to ``base``."""
    if exponent == 0:
        return 0.0
    if base == 0 and exponent < 1:
        return math.inf  # x**0.5 and friends are vertical at zero
    return exponent * base ** (exponent - 1)


# --8<-- [start:value]
class Value:
    """One scalar of a computation, with the gradient of the final output with respect to it.

    Every node stores the nodes it was computed from (``children``) and, for each child,
    the *local derivative* ``d self / d child`` evaluated during the forward pass
    (``local_grads``). For ``c = a * b`` that is ``children = (a, b)`` and
    ``local_grads = (b.data, a.data)``. With these numbers stored, the backward pass needs
    no per-operation code at all: the chain rule is one multiplication and one addition
    per edge of the graph (see :meth:`backward`).

    Attributes:
        data: The number this node holds.
        grad: The derivative of the output :meth:`backward` was last called on with
            respect to this node. It starts at 0.
        requires_grad: Whether optimizers may update this value. Set it to ``False`` to
            freeze a parameter; its gradient is still computed.
        children: The values this one was computed from (empty for inputs and parameters).
        local_grads: ``d self / d child`` for each child, in the same order.
        op: The operation that produced this value, such as ``"+"`` or ``"tanh"``.
        label: An optional name, shown by :func:`~llm_anatomy.autograd.draw_graph`.

    Example:
        >>> a, b = Value(2.0), Value(-3.0)
        >>> c = a * b + a
        >>> c.backward()
        >>> c.data, a.grad, b.grad
        (-4.0, -2.0, 2.0)
    """

    # Fixed attributes instead of a per-instance dict: smaller and faster objects.
    __slots__ = ("data", "grad", "requires_grad", "children", "local_grads", "op", "label")

    def __init__(
        self,
        data: float,
        children: tuple[Value, ...] = (),
        local_grads: tuple[float, ...] = (),
        op: str = "",
        label: str = "",
    ) -> None:
        if len(children) != len(local_grads):
            raise ValueError(
                f"got {len(children)} children but {len(local_grads)} local gradients; "
                "each child needs exactly one"
            )
        self.data = data if type(data) is float else _to_float(data)
        self.grad = 0.0
        self.requires_grad = True
        self.children = children
        self.local_grads = local_grads
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4f}, grad={self.grad:.4f})"

    # --8<-- [end:value]

    # --8<-- [start:ops]
    def __add__(self, other: Value | float) -> Value:
        other = _lift(other, "+")
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other: Value | float) -> Value:
        other = _lift(other, "*")
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, exponent: float) -> Value:
        if not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"only int and float exponents are supported, got {type(exponent).__name__}"
            )
        if self.data < 0 and not float(exponent).is_integer():
            raise ValueError(f"{self.data} ** {exponent} is not a real number")
        if self.data == 0 and exponent < 0:
            raise ZeroDivisionError(f"0 cannot be raised to the negative power {exponent}")
        local = _power_rule(self.data, exponent)
        return Value(self.data**exponent, (self,), (local,), f"**{exponent}")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")

    def __sub__(self, other: Value | float) -> Value:
        other = _lift(other, "-")
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __truediv__(self, other: Value | float) -> Value:
        other = _lift(other, "/")
        if other.data == 0:
            raise ZeroDivisionError(f"cannot divide {self.data} by a Value equal to zero")
        a, b = self.data, other.data
        return Value(a / b, (self, other), (1 / b, -a / (b * b)), "/")

    def __radd__(self, other: float) -> Value:  # other + self
        return _lift(other, "+") + self

    def __rsub__(self, other: float) -> Value:  # other - self
        return _lift(other, "-") - self

    def __rmul__(self, other: float) -> Value:  # other * self
        return _lift(other, "*") * self

    def __rtruediv__(self, other: float) -> Value:  # other / self
        return _lift(other, "/") / self

    # --8<-- [end:ops]

    # --8<-- [start:functions]
    def exp(self) -> Value:
        """``e ** self``; its derivative is itself."""
        out = math.exp(self.data)
        return Value(out, (self,), (out,), "exp")

    def log(self) -> Value:
        """The natural logarithm; its derivative is ``1 / self``."""
        if self.data <= 0:
            raise ValueError(f"log is only defined for positive numbers, got {self.data}")
        return Value(math.log(self.data), (self,), (1 / self.data,), "log")

    def tanh(self) -> Value:
        """The hyperbolic tangent; its derivative is ``1 - tanh**2``."""
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,), "tanh")

    def sigmoid(self) -> Value:
        """``1 / (1 + e**-self)``; its derivative is ``s * (1 - s)``."""
        if self.data >= 0:
            s = 1 / (1 + math.exp(-self.data))
        else:  # same value, written so that exp cannot overflow
            e = math.exp(self.data)
            s = e / (1 + e)
        return Value(s, (self,), (s * (1 - s),), "sigmoid")

    def relu(self) -> Value:
        """``max(0, self)``; its derivative is 1 for positive inputs and 0 otherwise."""
        positive = self.data > 0
        return Value(self.data if positive else 0.0, (self,), (1.0 if positive else 0.0,), "relu")

    # --8<-- [end:functions]

    # --8<-- [start:nary]
    @staticmethod
    def sum(values: Iterable[Value | float]) -> Value:
        """Add many values in ONE node with one child per term (each local gradient is 1).

        ``a + b + c + d`` would create three nodes; ``Value.sum([a, b, c, d])`` creates one.
        Fewer nodes mean fewer Python objects to allocate, sort and visit, which is where a
        scalar engine spends its time.
        """
        terms = tuple(_lift(v, "Value.sum") for v in values)
        total = sum(t.data for t in terms)  # Python's built-in sum, over plain floats
        return Value(total, terms, (1.0,) * len(terms), "sum")

    @staticmethod
    def dot(ws: Sequence[Value | float], xs: Sequence[Value | float]) -> Value:
        """The dot product ``sum(w * x)`` as ONE node, instead of ``2n - 1`` nodes.

        The local gradient of each factor is the factor it is multiplied by:
        ``d(w·x)/dw_i = x_i`` and ``d(w·x)/dx_i = w_i``. A neuron is exactly a dot product,
        so this one node does the work of a whole chain of multiplications and additions.
        """
        if len(ws) != len(xs):
            raise ValueError(
                f"dot needs two sequences of equal length, got {len(ws)} and {len(xs)}"
            )
        ws = [_lift(w, "Value.dot") for w in ws]
        xs = [_lift(x, "Value.dot") for x in xs]
        w_data = [w.data for w in ws]
        x_data = [x.data for x in xs]
        out = sum(w * x for w, x in zip(w_data, x_data, strict=True))
        return Value(out, (*ws, *xs), (*x_data, *w_data), "dot")

    # --8<-- [end:nary]

    # --8<-- [start:backward]
    def backward(self) -> None:
        """Fill ``grad`` of every node in the graph with ``d self / d node``.

        Nodes are visited in reverse topological order, so a node's gradient is complete
        before it is passed on to its children. Passing it on is the chain rule:
        ``child.grad += local * node.grad``, where ``+=`` sums the contributions of all the
        paths through which a child influences the output.

        Gradients of leaves (inputs and parameters) *accumulate* across calls, as in
        PyTorch, so a training loop must zero them before each step (see
        :meth:`zero_grad`). The gradients of intermediate nodes are reset by each call.
        """
        order = topological_order(self)
        for node in order:
            if node.children:
                node.grad = 0.0
        self.grad += 1.0  # d self / d self
        for node in reversed(order):
            for child, local in zip(node.children, node.local_grads, strict=True):
                child.grad += local * node.grad

    def zero_grad(self) -> None:
        """Set ``grad`` to 0 for every node of the graph that ends at this value.

        That includes the parameters the graph was built from. To zero the parameters of a
        model without building a graph, use :meth:`Module.zero_grad
        <llm_anatomy.autograd.Module.zero_grad>`.
        """
        for node in topological_order(self):
            node.grad = 0.0

    # --8<-- [end:backward]


# --8<-- [start:topo]
def topological_order(root: Value) -> list[Value]:
    """Every node of the graph ending at ``root``, each one after all of its children.

    A depth-first search with an explicit stack instead of recursion, so a graph of any
    depth (a chain of a million operations, say) cannot hit Python's recursion limit.
    Each node goes on the stack twice: first to be expanded (its children are pushed above
    it), then, once everything above it has been emitted, to be emitted itself.

    Args:
        root: The output node, usually a loss.

    Returns:
        The nodes, leaves first and ``root`` last.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node.children)
    return order


# --8<-- [end:topo]
