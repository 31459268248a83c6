"""The space an activation search draws from: schemas of core units over operator sets.

A schema is a small expression over `x` and two placeholders, `unary(...)` and
`binary(..., ...)` (Ramachandran et al. 2017's core units): `"binary(unary(x), unary(x))"`
is every `b(u1(x), u2(x))` with u1, u2 from the unary set and b from the binary set. Every
operator is a formula template (core.domain.formula's grammar), so a candidate is an ordinary
formula activation with a canonical form. Standard library only: the API checks a search's
space and its size without torch.

A space larger than MAX_ENUMERATE is sampled (seeded), never enumerated.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from core.domain import formula

# name -> template over {0}: every unary core unit, written in the formula grammar.
UNARY_OPS: dict[str, str] = {
    "identity": "{0}", "neg": "-({0})", "abs": "abs({0})", "square": "square({0})",
    "cube": "({0}) ** 3", "sqrt_abs": "sqrt(abs({0}))", "relu": "relu({0})",
    "min0": "min({0}, 0)", "sigmoid": "sigmoid({0})", "tanh": "tanh({0})",
    "softplus": "softplus({0})", "exp": "exp({0})", "gauss": "exp(-square({0}))",
    "log_abs": "log(abs({0}) + 0.001)", "sin": "sin({0})", "cos": "cos({0})",
    "sinh": "sinh({0})", "cosh": "cosh({0})", "atan": "atan({0})", "erf": "erf({0})",
    "elu": "elu({0})", "selu": "selu({0})", "gelu": "gelu({0})", "silu": "silu({0})",
    "softsign": "softsign({0})",
}
# name -> template over {0} and {1}: the binary core units.
BINARY_OPS: dict[str, str] = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "div({0}, {1})",
    "min": "min({0}, {1})", "max": "max({0}, {1})", "gate": "sigmoid({0}) * {1}",
    "mean": "({0} + {1}) / 2", "gauss_diff": "exp(-square({0} - {1}))",
    "laplace_diff": "exp(-abs({0} - {1}))",
}
DEFAULT_UNARY: tuple[str, ...] = tuple(UNARY_OPS)
DEFAULT_BINARY: tuple[str, ...] = tuple(BINARY_OPS)
PLACEHOLDERS = {"unary": 1, "binary": 2}
MAX_SCHEMA_SLOTS = 8  # placeholders in one schema
MAX_ENUMERATE = 20_000  # a schema with more expansions is sampled


class SpaceError(ValueError):
    """A schema or operator set that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class _Slot:
    kind: str  # unary | binary
    args: tuple[_Shape, ...]


_Shape = _Slot | None  # None: x


@dataclass(frozen=True)
class Schema:
    text: str
    shape: _Shape

    @property
    def slots(self) -> list[str]:
        """The placeholder kinds in the order their operators are chosen (pre-order)."""
        out: list[str] = []

        def walk(node: _Shape) -> None:
            if node is not None:
                out.append(node.kind)
                for arg in node.args:
                    walk(arg)
        walk(self.shape)
        return out

    def size(self, unary: Sequence[str], binary: Sequence[str]) -> int:
        sets = {"unary": len(unary), "binary": len(binary)}
        return math.prod(sets[k] for k in self.slots)

    def expand(self, ops: Sequence[str]) -> str:
        """The formula for one choice of operator per slot (in `slots` order)."""
        chosen = iter(ops)

        def text(node: _Shape) -> str:
            if node is None:
                return "x"
            name = next(chosen)
            template = UNARY_OPS[name] if node.kind == "unary" else BINARY_OPS[name]
            return template.format(*(text(a) for a in node.args))
        return text(self.shape)

    def enumerate(self, unary: Sequence[str], binary: Sequence[str]) -> Iterator[str]:
        """Every expansion, in a fixed order; refused above MAX_ENUMERATE."""
        if self.size(unary, binary) > MAX_ENUMERATE:
            raise SpaceError(f"schema {self.text!r} has {self.size(unary, binary)} expansions; "
                             f"above {MAX_ENUMERATE} it is sampled, not enumerated")
        sets = [unary if k == "unary" else binary for k in self.slots]
        for ops in itertools.product(*sets):
            yield self.expand(ops)

    def sample(self, unary: Sequence[str], binary: Sequence[str], rng: random.Random,
               n: int) -> list[str]:
        """Up to `n` distinct expansions drawn uniformly (with `rng`), never enumerating."""
        sets = [unary if k == "unary" else binary for k in self.slots]
        n = min(n, self.size(unary, binary))
        seen: dict[str, None] = {}
        attempts = 0
        while len(seen) < n and attempts < 20 * n + 100:
            seen.setdefault(self.expand([rng.choice(s) for s in sets]), None)
            attempts += 1
        return list(seen)


def parse_schema(text: str) -> Schema:
    """`"binary(unary(x), unary(x))"` -> its Schema; SpaceError naming the problem."""
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        raise SpaceError(f"a schema is a non-empty expression of at most 200 characters, "
                         f"got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise SpaceError(f"schema {text!r}: syntax error: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
        raise SpaceError(f"schema {text!r} cannot be parsed") from None

    count = 0

    def build(node: ast.AST) -> _Shape:
        nonlocal count
        if isinstance(node, ast.Name) and node.id == "x":
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in PLACEHOLDERS and not node.keywords:
            arity = PLACEHOLDERS[node.func.id]
            if len(node.args) != arity:
                raise SpaceError(f"schema {text!r}: {node.func.id} takes {arity} "
                                 f"argument(s), got {len(node.args)}")
            count += 1
            if count > MAX_SCHEMA_SLOTS:
                raise SpaceError(f"schema {text!r} has more than {MAX_SCHEMA_SLOTS} "
                                 f"placeholders")
            return _Slot(node.func.id, tuple(build(a) for a in node.args))
        raise SpaceError(f"schema {text!r}: only x, unary(...) and binary(..., ...) may "
                         f"appear, not {ast.unparse(node)!r}")

    shape = build(tree)
    if shape is None:
        raise SpaceError(f"schema {text!r} has no placeholder: write the expression as a "
                         "candidate instead")
    return Schema(text.strip(), shape)


def check_operators(names: Sequence[str], kind: str) -> list[str]:
    """The names, checked against the operator set of `kind` (unary or binary)."""
    known = UNARY_OPS if kind == "unary" else BINARY_OPS
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SpaceError(f"unknown {kind} operator(s) {', '.join(map(repr, unknown))}; "
                         f"{kind} operators: {', '.join(known)}")
    if len(set(names)) != len(names):
        repeated = sorted(n for n in set(names) if list(names).count(n) > 1)
        raise SpaceError(f"{kind} operators repeat: {repeated}")
    if not names:
        raise SpaceError(f"the {kind} operator set is empty")
    return list(names)


def canonical_or_reason(expression: str, parameters: dict[str, float] | None = None
                        ) -> tuple[str | None, str | None]:
    """(canonical form, None), or (None, why) where the grammar refuses the expansion (a
    constant part undefined, no x left after folding)."""
    try:
        return formula.canonical(expression, parameters or {}), None
    except formula.FormulaError as exc:
        return None, str(exc)
