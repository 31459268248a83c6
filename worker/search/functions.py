"""Candidates as functions, not strings: each compiled as a formula activation, evaluated on
a fixed grid, filtered when it cannot train (not finite, constant, exploding) and grouped
with the other spellings of the same function.

Two candidates are one function when their outputs on GRID agree within RTOL/ATOL. A
template with learnable parameters is never merged with a fixed function (they agree only
at the initial values); templates group among themselves by canonical form and initial
values. Grouping visits candidates in a fixed order (shortest canonical form first), so the
same candidates give the same functions whatever order they come in, and each function is
named by its shortest spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

import activations
from core.domain import formula

GRID = torch.linspace(-5.0, 5.0, 201, dtype=torch.float64)
RTOL, ATOL = 1e-5, 1e-6
FLAT = 1e-6  # a function whose outputs span less than this on GRID is constant
MAX_ABS = 1e4  # |f(x)| on GRID beyond this: it would explode in a deep network


@dataclass(frozen=True)
class Candidate:
    expression: str
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def learnable(self) -> bool:
        return bool(self.parameters)


@dataclass
class Function:
    """One function and every candidate spelling it."""

    canonical: str
    parameters: dict[str, float]
    outputs: list[float]  # on GRID (at the initial values, for templates)
    spellings: list[str]  # canonical forms, `canonical` first

    @property
    def equivalents(self) -> list[str]:
        return self.spellings[1:]


@dataclass(frozen=True)
class Filtered:
    expression: str
    reason: str


def outputs(candidate: Candidate) -> Tensor:
    """f on GRID in float64 (at the initial values of its parameters)."""
    module = activations.create("formula", num_channels=None, expression=candidate.expression,
                                parameters=candidate.parameters, per_channel=False).double()
    with torch.no_grad():
        y: Tensor = module(GRID.clone())
    return y


def _why_unfit(y: Tensor) -> str | None:
    bad = ~torch.isfinite(y)
    if bool(bad.any()):
        where = float(GRID[bad.nonzero()[0, 0]])
        return f"not finite at x = {where:g} (on the grid [-5, 5])"
    peak = float(y.abs().max())
    if peak > MAX_ABS:
        return f"explodes: |f(x)| reaches {peak:.3g} on [-5, 5] (limit {MAX_ABS:g})"
    if float(y.max() - y.min()) < FLAT:
        return f"constant: f(x) = {float(y[0]):.6g} everywhere on [-5, 5]"
    return None


def group(candidates: Sequence[Candidate]) -> tuple[list[Function], list[Filtered]]:
    """The distinct functions among `candidates` and the ones filtered before training, with
    the reason (refused by the grammar, not finite, exploding, constant)."""
    parsed: list[tuple[str, Candidate]] = []
    filtered: list[Filtered] = []
    for c in candidates:
        try:
            parsed.append((formula.canonical(c.expression, c.parameters), c))
        except formula.FormulaError as exc:
            filtered.append(Filtered(c.expression, f"refused by the grammar: {exc}"))
    parsed.sort(key=lambda pc: (pc[1].learnable, len(pc[0]), pc[0]))
    fixed: list[Function] = []
    fixed_rows: list[Tensor] = []
    templates: dict[tuple[str, tuple[tuple[str, float], ...]], Function] = {}
    for canon, c in parsed:
        if c.learnable:
            key = (canon, tuple(sorted(c.parameters.items())))
            if key in templates:
                continue  # the same template twice
        y = outputs(Candidate(canon, c.parameters))
        reason = _why_unfit(y)
        if reason is not None:
            filtered.append(Filtered(c.expression, reason))
            continue
        if c.learnable:
            templates[key] = Function(canon, dict(c.parameters), y.tolist(), [canon])
            continue
        if fixed_rows:
            table = torch.stack(fixed_rows)
            same = ((table - y).abs() <= ATOL + RTOL * y.abs()).all(1).nonzero()
            if len(same):
                match = fixed[int(same[0, 0])]
                if canon not in match.spellings:
                    match.spellings.append(canon)
                continue
        fixed.append(Function(canon, {}, y.tolist(), [canon]))
        fixed_rows.append(y)
    return fixed + list(templates.values()), filtered
