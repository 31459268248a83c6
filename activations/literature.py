"""Fixed (non-learnable) activations from the literature, formulas taken from the papers and
checked at hand-computed points in tests/activations/test_values.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from activations.stateless import register_stateless
from core.domain.params import ParamInfo


def trelu(x: Tensor, threshold: float = -0.25, mean_shift: float = -0.03) -> Tensor:
    # lessw2020/TRelu: relu(x) + threshold, then minus the mean shift (net -0.22 by default).
    return F.relu(x) + threshold - mean_shift


def general_relu(x: Tensor, leak: float = 0.1, sub: float = 0.4, maxv: float = 6.0) -> Tensor:
    return (F.leaky_relu(x, leak) - sub).clamp_max(maxv)


def aria2(x: Tensor, a: float = 1.5, b: float = 2.0) -> Tensor:
    # (1 + e^{-bx})^{-a} as e^{-a softplus(-bx)}: the power's gradient was NaN from x = -50
    # (e^{100} overflows float32), and the kernel computes it this way too; softplus is 0 in
    # float32 below -200, where its gradient would be inf * 0 (x = 3e38)
    return x * torch.exp(-a * F.softplus((-b * x).clamp_min(-200)))


def isru(x: Tensor, alpha: float = 1.0) -> Tensor:
    return x * torch.rsqrt(1 + alpha * x * x)


def isrlu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return torch.where(x >= 0, x, x * torch.rsqrt(1 + alpha * x * x))


def sqnl(x: Tensor) -> Tensor:
    y = torch.where(x >= 0, x - x * x / 4, x + x * x / 4)
    return torch.where(x > 2, torch.ones_like(x), torch.where(x < -2, -torch.ones_like(x), y))


def bent_identity(x: Tensor) -> Tensor:
    return (torch.sqrt(x * x + 1) - 1) / 2 + x


def e_swish(x: Tensor, beta: float = 1.375) -> Tensor:
    # beta (x sigmoid(x)): beta x overflows at x = -3e38; the clamp (sigmoid is 0 or 1 there)
    # keeps the gradient 0 where x sigmoid'(x) would be inf * 0
    return beta * (x * torch.sigmoid(x.clamp(-200, 200)))


def ftswish(x: Tensor, t: float = -0.2) -> Tensor:
    # x < 0, not x >= 0, chooses the constant: NaN in stays NaN out (a diverged run diverges)
    return torch.where(x < 0, torch.full_like(x, t), x * torch.sigmoid(x) + t)


def elish(x: Tensor) -> Tensor:
    # expm1 of x <= 0 only: expm1(89) is inf, and the unused branch's gradient (0 * inf) NaN
    return torch.where(x >= 0, x, torch.expm1(x.clamp_max(0))) * torch.sigmoid(x)


def hard_elish(x: Tensor) -> Tensor:
    gate = ((x + 1) / 2).clamp(0, 1)
    return torch.where(x >= 0, x, torch.expm1(x.clamp_max(0))) * gate


def lisht(x: Tensor) -> Tensor:
    return x * torch.tanh(x)


def mila(x: Tensor, beta: float = -0.25) -> Tensor:
    return x * torch.tanh(F.softplus(x + beta))


def beta_mish(x: Tensor, beta: float = 1.5) -> Tensor:
    # x * tanh(ln((1 + e^x)^beta)) = x * tanh(beta * softplus(x))
    # softplus of x >= -200 only (it is 0 in float32 below): at x = -3e38 its gradient is
    # x beta sigmoid(x) = -inf * 0
    return x * torch.tanh(beta * F.softplus(x.clamp_min(-200)))


def soft_clipping(x: Tensor, alpha: float = 0.5) -> Tensor:
    # (1/alpha) * ln((1 + e^{alpha x}) / (1 + e^{alpha (x - 1)})), written with softplus
    return (F.softplus(alpha * x) - F.softplus(alpha * (x - 1))) / alpha


def lecun_tanh(x: Tensor) -> Tensor:
    return 1.7159 * torch.tanh(2.0 * x / 3.0)


def sine_relu(x: Tensor, epsilon: float = 0.0025) -> Tensor:
    return torch.where(x > 0, x, epsilon * (torch.sin(x) - torch.cos(x)))


_ACT_LIST = "Balaji et al. 2019 (seed 001) compared it among 43 activations"

register_stateless("trelu", trelu, r"f(x) = \max(0, x) + t - s, t = -0.25, s = -0.03",
                   "Wright 2019, TRelu (github.com/lessw2020/TRelu)",
                   (ParamInfo("threshold", -0.25), ParamInfo("mean_shift", -0.03)),
                   family="literature")
register_stateless("general_relu", general_relu,
                   r"f(x) = \min(\mathrm{leaky}_\ell(x) - s, v_{max})",
                   "Howard et al. 2019, fastai GeneralRelu (leak, sub, maxv)",
                   (ParamInfo("leak", 0.1, min=0.0), ParamInfo("sub", 0.4),
                    ParamInfo("maxv", 6.0)), family="literature")
register_stateless("aria2", aria2, r"f(x) = x (1 + e^{-b x})^{-a}",
                   "Sharma 2019, Aria-2: richards curve activation", (
                       ParamInfo("a", 1.5, min=0.0, min_exclusive=True),
                       ParamInfo("b", 2.0, min=0.0, min_exclusive=True)),
                   family="literature", notes=_ACT_LIST)
register_stateless("isru", isru, r"f(x) = \frac{x}{\sqrt{1 + \alpha x^2}}",
                   "Carlile et al. 2017, Improving deep learning by inverse square root linear "
                   "units (ISRLUs)", (ParamInfo("alpha", 1.0, min=0.0, min_exclusive=True),),
                   family="literature")
register_stateless("isrlu", isrlu,
                   r"f(x) = x \text{ if } x \ge 0 \text{ else } \frac{x}{\sqrt{1 + \alpha x^2}}",
                   "Carlile et al. 2017, Improving deep learning by inverse square root linear "
                   "units (ISRLUs)", (ParamInfo("alpha", 1.0, min=0.0, min_exclusive=True),),
                   family="literature")
register_stateless("sqnl", sqnl,
                   r"f(x) = 1 (x > 2); x - x^2/4 (0 \le x \le 2); x + x^2/4 (-2 \le x < 0); "
                   r"-1 (x < -2)", "Wuraola & Patel 2018, SQNL: a new computationally "
                   "efficient activation function", family="literature")
register_stateless("bent_identity", bent_identity, r"f(x) = \frac{\sqrt{x^2 + 1} - 1}{2} + x",
                   "Bent identity (common activation lists)", family="literature")
register_stateless("e_swish", e_swish, r"f(x) = \beta x \sigma(x)",
                   "Alcaide 2018, E-swish: adjusting activations to different network depths",
                   (ParamInfo("beta", 1.375, min=1.0, max=2.0),), family="literature")
register_stateless("ftswish", ftswish,
                   r"f(x) = x \sigma(x) + T \text{ if } x \ge 0 \text{ else } T",
                   "Chieng et al. 2018, Flatten-T Swish", (ParamInfo("t", -0.2),),
                   family="literature")
register_stateless("elish", elish,
                   r"f(x) = x \sigma(x) \text{ if } x \ge 0 \text{ else } (e^x - 1) \sigma(x)",
                   "Basirat & Roth 2018, The quest for the golden activation function",
                   family="literature")
register_stateless("hard_elish", hard_elish,
                   r"f(x) = g(x) \max(0, \min(1, \frac{x + 1}{2})), g(x) = x (x \ge 0), "
                   r"e^x - 1 (x < 0)",
                   "Basirat & Roth 2018, The quest for the golden activation function",
                   family="literature")
register_stateless("lisht", lisht, r"f(x) = x \tanh(x)",
                   "Roy et al. 2019, LiSHT: non-parametric linearly scaled hyperbolic tangent",
                   family="literature")
register_stateless("mila", mila, r"f(x) = x \tanh(\ln(1 + e^{x + \beta}))",
                   "Misra 2019, Mila (github.com/digantamisra98/Mila)",
                   (ParamInfo("beta", -0.25),), family="literature")
register_stateless("beta_mish", beta_mish, r"f(x) = x \tanh(\ln((1 + e^x)^\beta))",
                   "Misra 2019, beta-Mish (github.com/digantamisra98/Beta-Mish)",
                   (ParamInfo("beta", 1.5, min=0.0, min_exclusive=True),), family="literature")
register_stateless("soft_clipping", soft_clipping,
                   r"f(x) = \frac{1}{\alpha} \ln \frac{1 + e^{\alpha x}}{1 + e^{\alpha (x - 1)}}",
                   "Klimek & Perelstein 2018, Neural network-based approach to phase space "
                   "integration", (ParamInfo("alpha", 0.5, min=0.0, min_exclusive=True),),
                   family="literature")
register_stateless("lecun_tanh", lecun_tanh, r"f(x) = 1.7159 \tanh(\frac{2}{3} x)",
                   "LeCun et al. 1998, Efficient BackProp", family="literature")
register_stateless("sine_relu", sine_relu,
                   r"f(x) = x \text{ if } x > 0 \text{ else } \epsilon (\sin x - \cos x)",
                   "Rodrigues 2018, SineReLU", (ParamInfo("epsilon", 0.0025, min=0.0),),
                   family="literature")

