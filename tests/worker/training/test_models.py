"""Every model with a learnable and a channel-doubling activation: shapes, parameter counts
against the references, labelled activation slots."""

from __future__ import annotations

import pytest
import torch

import activations
from worker.training.models import ActFactory, build_model, model_names

CASES = {
    "mlp": ((1, 8, 8), {}),
    "lenet4": ((1, 28, 28), {}),
    "lenet5": ((1, 28, 28), {}),
    "resnet_v1": ((3, 32, 32), {"depth": 8}),
    "resnet_v2": ((3, 32, 32), {"depth": 8}),
    "wide_resnet": ((3, 32, 32), {"depth": 10, "widen": 1}),
    "mnist1d_cnn": ((1, 40), {}),
    "mnist1d_mlp": ((1, 40), {}),
    "unet": ((1, 16, 16), {"width": 4}),
    "gpt": ((6,), {"n_layer": 2, "d_model": 16, "n_head": 2, "d_ff": 24}),
    "vit": ((3, 16, 16), {"n_layer": 2, "d_model": 16, "n_head": 2, "d_ff": 24}),
}
# Segmentation models answer per pixel, language models per token; U-Net's up blocks have a
# third slot (post), a transformer block one (its FFN's).
OUTPUTS = {"unet": (4, 10, 16, 16), "gpt": (4, 6, 10)}
POSITIONS = {"unet": (1, 2, 3), "gpt": (1,), "vit": (1,)}
# Models that read token ids (0 .. classes - 1), not values.
TOKENS = {"gpt"}


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Models built only with their edge functions, tested with them (test_kan.py).
EDGE_MODELS = {"kan"}


def test_every_model_is_covered() -> None:
    assert set(model_names()) == set(CASES) | EDGE_MODELS


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("act", ["relu", "dual_line", "inverse"])
@pytest.mark.parametrize("policy", ["keep_filters", "keep_width"])
def test_forward_backward_and_labelled_slots(name: str, act: str, policy: str) -> None:
    shape, params = CASES[name]
    model = build_model(name, {**params, "width_policy": policy}, shape, 10, ActFactory(act))
    x = torch.randint(0, 10, (4, *shape)) if name in TOKENS else torch.randn(4, *shape)
    y = model(x)
    assert y.shape == OUTPUTS.get(name, (4, 10))
    y.sum().backward()
    slots = activations.activation_modules(model)
    assert slots, "no activation slot found"
    assert all(m.block is not None and m.position in POSITIONS.get(name, (1, 2))
               for _, m in slots)
    assert len({(m.block, m.position) for _, m in slots}) == len(slots)  # unique labels
    if act == "dual_line":
        snaps = activations.activation_parameters(model)
        assert {s.name for s in snaps} == {"a", "b", "m"}


def test_reference_parameter_counts() -> None:
    relu = ActFactory("relu")
    # He et al. 2016: ResNet-20 has 0.27M parameters (option A shortcuts).
    assert count(build_model("resnet_v1", {"depth": 20}, (3, 32, 32), 10, relu)) == 269_722
    assert count(build_model("resnet_v1", {"depth": 56}, (3, 32, 32), 10, relu)) == 853_018
    # Zagoruyko & Komodakis 2016: WRN-28-10 has 36.5M, WRN-16-4 2.7M.
    wrn = build_model("wide_resnet", {"depth": 28, "widen": 10}, (3, 32, 32), 10, relu)
    assert round(count(wrn) / 1e6, 1) == 36.5
    assert round(count(build_model("wide_resnet", {"depth": 16, "widen": 4}, (3, 32, 32), 10,
                                   relu)) / 1e6, 1) == 2.7
    # LeNet-5: 61,706 parameters on 32x32-equivalent input.
    assert count(build_model("lenet5", {}, (1, 28, 28), 10, relu)) == 61_706
    # The MNIST-1D CNN: 3 x 25 channels, about 5k parameters.
    assert count(build_model("mnist1d_cnn", {}, (1, 40), 10, relu)) == 5_210


def test_inverse_width_policy_trades_filters_for_macs() -> None:
    from worker.training import count_macs

    x = torch.randn(1, 3, 32, 32)
    macs = {}
    for act, policy in [("relu", "keep_filters"), ("inverse", "keep_filters"),
                        ("inverse", "keep_width")]:
        model = build_model("resnet_v1", {"depth": 20, "width_policy": policy}, (3, 32, 32),
                            10, ActFactory(act))
        macs[(act, policy)] = count_macs(model, x)[0]
    # Same output width with half the filters: fewer MACs than ReLU; wider: more.
    assert macs[("inverse", "keep_width")] < macs[("relu", "keep_filters")]
    assert macs[("inverse", "keep_filters")] > macs[("relu", "keep_filters")]


def test_bad_depths_and_params_are_clear() -> None:
    relu = ActFactory("relu")
    with pytest.raises(ValueError, match="6n \\+ 2"):
        build_model("resnet_v1", {"depth": 21}, (3, 32, 32), 10, relu)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        build_model("wide_resnet", {"depth": 20}, (3, 32, 32), 10, relu)
    with pytest.raises(ValueError, match="valid parameters: depth, shortcut, width_policy"):
        build_model("resnet_v1", {"layers": 3}, (3, 32, 32), 10, relu)
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build_model("vgg", {}, (3, 32, 32), 10, relu)


def test_macs_include_the_activations_own_work() -> None:
    """Layer MACs are the same for ReLU and GAAF on one MLP; the total is not: every slot adds
    its activation's operations on the input it receives (ReLU: 1 per element)."""
    from worker.training import count_macs

    x = torch.randn(1, 1, 8, 8)
    totals = {}
    for act in ("relu", "gaaf_relu", "dual_line", "identity"):
        model = build_model("mlp", {"hidden": 32, "depth": 2}, (1, 8, 8), 10, ActFactory(act))
        totals[act] = count_macs(model, x)
    layers = 64 * 32 + 32 * 32 + 32 * 10
    assert totals["relu"] == (layers + 64, 64)  # two slots of 32 elements, one op each
    assert totals["identity"] == (layers, 0)
    assert totals["gaaf_relu"][0] - layers == totals["gaaf_relu"][1] > 5 * 64
    assert totals["dual_line"][1] == 4 * 64  # compare, select, multiply, add


def test_inverse_activation_costs_count_both_halves() -> None:
    from activations import create
    from activations.cost import elementwise_ops

    x = torch.randn(2, 4)
    assert elementwise_ops(create("relu"), x) == 8
    # relu(x) and relu(-x): a negation and two rectifications per input element.
    assert elementwise_ops(create("inverse"), x) == 3 * 8


def test_unet_layout_and_its_slots() -> None:
    """Ronneberger et al.'s layout at two levels: filters double per level down, the up path
    mirrors it, skips are concatenated; the transposed convolutions have a slot of their own."""
    model = build_model("unet", {"levels": 2, "width": 8}, (1, 32, 32), 4, ActFactory("relu"))
    from worker.training.placement import slots

    kinds = {s["name"]: s["kind"] for s in slots(model)}
    assert kinds["up1.post"] == kinds["up2.post"] == "after_conv_transpose"
    assert [n for n in kinds if n.startswith("down")] == [
        "down1.act1", "down1.act2", "down2.act1", "down2.act2"]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs[:6]] == [8, 8, 16, 16, 32, 32]
    ups = [m for m in model.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(32, 16), (16, 8)]
    assert model.up1.conv1.in_channels == 32  # 16 up + 16 skip
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 4, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        build_model("unet", {"levels": 2}, (1, 30, 30), 4, ActFactory("relu"))
