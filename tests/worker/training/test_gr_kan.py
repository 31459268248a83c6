"""GR-KAN, the Kolmogorov-Arnold Transformer's FFN: gpt and vit take `"ffn": "gr_kan"`; its
two group rationals are activation slots of kind ffn, the first the identity and the second
a fit of the spec's activation; it trains; groups must divide the widths; and the MLP FFN's
recipes keep their hash."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient

import activations
from core.domain.spec import ExperimentSpec, spec_hash
from worker.training import TrainConfig, train
from worker.training.gr_kan import GRKANFeedForward, _fitted
from worker.training.models import ActFactory, build_model
from worker.training.placement import slots

# spec_hash of the plain gpt spec below, from the code before gpt had `ffn` and `groups`.
BEFORE_FFN = "6380bdb6fc4ef32f45dae1fb619adbcb50b791832446e98df054e676b72dad9a"
GPT = {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ffn": "gr_kan", "groups": 4}


def test_the_ffn_starts_as_identity_then_the_activation() -> None:
    model = build_model("gpt", GPT, (6,), 11, ActFactory("gelu"))
    ffn = model.block0.ffn
    assert isinstance(ffn, GRKANFeedForward)
    x = torch.randn(3, 6, 16)
    torch.testing.assert_close(ffn.rational_in(x), x)
    h = torch.linspace(-3, 3, 32).repeat(5, 1)
    assert (ffn.act(h) - F.gelu(h)).abs().max() < 0.05  # the rational fit of GELU
    kinds = {s["name"]: s["kind"] for s in slots(model)}
    assert kinds == {"block0.ffn.rational_in.act": "ffn", "block0.ffn.act.act": "ffn"}
    recorded = activations.activation_parameters(model)
    assert {(r.block, r.position) for r in recorded} == {(1, 1), (1, 2)}
    assert {len(r.values) for r in recorded} == {4}  # one rational per group


def test_the_fit_follows_the_spec_s_activation() -> None:
    assert _fitted("relu", json.dumps({})) != _fitted("gelu", json.dumps({}))


def test_a_gr_kan_gpt_and_vit_train(tmp_path: Path) -> None:
    gpt = TrainConfig(activation="gelu", model="gpt", model_params=GPT, dataset="modular",
                      dataset_params={"p": 7})
    gpt = replace(gpt, training=gpt.training.model_copy(update={"epochs": 2}))
    history = train(gpt, data_root=tmp_path).history
    assert len(history) == 2 and all("val_sparsity_cett" in h for h in history)
    vit = build_model("vit", {"patch": 2, "n_layer": 1, "d_model": 16, "n_head": 2,
                              "d_ff": 32, "ffn": "gr_kan", "groups": 8}, (1, 8, 8), 10,
                      ActFactory("relu"))
    vit(torch.randn(2, 1, 8, 8)).sum().backward()


def test_groups_must_divide_and_the_mlp_ffn_keeps_its_hash(client: TestClient) -> None:
    body = {"activation": {"name": "gelu"}, "dataset": {"name": "modular", "params": {"p": 7}},
            "model": {"name": "gpt", "params": {**GPT, "groups": 5}},
            "seeds": [0], "training": {"epochs": 1}}
    refused = client.post("/api/v1/experiments", json=body)
    assert refused.status_code == 422 and "groups (5) must divide d_model (16)" in refused.text
    plain = {**body, "model": {"name": "gpt", "params": {"n_layer": 1}}}
    default = ExperimentSpec.model_validate(plain)
    assert default.model.params["ffn"] == "mlp"
    # the hash this spec had before `ffn` existed (computed by that version of the code)
    assert spec_hash(default) == BEFORE_FFN
    assert spec_hash(ExperimentSpec.model_validate(
        {**plain, "model": {"name": "gpt", "params": {"n_layer": 1, "ffn": "gr_kan"}}})) \
        != spec_hash(default)
