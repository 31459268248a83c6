"""`formula`: an activation written as an expression in the spec, compiled to torch operations.

The expression is parsed and checked by core.domain.formula (the API does the same without torch);
here its tree becomes a function `f(x, *params)` of torch operations. Declared parameters are
learnable (one per channel, or one scalar) and are recorded under their own names, like the
built-ins'. Backward recomputes the forward from the saved input, so memory is the input's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from activations.base import Activation, bcast, make_param
from activations.recompute import recompute
from activations.registry import ActivationInfo, register
from core.domain import formula
from core.domain.formula import Binary, Call, Compare, Neg, Node, Num, Param, Product, Sum, X
from core.domain.params import ParamInfo

Value = Tensor | float
Compiled = Callable[[Tensor, Mapping[str, Tensor]], Value]

_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "exp": torch.exp,
    "log": torch.log, "log1p": torch.log1p, "softplus": torch.nn.functional.softplus,
    "abs": torch.abs, "sqrt": torch.sqrt, "erf": torch.erf, "sin": torch.sin, "cos": torch.cos,
    "elu": torch.nn.functional.elu, "selu": torch.selu, "gelu": torch.nn.functional.gelu,
    "silu": torch.nn.functional.silu, "softsign": torch.nn.functional.softsign,
    "sinh": torch.sinh, "cosh": torch.cosh, "atan": torch.atan, "square": torch.square,
}


def _div(a: Value, b: Value) -> Value:
    """a / b with |b| kept at least formula.DIV_EPSILON (its sign kept, 0 counted as +)."""
    eps = formula.DIV_EPSILON
    if isinstance(b, float):
        return a / formula.safe_denominator(b)
    sign = torch.where(b < 0, -1.0, 1.0).to(b.dtype)
    return a / torch.where(b.abs() < eps, sign * eps, b)
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _tensor(v: Value, like: Tensor) -> Tensor:
    return v if isinstance(v, Tensor) else torch.full((), v, dtype=like.dtype, device=like.device)


def _extreme(a: Value, b: Value, x: Tensor, smaller: bool) -> Tensor:
    """min(a, b) (`smaller`) or max(a, b); a number against a tensor is a clamp."""
    if isinstance(a, float) and isinstance(b, Tensor):
        a, b = b, a
    if isinstance(a, Tensor) and isinstance(b, float):
        return torch.clamp(a, max=b) if smaller else torch.clamp(a, min=b)
    pick = torch.minimum if smaller else torch.maximum
    return pick(_tensor(a, x), _tensor(b, x))


def _minimum(a: Value, b: Value, x: Tensor) -> Tensor:
    return _extreme(a, b, x, smaller=True)


def _maximum(a: Value, b: Value, x: Tensor) -> Tensor:
    return _extreme(a, b, x, smaller=False)


def compile_tree(node: Node) -> Compiled:
    """`node` as a function of (x, {name: broadcast parameter})."""
    if isinstance(node, Num):
        value = node.value
        return lambda x, p: value
    if isinstance(node, X):
        return lambda x, p: x
    if isinstance(node, Param):
        name = node.name
        return lambda x, p: p[name]
    if isinstance(node, Neg):
        inner = compile_tree(node.operand)
        return lambda x, p: -inner(x, p)
    if isinstance(node, Sum | Product):
        return _compile_terms(node)
    if isinstance(node, Binary):
        left, right = compile_tree(node.left), compile_tree(node.right)
        if node.op == "-":
            return lambda x, p: left(x, p) - right(x, p)
        if node.op == "/":
            return lambda x, p: left(x, p) / right(x, p)
        return lambda x, p: left(x, p) ** right(x, p)
    if isinstance(node, Compare):
        left, right = compile_tree(node.left), compile_tree(node.right)
        compare = _COMPARE[node.op]
        return lambda x, p: compare(left(x, p), right(x, p))
    assert isinstance(node, Call)
    return _compile_call(node)


def _compile_terms(node: Sum | Product) -> Compiled:
    parts = [compile_tree(c) for c in formula.children(node)]
    first, rest = parts[0], parts[1:]
    if isinstance(node, Sum):
        def add(x: Tensor, p: Mapping[str, Tensor]) -> Value:
            out = first(x, p)
            for part in rest:
                out = out + part(x, p)
            return out
        return add

    def mul(x: Tensor, p: Mapping[str, Tensor]) -> Value:
        out = first(x, p)
        for part in rest:
            out = out * part(x, p)
        return out
    return mul


def _compile_call(node: Call) -> Compiled:
    args = [compile_tree(a) for a in node.args]
    if node.fn in _UNARY:
        fn, (a,) = _UNARY[node.fn], args
        return lambda x, p: fn(_tensor(a(x, p), x))
    if node.fn == "div":
        return lambda x, p: _div(args[0](x, p), args[1](x, p))
    if node.fn == "min":
        return lambda x, p: _minimum(args[0](x, p), args[1](x, p), x)
    if node.fn == "max":
        return lambda x, p: _maximum(args[0](x, p), args[1](x, p), x)
    if node.fn == "clamp":
        return lambda x, p: _minimum(_maximum(args[0](x, p), args[1](x, p), x),
                                     args[2](x, p), x)
    cond, then, other = args  # where
    return lambda x, p: torch.where(_tensor(cond(x, p), x), then(x, p), other(x, p))


class Formula(Activation):
    """f(x) given as an expression over x and learnable named parameters."""

    def __init__(self, num_channels: int | None, expression: str = "x",
                 parameters: Mapping[str, float] | None = None, per_channel: bool = True) -> None:
        super().__init__()
        declared = dict(parameters or {})
        self.expression = formula.canonical(expression, declared)
        self.names = tuple(sorted(declared))
        for name in self.names:
            self.register_parameter(name, make_param(declared[name], num_channels, per_channel))
        self.tree = compile_tree(formula.parse(self.expression, declared))

    def fn(self, x: Tensor, *params: Tensor) -> Tensor:
        """The formula on `x` with the parameters in `self.names` order."""
        out = self.tree(x, {n: bcast(p, x) for n, p in zip(self.names, params, strict=True)})
        # A formula whose value does not depend on x's shape everywhere (where(x > 0, 1, 0))
        # still answers one value per element.
        return out if isinstance(out, Tensor) and out.shape == x.shape \
            else torch.broadcast_to(_tensor(out, x), x.shape).clone()

    def forward(self, x: Tensor) -> Tensor:
        params = [getattr(self, n) for n in self.names]
        if not params:
            return recompute(self.fn, x)
        return recompute(self.fn, x, *params)

    def reference(self, x: Tensor) -> Tensor:
        """The same formula through plain autograd (what the tests compare against)."""
        return self.fn(x, *[getattr(self, n) for n in self.names])

    def extra_repr(self) -> str:
        return f"{self.expression!r}"


register(ActivationInfo(
    name="formula", builder=Formula, family="formula", per_channel_capable=True,
    formula="f(x) = the expression",
    reference="a researcher's own activation, written in the spec",
    params=(
        ParamInfo("expression", "x", kind="expression",
                  doc="f(x) over x and the declared parameters (see `grammar`)"),
        ParamInfo("parameters", {}, kind="parameters",
                  doc="learnable parameters: {name: initial value}; every one must be used"),
        ParamInfo("per_channel", True, kind="bool",
                  doc="one learnable value per channel (dim 1) instead of one scalar"),
    ),
    notes="Stored and hashed in canonical form (constants folded, sums and products in a "
          "fixed order), which is also the label the leaderboard shows.",
    grammar=formula.GRAMMAR,
))
