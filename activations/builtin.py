"""PyTorch's built-in activations, registered under snake_case names with their formulas."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from activations.fused import rrelu_training
from activations.stateless import register_stateless
from core.domain.params import ParamInfo

_ALPHA = ParamInfo("alpha", 1.0, min=0.0, min_exclusive=True, doc="saturation scale")
_LAMBDA = ParamInfo("lambd", 0.5, min=0.0, doc="threshold")


def identity(x: Tensor) -> Tensor:
    return x


def relu(x: Tensor) -> Tensor:
    return torch.relu(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return F.leaky_relu(x, negative_slope)


def relu6(x: Tensor) -> Tensor:
    return F.relu6(x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return F.elu(x, alpha)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return F.celu(x, alpha)


def selu(x: Tensor) -> Tensor:
    return F.selu(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    return F.gelu(x, approximate=approximate)


def silu(x: Tensor) -> Tensor:
    return F.silu(x)


def mish(x: Tensor) -> Tensor:
    return F.mish(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return F.softplus(x, beta, threshold)


def squared_relu(x: Tensor) -> Tensor:
    return torch.square(torch.relu(x))


def softsign(x: Tensor) -> Tensor:
    return F.softsign(x)


def tanh(x: Tensor) -> Tensor:
    return torch.tanh(x)


def sigmoid(x: Tensor) -> Tensor:
    return torch.sigmoid(x)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    if min_val >= max_val:
        raise ValueError(f"hardtanh needs min_val < max_val, got {min_val} >= {max_val}")
    return F.hardtanh(x, min_val, max_val)


def hardsigmoid(x: Tensor) -> Tensor:
    return F.hardsigmoid(x)


def hardswish(x: Tensor) -> Tensor:
    return F.hardswish(x)


def logsigmoid(x: Tensor) -> Tensor:
    return F.logsigmoid(x)


def tanhshrink(x: Tensor) -> Tensor:
    return F.tanhshrink(x)


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return F.softshrink(x, lambd)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return F.hardshrink(x, lambd)


def rrelu(x: Tensor, lower: float = 1 / 8, upper: float = 1 / 3, training: bool = False) -> Tensor:
    # Randomised leak in training, the mean leak (lower + upper) / 2 in evaluation.
    if lower > upper:
        raise ValueError(f"rrelu needs lower <= upper, got {lower} > {upper}")
    if training:  # PyTorch's keeps a tensor of slopes and runs at ~12x ReLU on the CPU
        fast = rrelu_training(x, lower, upper)
        if fast is not None:
            return fast
    return F.rrelu(x, lower, upper, training=training)


_PYTORCH = "PyTorch built-in (torch.nn)"

register_stateless("identity", identity, r"f(x) = x", "Linear (no activation)",
                   aliases=("linear",))
register_stateless("relu", relu, r"f(x) = \max(0, x)",
                   "Nair & Hinton 2010, Rectified linear units improve RBMs")
register_stateless("squared_relu", squared_relu, r"f(x) = \max(0, x)^2",
                   "So et al. 2021, Primer: searching for efficient transformers for language "
                   "modeling", aliases=("relu2", "relu_squared"))
register_stateless("leaky_relu", leaky_relu, r"f(x) = x \text{ if } x \ge 0 \text{ else } s x",
                   "Maas et al. 2013, Rectifier nonlinearities improve neural network "
                   "acoustic models",
                   (ParamInfo("negative_slope", 0.01, min=0.0, doc="slope for x < 0"),))
register_stateless("relu6", relu6, r"f(x) = \min(\max(0, x), 6)",
                   "Krizhevsky 2010, Convolutional deep belief networks on CIFAR-10")
register_stateless("elu", elu, r"f(x) = x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)",
                   "Clevert et al. 2016, Fast and accurate deep network learning by ELUs",
                   (_ALPHA,))
register_stateless("celu", celu,
                   r"f(x) = \max(0, x) + \min(0, \alpha (e^{x/\alpha} - 1))",
                   "Barron 2017, Continuously differentiable exponential linear units", (_ALPHA,))
register_stateless("selu", selu,
                   r"f(x) = \lambda x \text{ if } x > 0 \text{ else } \lambda \alpha (e^x - 1), "
                   r"\lambda \approx 1.0507, \alpha \approx 1.6733",
                   "Klambauer et al. 2017, Self-normalizing neural networks")
register_stateless("gelu", gelu, r"f(x) = x \Phi(x)",
                   "Hendrycks & Gimpel 2016, Gaussian error linear units",
                   (ParamInfo("approximate", "none", kind="choice", choices=("none", "tanh")),))
register_stateless("silu", silu, r"f(x) = x \sigma(x)",
                   "Elfwing et al. 2018; Ramachandran et al. 2017 (Swish-1)",
                   aliases=("swish1",))
register_stateless("mish", mish, r"f(x) = x \tanh(\ln(1 + e^x))",
                   "Misra 2019, Mish: a self regularized non-monotonic activation function")
register_stateless("softplus", softplus, r"f(x) = \frac{1}{\beta} \ln(1 + e^{\beta x})",
                   "Dugas et al. 2001, Incorporating second-order functional knowledge",
                   (ParamInfo("beta", 1.0, min=0.0, min_exclusive=True),
                    ParamInfo("threshold", 20.0, min=0.0, min_exclusive=True,
                              doc="linear above beta*x > threshold")))
register_stateless("softsign", softsign, r"f(x) = \frac{x}{1 + |x|}",
                   "Turian et al. 2009, Quadratic features and deep architectures")
register_stateless("tanh", tanh, r"f(x) = \tanh(x)", _PYTORCH)
register_stateless("sigmoid", sigmoid, r"f(x) = \frac{1}{1 + e^{-x}}", _PYTORCH,
                   aliases=("logistic",))
register_stateless("hardtanh", hardtanh, r"f(x) = \min(\max(x, a), b)", _PYTORCH,
                   (ParamInfo("min_val", -1.0), ParamInfo("max_val", 1.0)))
register_stateless("hardsigmoid", hardsigmoid, r"f(x) = \min(\max(0, x/6 + 1/2), 1)",
                   "Courbariaux et al. 2015, BinaryConnect (PyTorch's slope 1/6)")
register_stateless("hardswish", hardswish, r"f(x) = x \min(\max(0, x + 3), 6) / 6",
                   "Howard et al. 2019, Searching for MobileNetV3")
register_stateless("logsigmoid", logsigmoid, r"f(x) = \ln \frac{1}{1 + e^{-x}}", _PYTORCH)
register_stateless("tanhshrink", tanhshrink, r"f(x) = x - \tanh(x)", _PYTORCH)
register_stateless("softshrink", softshrink,
                   r"f(x) = x - \lambda \text{ if } x > \lambda; x + \lambda \text{ if } "
                   r"x < -\lambda; 0 \text{ otherwise}", _PYTORCH, (_LAMBDA,))
register_stateless("hardshrink", hardshrink,
                   r"f(x) = x \text{ if } |x| > \lambda \text{ else } 0", _PYTORCH, (_LAMBDA,))
register_stateless("rrelu", rrelu,
                   r"f(x) = x \text{ if } x \ge 0 \text{ else } a x, a \sim U(l, u) "
                   r"\text{ (train)}, a = (l + u)/2 \text{ (eval)}",
                   "Xu et al. 2015, Empirical evaluation of rectified activations in convnets",
                   (ParamInfo("lower", 1 / 8, min=0.0), ParamInfo("upper", 1 / 3, min=0.0)),
                   train_aware=True)
