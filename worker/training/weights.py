"""Trained weights as safetensors (no pickle): written by the runner for the epoch whose
numbers a run reports, read back into a ready model by `load_model`."""

from __future__ import annotations

import json
from typing import Any

import torch
from safetensors.torch import load, save
from torch import nn

from worker.training.config import TrainConfig
from worker.training.datasets import get_dataset_info
from worker.training.models import ActFactory, build_model

FORMAT = "actlab-weights"


def to_safetensors(state: dict[str, torch.Tensor], spec: dict[str, Any], seed: int,
                   epoch: int | None, run_id: str) -> bytes:
    """The weights with what rebuilds their model in the metadata (strings only)."""
    metadata = {"format": FORMAT, "run_id": run_id, "seed": str(seed), "epoch": str(epoch),
                "spec": json.dumps(spec, sort_keys=True)}
    return save({k: v.contiguous() for k, v in state.items()}, metadata=metadata)


def metadata(data: bytes) -> dict[str, str]:
    """The metadata of a safetensors file (its JSON header) without loading the tensors."""
    size = int.from_bytes(data[:8], "little")
    header: dict[str, Any] = json.loads(data[8:8 + size])
    return dict(header.get("__metadata__", {}))


def load_model(data: bytes) -> nn.Module:
    """The model of a run, rebuilt from the spec in the file and loaded with its weights, in
    eval mode: `load_model(requests.get(.../runs/<id>/weights).content)`."""
    meta = metadata(data)
    if meta.get("format") != FORMAT:
        raise ValueError("not an actlab weights file (no actlab metadata)")
    config = TrainConfig.from_stored(json.loads(meta["spec"]), int(meta["seed"]))
    info = get_dataset_info(config.dataset)
    model = build_model(config.model, config.model_params, info.input_shape, info.num_classes,
                        ActFactory(config.activation, config.activation_params, checked=True),
                        checked=True)
    model.load_state_dict(load(data))
    return model.eval()
