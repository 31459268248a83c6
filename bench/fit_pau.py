"""Derive the Padé unit's initial coefficients: the safe rational P5(x) / (1 + sum |q_k| |x|^k),
k = 1..4, fitted to leaky ReLU (slope 0.01) on [-3, 3] by Adam on mean squared error (as the
PAU authors initialise). Prints the coefficients stored in activations/parametric.py.

    python -m bench.fit_pau
"""

from __future__ import annotations

import torch


def main() -> None:
    torch.manual_seed(0)
    xs = torch.linspace(-3, 3, 2001, dtype=torch.float64)
    target = torch.nn.functional.leaky_relu(xs, 0.01)
    p = torch.tensor([0.03, 0.6, 2.3, 3.0, 1.5, 0.25], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([1.1, 4.4, 0.9, 0.35], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p, q], lr=1e-2)
    for step in range(20000):
        num = sum(p[k] * xs**k for k in range(6))
        den = 1 + sum(q[k - 1].abs() * xs.abs() ** k for k in range(1, 5))
        loss = ((num / den - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 15000:
            for group in opt.param_groups:
                group["lr"] = 1e-3
    print("mse", loss.item())
    print("numerator", [round(v, 6) for v in p.tolist()])
    print("denominator", [round(v, 6) for v in q.abs().tolist()])


if __name__ == "__main__":
    main()
