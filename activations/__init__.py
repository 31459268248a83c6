"""actlab's activation library: a registry of activations (fixed and learnable) for PyTorch.

    from activations import create
    act = create("dual_line", num_channels=64)      # per-channel a, b, m
    y = act(torch.randn(8, 64, 28, 28))

Imports torch and, of actlab, only the standard-library parameter schema it shares with the
API (core.domain.params, core.domain.registry), so it can be used in any PyTorch code.
"""

# Importing these modules registers their activations.
from activations import (  # noqa: F401
    bspline,
    builtin,
    composite,
    formula,
    gaaf,
    literature,
    parametric,
    piecewise,
    slaf,
)
from activations.base import Activation
from activations.cost import activation_macs, ops_per_element
from activations.introspect import (
    ParameterSnapshot,
    activation_modules,
    activation_parameter_ids,
    activation_parameters,
    response,
)
from activations.registry import (
    ActivationInfo,
    build,
    catalog,
    create,
    get_fn,
    get_info,
    names,
    nestable,
    resolve_params,
)
from core.domain import plugins as _plugins
from core.domain.params import ParamInfo

__all__ = [
    "Activation",
    "ActivationInfo",
    "ParamInfo",
    "ParameterSnapshot",
    "activation_macs",
    "activation_modules",
    "activation_parameter_ids",
    "activation_parameters",
    "build",
    "catalog",
    "create",
    "get_fn",
    "get_info",
    "names",
    "nestable",
    "ops_per_element",
    "resolve_params",
    "response",
]

# Activations of installed plugin packages (entry point group `actlab.activations`), after
# every built-in, so a plugin can build on them.
_plugins.load("activations")
