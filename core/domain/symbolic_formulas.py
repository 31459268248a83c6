"""The named formulas of the `symbolic` regression dataset: each one's inputs, their ranges and
its source. The worker evaluates them (worker/training/symbolic.py); the catalog lists them
and the size estimate reads each one's input count, so they are described here, torch-free.

KAN's toy functions (Liu et al. 2024, section 3.1) and dimensionless Feynman equations from
its Table 3, the same sets Yu et al. 2024 ("KAN or MLP: A Fairer Comparison") use for
"symbolic formula representation", the one task where they found KAN ahead of an MLP.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Formula:
    name: str
    expression: str  # as printed, in the inputs' names
    inputs: tuple[str, ...]
    # Each input is drawn uniformly from its range, then scaled to [-1, 1] for the model
    # (KAN's spline grids cover [-1, 1] by default).
    ranges: tuple[tuple[float, float], ...]
    reference: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "expression": self.expression, "inputs": list(self.inputs),
                "ranges": [list(r) for r in self.ranges], "reference": self.reference}


_KAN_TOY = "Liu et al. 2024 (KAN), section 3.1"
_FEYNMAN = "Liu et al. 2024 (KAN), Table 3, dimensionless Feynman equation"
_UNIT = (-1.0, 1.0)

FORMULAS: tuple[Formula, ...] = (
    Formula("exp_sin", "exp(sin(pi*x) + y^2)", ("x", "y"), (_UNIT, _UNIT), _KAN_TOY),
    Formula("product", "x*y", ("x", "y"), (_UNIT, _UNIT), _KAN_TOY),
    Formula("bessel", "J0(20*x)", ("x",), (_UNIT,), _KAN_TOY + " (Bessel function of the "
                                                              "first kind, order 0)"),
    Formula("exp_sin_sum", "exp((sin(pi*(x1^2 + x2^2)) + sin(pi*(x3^2 + x4^2))) / 2)",
            ("x1", "x2", "x3", "x4"), (_UNIT,) * 4, _KAN_TOY),
    Formula("feynman_i_6_2", "exp(-theta^2 / (2*sigma^2)) / sqrt(2*pi*sigma^2)",
            ("theta", "sigma"), ((-1.0, 1.0), (1.0, 2.0)), _FEYNMAN + " I.6.2"),
    Formula("feynman_i_29_16", "sqrt(x1^2 + x2^2 - 2*x1*x2*cos(theta1 - theta2))",
            ("x1", "x2", "theta1", "theta2"), ((0.1, 1.0), (0.1, 1.0), (0.0, 6.2832),
                                               (0.0, 6.2832)), _FEYNMAN + " I.29.16"),
    Formula("feynman_i_37_4", "i1 + i2 + 2*sqrt(i1*i2)*cos(delta)", ("i1", "i2", "delta"),
            ((0.1, 1.0), (0.1, 1.0), (-3.1416, 3.1416)), _FEYNMAN + " I.37.4"),
)
BY_NAME: dict[str, Formula] = {f.name: f for f in FORMULAS}
