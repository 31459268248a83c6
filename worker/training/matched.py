"""A matched run's sizes as built: its own parameters and MACs against its reference model's,
built on the same data (core/domain/matching.py solved the width at submit, without torch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from core.domain.matching import TOLERANCE
from worker.training.loop import SeedTrainer
from worker.training.measure import count_macs
from worker.training.models import ActFactory, build_model


def match_provenance(match: Mapping[str, Any], trainer: SeedTrainer) -> dict[str, Any]:
    """The run's `match` provenance: by, width, the counts of both models as built, whether
    the run's landed within TOLERANCE of the reference's, and the counts solved at submit."""
    prep, reference = trainer.prep, match["reference"]
    with torch.random.fork_rng(devices=[]):  # building draws weights: the run's RNG untouched
        model = build_model(reference["name"], dict(reference["params"]),
                            prep.data.input_shape, prep.data.num_classes,
                            ActFactory(reference.get("activation", "relu")))
    if match["by"] == "params":
        own, theirs = trainer.num_params, sum(p.numel() for p in model.parameters())
    else:
        own, (theirs, _) = trainer.macs, count_macs(model, prep.val_x[:1].cpu())
    return {"by": match["by"], "width_param": match["width_param"], "width": match["width"],
            "count": int(own), "reference_count": int(theirs),
            "within": abs(own - theirs) <= TOLERANCE * theirs,
            "solved": {"count": match["count"], "reference_count": match["reference_count"]}}
