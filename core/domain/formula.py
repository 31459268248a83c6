"""Activations by formula: `x * sigmoid(beta * x)` parsed into a small tree, checked, and
written back in a canonical form (so `beta*x` and `x*beta` are one recipe).

The parser is Python's `ast` restricted to an allow-list of node types; nothing of the user's
text is ever evaluated. Standard library only: the API checks formulas without torch, and the
activation library compiles the same tree to torch operations (activations/formula.py).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 500  # characters of the expression
MAX_DEPTH = 24  # nesting of the tree
MAX_NODES = 200
MAX_PARAMETERS = 16
MAX_CONSTANT = 1e6  # |number| in the text, and a parameter's initial value
MAX_EXPONENT = 16.0  # `a ** c`: c a number with |c| <= 16

VARIADIC = -1  # sum(...) and prod(...): two or more arguments
DIV_EPSILON = 1e-3  # div(a, b): |b| below this is moved out to +-DIV_EPSILON

# name -> (arity, what it computes). Constants fold through the math twin.
FUNCTIONS: dict[str, tuple[int, str]] = {
    "relu": (1, "max(0, a)"),
    "sigmoid": (1, "1 / (1 + exp(-a))"),
    "tanh": (1, "hyperbolic tangent"),
    "exp": (1, "e ** a"),
    "log": (1, "natural logarithm (NaN below 0: the run diverges)"),
    "log1p": (1, "log(1 + a)"),
    "softplus": (1, "log(1 + exp(a))"),
    "abs": (1, "|a|"),
    "sqrt": (1, "square root (NaN below 0: the run diverges)"),
    "erf": (1, "error function"),
    "sin": (1, "sine"),
    "cos": (1, "cosine"),
    "elu": (1, "a where a > 0, else exp(a) - 1"),
    "selu": (1, "1.0507 * (a where a > 0, else 1.67326 * (exp(a) - 1))"),
    "gelu": (1, "a * Phi(a), Phi the standard normal CDF"),
    "silu": (1, "a * sigmoid(a)"),
    "softsign": (1, "a / (1 + |a|)"),
    "sinh": (1, "hyperbolic sine"),
    "cosh": (1, "hyperbolic cosine"),
    "atan": (1, "arc tangent"),
    "square": (1, "a * a"),
    "min": (2, "the smaller of a and b"),
    "max": (2, "the larger of a and b"),
    "clamp": (3, "a limited to [b, c]"),
    "where": (3, "b where the comparison a holds, else c"),
    "div": (2, f"safe division: a / b, with b moved out to +-{1e-3:g} where |b| is smaller "
               "(finite everywhere)"),
    "sum": (VARIADIC, "a + b + ... (two or more)"),
    "prod": (VARIADIC, "a * b * ... (two or more)"),
}
COMPARISONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
# Names a parameter may not take: the input, the functions, and attributes of the torch module
# that holds the parameters (tests/activations/test_formula.py checks this list is complete).
RESERVED = frozenset({
    "x", *FUNCTIONS, "T_destination", "activation_name", "add_module", "apply", "bfloat16",
    "block", "buffers", "call_super_init", "channel_multiplier", "channels", "children",
    "compile", "cpu", "cuda", "double", "dump_patches", "eval", "expression", "extra_repr",
    "float", "fn",
    "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half",
    "ipu", "learnable_parameters", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "names", "parameters",
    "per_channel", "position", "reference", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "share_memory", "smooth_l1_loss", "state_dict", "to",
    "to_empty", "train", "training", "tree", "type", "xpu", "zero_grad",
})

GRAMMAR: dict[str, Any] = {
    "variable": "x",
    "numbers": f"decimal literals, |value| <= {MAX_CONSTANT:g}",
    "operators": ["+", "-", "*", "/", "**", "unary -"],
    "power": f"a ** c with c a number, |c| <= {MAX_EXPONENT:g}",
    "comparisons": [">", ">=", "<", "<="],
    "comparisons_only_in": "the first argument of where(cond, a, b)",
    "functions": {name: {"arity": "2+" if arity == VARIADIC else arity, "computes": doc}
                  for name, (arity, doc) in FUNCTIONS.items()},
    "parameters": f"names declared in `parameters` with their initial values (at most "
                  f"{MAX_PARAMETERS}, each used); learnable, one per channel when per_channel",
    "limits": {"length": MAX_LENGTH, "depth": MAX_DEPTH, "nodes": MAX_NODES},
}


class FormulaError(ValueError):
    """A problem with the expression; `position` is 1-based in the text (None: the whole)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} at position {position}")
        self.position = position


# The tree. Sums and products are n-ary so that their terms can be put in a canonical order.
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class X:
    pass


@dataclass(frozen=True)
class Param:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class Sum:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Product:
    factors: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str  # "-", "/" or "**"
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Node, ...]


Node = Num | X | Param | Neg | Sum | Product | Binary | Compare | Call

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_MATH: dict[str, Callable[..., float]] = {
    "relu": lambda a: max(0.0, a), "sigmoid": lambda a: 1 / (1 + math.exp(-a)),
    "tanh": math.tanh, "exp": math.exp, "log": math.log, "log1p": math.log1p,
    "softplus": lambda a: math.log1p(math.exp(a)), "abs": abs, "sqrt": math.sqrt,
    "erf": math.erf, "sin": math.sin, "cos": math.cos, "min": min, "max": max,
    "clamp": lambda a, lo, hi: min(max(a, lo), hi),
    "elu": lambda a: a if a > 0 else math.expm1(a),
    "selu": lambda a: SELU_SCALE * (a if a > 0 else SELU_ALPHA * math.expm1(a)),
    "gelu": lambda a: a * 0.5 * (1 + math.erf(a / math.sqrt(2))),
    "silu": lambda a: a / (1 + math.exp(-a)), "softsign": lambda a: a / (1 + abs(a)),
    "sinh": math.sinh, "cosh": math.cosh, "atan": math.atan, "square": lambda a: a * a,
    "div": lambda a, b: a / safe_denominator(b),
}


def safe_denominator(b: float) -> float:
    """b, or +-DIV_EPSILON where |b| is smaller (the sign of 0 counts as +)."""
    return b if abs(b) >= DIV_EPSILON else math.copysign(DIV_EPSILON, b)


class _Builder:
    def __init__(self, declared: set[str], lead: int) -> None:
        self.declared = declared
        self.lead = lead  # leading spaces stripped before parsing
        self.used: set[str] = set()
        self.nodes = 0

    def _pos(self, node: ast.AST) -> int:
        return self.lead + getattr(node, "col_offset", 0) + 1

    def build(self, node: ast.AST, depth: int = 1, in_where: bool = False) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(f"expression has more than {MAX_NODES} parts", self._pos(node))
        if depth > MAX_DEPTH:
            raise FormulaError(f"expression nests deeper than {MAX_DEPTH}", self._pos(node))
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self.build(node.operand, depth + 1)
            return inner if isinstance(node.op, ast.UAdd) else Neg(inner)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            return self._binary(node, depth)
        if isinstance(node, ast.Compare):
            return self._compare(node, depth, in_where)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula (numbers, x, "
                           f"parameters, + - * / **, comparisons in where, and "
                           f"{', '.join(FUNCTIONS)})", self._pos(node))

    def _constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FormulaError(f"only numbers may appear as constants, not {value!r}",
                               self._pos(node))
        if not math.isfinite(value) or abs(value) > MAX_CONSTANT:
            raise FormulaError(f"number {value!r} is outside +-{MAX_CONSTANT:g}",
                               self._pos(node))
        return Num(float(value))

    def _name(self, node: ast.Name) -> Node:
        if node.id == "x":
            return X()
        if node.id in FUNCTIONS:
            raise FormulaError(f"{node.id!r} is a function; call it as {node.id}(...)",
                               self._pos(node))
        if node.id not in self.declared:
            declared = ", ".join(sorted(self.declared)) or "none declared"
            raise FormulaError(f"unknown name {node.id!r}: not x, not a function, not a "
                               f"declared parameter ({declared})", self._pos(node))
        self.used.add(node.id)
        return Param(node.id)

    def _binary(self, node: ast.BinOp, depth: int) -> Node:
        op = BINARY[type(node.op)]
        left = self.build(node.left, depth + 1)
        right = self.build(node.right, depth + 1)
        if op == "+":
            return Sum((left, right))
        if op == "*":
            return Product((left, right))
        if op == "**":
            folded = fold(right)
            if not isinstance(folded, Num) or abs(folded.value) > MAX_EXPONENT:
                raise FormulaError(f"the exponent of ** must be a number with |value| <= "
                                   f"{MAX_EXPONENT:g}", self._pos(node.right))
        return Binary(op, left, right)

    def _compare(self, node: ast.Compare, depth: int, in_where: bool) -> Node:
        if not in_where:
            raise FormulaError("a comparison may only be the first argument of "
                               "where(cond, a, b)", self._pos(node))
        if len(node.ops) != 1 or type(node.ops[0]) not in COMPARISONS:
            raise FormulaError("comparisons are one of >, >=, <, <= between two values",
                               self._pos(node))
        return Compare(COMPARISONS[type(node.ops[0])], self.build(node.left, depth + 1),
                       self.build(node.comparators[0], depth + 1))

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise FormulaError(f"only the functions {', '.join(FUNCTIONS)} may be called, by "
                               f"name", self._pos(node))
        if node.func.id not in FUNCTIONS:
            raise FormulaError(f"unknown function {node.func.id!r}; functions: "
                               f"{', '.join(FUNCTIONS)}", self._pos(node))
        fn = node.func.id
        arity = FUNCTIONS[fn][0]
        count_ok = len(node.args) >= 2 if arity == VARIADIC else len(node.args) == arity
        if node.keywords or not count_ok or \
                any(isinstance(a, ast.Starred) for a in node.args):
            wanted = "two or more" if arity == VARIADIC else str(arity)
            raise FormulaError(f"{fn} takes {wanted} positional argument(s)", self._pos(node))
        args = tuple(self.build(a, depth + 1, in_where=(fn == "where" and i == 0))
                     for i, a in enumerate(node.args))
        # n-ary sums and products are the tree's own Sum and Product: one canonical form
        # for sum(a, b) and a + b.
        if fn == "sum":
            return Sum(args)
        if fn == "prod":
            return Product(args)
        if fn == "where" and not isinstance(args[0], Compare):
            raise FormulaError("the first argument of where must be a comparison, e.g. x > 0",
                               self._pos(node.args[0]))
        return Call(fn, args)


def parse(expression: str, declared: Mapping[str, float] | set[str]) -> Node:
    """The checked tree of `expression`; raises FormulaError naming the position."""
    if not isinstance(expression, str):
        raise FormulaError(f"the expression must be a string, got {expression!r}")
    if len(expression) > MAX_LENGTH:
        raise FormulaError(f"the expression is {len(expression)} characters; at most "
                           f"{MAX_LENGTH}")
    if "\n" in expression or "\r" in expression:
        raise FormulaError("the expression must be one line", expression.find("\n") + 1)
    if not expression.strip():
        raise FormulaError("the expression is empty")
    lead = len(expression) - len(expression.lstrip())
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        at = exc.offset if exc.offset else len(expression.strip()) + 1
        raise FormulaError(f"syntax error: {exc.msg}", lead + at) from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError(f"the expression nests deeper than {MAX_DEPTH}") from None
    builder = _Builder(set(declared), lead)
    try:
        root = builder.build(tree.body)
    except RecursionError:
        raise FormulaError(f"the expression nests deeper than {MAX_DEPTH}") from None
    unused = sorted(set(declared) - builder.used)
    if unused:
        raise FormulaError(f"parameter(s) {', '.join(unused)} declared but not used")
    if not _uses_x(root):
        raise FormulaError("the expression does not use x")
    return canonical_tree(root)


def _uses_x(node: Node) -> bool:
    if isinstance(node, X):
        return True
    return any(_uses_x(child) for child in children(node))


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, Sum):
        return node.terms
    if isinstance(node, Product):
        return node.factors
    if isinstance(node, Binary | Compare):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "-": lambda a, b: a - b, "/": lambda a, b: a / b, "**": lambda a, b: a ** b}


def fold(node: Node) -> Node:
    """Constant parts evaluated (`exp(1) * x` -> `2.718... * x`); raises FormulaError where a
    constant is undefined (`log(-1)`) or overflows."""
    if isinstance(node, Num | X | Param):
        return node
    if isinstance(node, Neg):
        return _fold_neg(fold(node.operand))
    if isinstance(node, Sum | Product):
        return _fold_terms(node)
    if isinstance(node, Binary):
        left, right = fold(node.left), fold(node.right)
        return _const(_ARITHMETIC[node.op], (left, right)) or Binary(node.op, left, right)
    if isinstance(node, Compare):
        return Compare(node.op, fold(node.left), fold(node.right))
    assert isinstance(node, Call)
    args = tuple(fold(a) for a in node.args)
    if node.fn == "where":
        return Call("where", args)
    return _const(_MATH[node.fn], args, node.fn) or Call(node.fn, args)


def _fold_terms(node: Sum | Product) -> Node:
    if isinstance(node, Sum):
        terms = tuple(fold(t) for t in node.terms)
        return _const(lambda *v: math.fsum(v), terms) or Sum(terms)
    factors = tuple(fold(f) for f in node.factors)
    return _const(lambda *v: math.prod(v), factors) or Product(factors)


def _fold_neg(inner: Node) -> Node:
    if isinstance(inner, Num):
        return Num(-inner.value)
    return inner.operand if isinstance(inner, Neg) else Neg(inner)


def _const(fn: Callable[..., float], args: tuple[Node, ...], name: str = "") -> Num | None:
    if not all(isinstance(a, Num) for a in args):
        return None
    values = [a.value for a in args if isinstance(a, Num)]
    try:
        result = fn(*values)
        if isinstance(result, complex):  # (-1) ** 0.5
            raise ValueError("not a real number")
        value = float(result)
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        raise FormulaError(f"a constant part is undefined: {name or 'arithmetic'}"
                           f"({', '.join(map(repr, values))}): {exc}") from None
    if not math.isfinite(value):
        raise FormulaError(f"a constant part is not a finite number: {name or 'arithmetic'}"
                           f"({', '.join(map(repr, values))})")
    return Num(value)


def canonical_tree(node: Node) -> Node:
    """Constants folded, nested sums and products flattened, their operands sorted."""
    node = fold(node)
    if isinstance(node, Sum | Product):
        return _canonical_terms(node)
    if isinstance(node, Neg):
        return fold(Neg(canonical_tree(node.operand)))
    if isinstance(node, Binary):
        return Binary(node.op, canonical_tree(node.left), canonical_tree(node.right))
    if isinstance(node, Compare):
        return Compare(node.op, canonical_tree(node.left), canonical_tree(node.right))
    if isinstance(node, Call):
        return Call(node.fn, tuple(canonical_tree(a) for a in node.args))
    return node


def _canonical_terms(node: Sum | Product) -> Node:
    """A sum or product flattened (nested ones of its kind merged in), its numbers merged
    into one, its operands sorted by their text."""
    kind = type(node)
    flat: list[Node] = []
    for part in children(node):
        part = canonical_tree(part)
        flat.extend(children(part) if isinstance(part, kind) else (part,))
    numbers = [p for p in flat if isinstance(p, Num)]
    if len(numbers) > 1:  # 2 * x * 3 -> 6 * x
        merged = _const(lambda *v: math.fsum(v) if kind is Sum else math.prod(v),
                        tuple(numbers))
        assert merged is not None
        flat = [p for p in flat if not isinstance(p, Num)] + [merged]
    ordered = tuple(sorted(flat, key=to_text))
    return Sum(ordered) if kind is Sum else Product(ordered)


_PRECEDENCE = {Sum: 1, Product: 2, Neg: 3}
_BINARY_PRECEDENCE = {"-": 1, "/": 2, "**": 4}


def _precedence(node: Node) -> int:
    if isinstance(node, Binary):
        return _BINARY_PRECEDENCE[node.op]
    if isinstance(node, Num) and node.value < 0:
        return 3  # prints as a unary minus
    return _PRECEDENCE.get(type(node), 5)


def _wrap(child: Node, above: int) -> str:
    text = to_text(child)
    return f"({text})" if _precedence(child) < above else text


def to_text(node: Node) -> str:
    """The tree written back as an expression (parses to the same tree)."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, X):
        return "x"
    if isinstance(node, Param):
        return node.name
    if isinstance(node, Neg):
        return f"-{_wrap(node.operand, 4)}"
    if isinstance(node, Sum | Product):
        return _terms_text(node)
    if isinstance(node, Binary):
        p = _BINARY_PRECEDENCE[node.op]
        if node.op == "**":  # right-associative; parenthesise anything compound
            return f"{_wrap(node.left, 5)} ** {_wrap(node.right, 5)}"
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p + 1)}"
    if isinstance(node, Compare):
        return f"{to_text(node.left)} {node.op} {to_text(node.right)}"
    return f"{node.fn}({', '.join(to_text(a) for a in node.args)})"


def _terms_text(node: Sum | Product) -> str:
    # A difference inside a sum, or a quotient inside a product, keeps its parentheses:
    # `a + (b - c)` written `a + b - c` would parse back as a different tree.
    if isinstance(node, Sum):
        return " + ".join(_wrap(t, 2 if isinstance(t, Binary) and t.op == "-" else 1)
                          for t in node.terms)
    return " * ".join(_wrap(f, 3 if isinstance(f, Binary) and f.op == "/" else 2)
                      for f in node.factors)


def check_parameters(value: Any, where: str = "parameters") -> dict[str, float]:
    """`{name: initial value}`, names checked, sorted by name."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object of name: initial value, got {value!r}")
    if len(value) > MAX_PARAMETERS:
        raise ValueError(f"{where}: at most {MAX_PARAMETERS} parameters, got {len(value)}")
    out: dict[str, float] = {}
    for name in sorted(value):
        init = value[name]
        if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED:
            raise ValueError(f"{where}: {name!r} cannot name a parameter (a letter, then "
                             f"letters, digits or _, at most 32; not x, a function or a "
                             f"reserved word)")
        if isinstance(init, bool) or not isinstance(init, int | float) or \
                not math.isfinite(init) or abs(init) > MAX_CONSTANT:
            raise ValueError(f"{where}.{name} must be a finite number within "
                             f"+-{MAX_CONSTANT:g}, got {init!r}")
        out[name] = float(init)
    return out


def canonical(expression: str, parameters: Mapping[str, float]) -> str:
    """The canonical text of a checked expression (what the recipe stores and hashes)."""
    return to_text(parse(expression, parameters))
