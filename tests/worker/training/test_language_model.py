"""The zoo's transformers (`gpt`, `vit`) and the sequence tasks that need no download
(`modular`, `recall`, `chars`): each dataset's examples and fixed splits; the language-model
objective scores per token (the answer token only where the prompt is unscored); the FFN
activations are slots of kind `ffn`, gated or not; sparsity per slot; the transformer
recipe (no weight decay on norms, embeddings and biases; warm-up then cosine); the seeds of
a group train vmapped and agree with the seeds alone."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, train
from worker.training.batched import unbatchable
from worker.training.loop import SeedTrainer, train_group
from worker.training.models import ActFactory, build_model
from worker.training.objectives import IGNORE, LanguageModel
from worker.training.placement import slots
from worker.training.sequences import load_modular, modular_pairs

SMALL = {"n_layer": 1, "n_head": 2, "d_model": 32, "d_ff": 64, "context": 8}
CONFIG = TrainConfig(activation="relu", model="gpt", model_params=SMALL, dataset="modular",
                     dataset_params={"p": 11, "operation": "add", "train_fraction": 0.5},
                     training=TrainingSettings(epochs=2, batch_size=16, optimizer="adamw",
                                               lr=3e-3, weight_decay=0.1))


@pytest.mark.parametrize("operation,count", [("add", 121), ("sub", 121), ("div", 110)])
def test_modular_is_every_equation_once_in_a_fixed_partition(tmp_path: Path, operation: str,
                                                              count: int) -> None:
    splits = load_modular(tmp_path, p=11, operation=operation, train_fraction=0.5)
    xs = [splits.train_x, splits.val_x, splits.test_x]
    ys = [splits.train_y, splits.val_y, splits.test_y]
    assert len(xs[0]) == round(count / 2) and abs(len(xs[1]) - len(xs[2])) <= 1
    seen = {tuple(row[[0, 2]].tolist()) for x in xs for row in x}
    assert len(seen) == count  # every pair once, in exactly one split
    for x, y in zip(xs, ys, strict=True):
        assert (x[:, 1] == 11).all() and (x[:, 3] == 12).all()  # the ∘ and = tokens
        assert (y[:, :3] == IGNORE).all()
        for row, label in zip(x, y[:, 3], strict=True):
            a, b = int(row[0]), int(row[2])
            want = {"add": (a + b) % 11, "sub": (a - b) % 11,
                    "div": a * pow(b, -1, 11) % 11 if b else -1}[operation]
            assert int(label) == want
    again = load_modular(tmp_path, p=11, operation=operation, train_fraction=0.5)
    assert torch.equal(again.train_x, splits.train_x)  # fixed, whatever the run's seed
    assert splits.num_classes == 13
    assert len(modular_pairs(12, "div")) == 12 * 4  # only the b invertible mod 12


def test_the_objective_scores_the_answer_token_only() -> None:
    objective = LanguageModel()
    logits = torch.randn(3, 4, 13)
    y = torch.full((3, 4), IGNORE)
    y[:, 3] = torch.tensor([1, 5, 7])
    want = F.cross_entropy(logits[:, 3], y[:, 3])
    assert torch.allclose(objective.loss(logits, y), want)
    stacked = torch.stack([logits, logits.flip(0)])
    losses = objective.seed_losses(stacked, torch.stack([y, y.flip(0)]))
    assert torch.allclose(losses, torch.stack([want, want]))
    assert objective.scored_labels(y) == 3
    assert objective.correct(logits.unsqueeze(0), y.unsqueeze(0)).item() == \
        int((logits[:, 3].argmax(1) == y[:, 3]).sum())


def test_the_ffn_activations_are_the_slots() -> None:
    model = build_model("gpt", {"n_layer": 3, "d_model": 16, "n_head": 2, "d_ff": 24}, (6,), 9,
                        ActFactory("prelu"))
    assert slots(model) == [{"name": f"block{i}.ffn.act", "kind": "ffn"} for i in range(3)]
    assert model(torch.zeros(2, 6, dtype=torch.long)).shape == (2, 6, 9)
    # the output projection is the token embedding
    assert not any(p.shape == (9, 16) and p is not model.tokens.weight
                   for p in model.parameters())


def test_a_transformer_trains_per_token_with_perplexity(tmp_path: Path) -> None:
    result = train(CONFIG, data_root=tmp_path)
    assert result.status == "completed" and len(result.history) == 2
    for epoch in result.history:
        assert epoch["val_perplexity"] == pytest.approx(math.exp(epoch["val_loss"]))
        assert epoch["test_perplexity"] == pytest.approx(math.exp(epoch["test_loss"]))
        assert 0.0 <= epoch["train_accuracy"] <= 1.0
    # 60 training equations, one scored token each: an accuracy is a count over 60
    assert (result.history[-1]["train_accuracy"] * 60) == pytest.approx(
        round(result.history[-1]["train_accuracy"] * 60))
    assert {r.layer for r in result.responses} == {"block0.ffn.act"}


def test_seeds_of_a_transformer_train_vmapped_as_alone(tmp_path: Path) -> None:
    trainers = [SeedTrainer(replace(CONFIG, seed=s), "cpu", tmp_path, None, member=str(s))
                for s in (1, 2)]
    assert unbatchable(trainers) is None
    train_group(trainers, vmapped=True)
    for trainer, seed in zip(trainers, (1, 2), strict=True):
        alone = train(replace(CONFIG, seed=seed), data_root=tmp_path)
        for got, want in zip(trainer.history, alone.history, strict=True):
            for key in ("train_loss", "val_loss", "test_loss"):
                assert got[key] == pytest.approx(want[key], rel=2e-3), key


@pytest.mark.parametrize("name", ["sigmoid", "identity", "relu", "gelu", "silu"])
def test_gated_ffns_keep_the_parameter_count(name: str) -> None:
    """GLU, Bilinear, ReGLU, GEGLU, SwiGLU: act(x W) * (x V) with d_ff scaled by 2/3 keeps
    the FFN's weights within a row of the ungated one; match_params false keeps d_ff."""
    def ffn_weights(act: ActFactory) -> int:
        model = build_model("gpt", {"d_model": 48, "d_ff": 192, "n_head": 2}, (6,), 9, act)
        return sum(p.numel() for n, p in model.named_parameters()
                   if ".ffn." in n and n.endswith("weight"))

    plain = ffn_weights(ActFactory(name))
    gated = ffn_weights(ActFactory(name, gated=True))
    assert gated == 2 * 3 * 48 * 128 and plain == 2 * 2 * 48 * 192 and gated == plain
    assert ffn_weights(ActFactory(name, gated=True, match_params=False)) == plain * 3 // 2


def test_a_gated_activation_trains_with_its_gate(tmp_path: Path) -> None:
    config = replace(CONFIG, activation="prelu", gated=True)
    result = train(config, data_root=tmp_path)
    assert result.status == "completed"
    trainer = SeedTrainer(config, "cpu", tmp_path, None)
    gate = trainer.prep.model.block0.ffn.gate  # type: ignore[union-attr]
    assert gate is not None and gate.out_features == round(64 * 2 / 3)
    assert trainer.prep.model.block0.ffn.act.channels == round(64 * 2 / 3)  # type: ignore[union-attr]


def test_sparsity_counts_each_slot_s_zero_outputs() -> None:
    from worker.training.measure import SparsityProbe, mean_sparsity

    model = build_model("mlp", {"hidden": 4, "depth": 2}, (3,), 2, ActFactory("relu"))
    with torch.no_grad():
        first = model.net[1]  # type: ignore[index]
        first.weight.zero_()
        first.bias.copy_(torch.tensor([1.0, -1.0, 1e-8, 0.0]))
    with SparsityProbe(model) as probe:
        model(torch.randn(5, 3))
    model(torch.randn(5, 3))  # after the probe: not counted
    slots = probe.result()
    assert [s.layer for s in slots] == ["net.2", "net.4"]
    # relu(1), relu(-1) = 0, relu(1e-8) small but not zero, relu(0) = 0
    assert slots[0].zero_fraction == 0.5 and slots[0].small_fraction == 0.75
    assert mean_sparsity(slots) == pytest.approx((0.5 + slots[1].zero_fraction) / 2)


def test_every_epoch_records_sparsity_per_slot(tmp_path: Path) -> None:
    reports = []
    relu = train(replace(CONFIG, model_params={**SMALL, "n_layer": 2}), data_root=tmp_path,
                 on_epoch=reports.append)
    assert all(0 < h["val_sparsity"] < 1 for h in relu.history)
    assert [s.layer for s in reports[0].sparsity] == ["block0.ffn.act", "block1.ffn.act"]
    assert reports[-1].metrics["val_sparsity"] == pytest.approx(
        sum(s.zero_fraction for s in reports[-1].sparsity) / 2)
    smooth = train(replace(CONFIG, activation="gelu"), data_root=tmp_path)
    assert all(h["val_sparsity"] == 0.0 for h in smooth.history)
    # CETT sparsity: meaningful for GELU too, and for ReLU at least its exact zeros
    assert all(0 < h["val_sparsity_cett"] < 1 for h in smooth.history)
    assert all(h["val_sparsity"] <= h["val_sparsity_cett"] < 1 for h in relu.history)


def _cett_at_every_threshold(h: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force, independent of the code under test: CETT (float64) with each distinct
    |h| as the threshold, a block of thresholds at a time."""
    thresholds = np.unique(np.abs(h))
    full = np.linalg.norm(h @ weight.T, axis=1)
    values = []
    for block in np.array_split(thresholds, max(1, len(thresholds) // 128)):
        masked = h[None] * (np.abs(h)[None] <= block[:, None, None])
        tail = np.linalg.norm(masked @ weight.T, axis=2)
        values.append(np.where(full > 0, tail / np.maximum(full, 1e-30), 0.0).mean(axis=1))
    return thresholds, np.concatenate(values)


def test_cett_sparsity_is_the_largest_threshold_within_the_budget() -> None:
    from worker.training.cett import layer_sparsity

    rng = torch.Generator().manual_seed(0)
    h = torch.randn(160, 32, generator=rng) * torch.rand(32, generator=rng)  # units of all sizes
    h[h.abs() < 0.05] = 0.0  # and some exact zeros
    weight = torch.randn(16, 32, generator=rng)
    thresholds, values = _cett_at_every_threshold(h.double().numpy(), weight.double().numpy())
    for budget in (0.05, 0.2, 0.5):
        # the largest threshold whose CETT is within budget
        largest = thresholds[values <= budget].max()
        expected = float((h.abs() <= float(largest)).float().mean())
        assert layer_sparsity(h, weight, budget) == pytest.approx(expected, abs=1 / h.numel())
    assert layer_sparsity(h, weight, 0.2) >= float((h == 0).float().mean())
    assert layer_sparsity(torch.zeros(4, 32), weight, 0.2) == 1.0


def test_models_without_ffn_slots_have_no_cett_sparsity(tmp_path: Path) -> None:
    result = train(replace(CONFIG, model="mlp", model_params={"hidden": 8},
                           dataset="digits", dataset_params={}), data_root=tmp_path)
    assert all("val_sparsity_cett" not in h for h in result.history)


def test_recall_asks_for_the_value_of_a_shown_key(tmp_path: Path) -> None:
    from worker.training.sequences import load_recall

    splits = load_recall(tmp_path, pairs=3, keys=6, values=5, samples=200)
    assert splits.num_classes == 6 + 5 + 1 and splits.train_x.shape[1] == 8
    assert [len(splits.train_x), len(splits.val_x), len(splits.test_x)] == [160, 20, 20]
    for x, y in zip(splits.train_x, splits.train_y, strict=True):
        pairs = dict(zip(x[0:6:2].tolist(), x[1:6:2].tolist(), strict=True))
        assert len(pairs) == 3 and x[6] == 11  # distinct keys, then the query marker
        assert int(y[7]) == pairs[int(x[7])] and (y[:7] == IGNORE).all()


def test_chars_predicts_every_next_character(tmp_path: Path) -> None:
    from worker.training.sequences import load_chars

    (tmp_path / "tinyshakespeare").mkdir()
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, " \
           "speak.\n" * 20
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(text)
    splits = load_chars(tmp_path, corpus="tinyshakespeare", context=8, max_chars=len(text))
    alphabet = sorted(set(text))
    assert splits.num_classes == len(alphabet)
    decode = "".join
    first = decode(alphabet[i] for i in splits.train_x[0].tolist())
    assert first == text[:8]
    assert decode(alphabet[i] for i in splits.train_y[0].tolist()) == text[1:9]
    assert (splits.train_y != IGNORE).all()  # every position is scored
    assert splits.source is not None and splits.source["characters"] == len(text)
    assert len(splits.val_x) > 0 and len(splits.test_x) > 0
    python = load_chars(tmp_path, corpus="python", context=32, max_chars=20_000)
    assert python.source is not None and python.source["corpus"] == "python"
    assert python.source["sha256"] != splits.source["sha256"]


def test_a_missing_corpus_file_says_where_it_goes(tmp_path: Path) -> None:
    from worker.training.files import DatasetFileError
    from worker.training.sequences import load_chars

    with pytest.raises(DatasetFileError, match="tinyshakespeare/input.txt is missing"):
        load_chars(tmp_path, corpus="tinyshakespeare")


def test_a_transformer_trains_on_recall_and_chars(tmp_path: Path) -> None:
    for dataset, params in (("recall", {"pairs": 2, "keys": 4, "values": 4, "samples": 300}),
                            ("chars", {"context": 16, "max_chars": 6000})):
        config = replace(CONFIG, dataset=dataset, dataset_params=params,
                         model_params={**SMALL, "context": 16})
        result = train(config, data_root=tmp_path)
        assert result.status == "completed", dataset
        assert all(math.isfinite(h["val_perplexity"]) for h in result.history), dataset


def test_a_vision_transformer_trains_on_images(tmp_path: Path) -> None:
    config = TrainConfig(activation="relu", model="vit",
                         model_params={"patch": 2, "n_layer": 2, "d_model": 32, "n_head": 2,
                                       "d_ff": 64},
                         training=TrainingSettings(epochs=2, batch_size=64, optimizer="adamw",
                                                   schedule="warmup_cosine"))
    trainers = [SeedTrainer(replace(config, seed=s), "cpu", tmp_path, None, member=str(s))
                for s in (1, 2)]
    assert [s["name"] for s in slots(trainers[0].prep.model)] == \
        ["block0.ffn.act", "block1.ffn.act"]
    assert unbatchable(trainers) is None
    train_group(trainers, vmapped=True)
    alone = train(replace(config, seed=1), data_root=tmp_path)
    assert trainers[0].history[0]["val_loss"] == pytest.approx(alone.history[0]["val_loss"],
                                                               rel=2e-3)
    assert 0 < alone.history[-1]["val_sparsity"] < 1


def test_the_transformer_recipe_exempts_norms_embeddings_and_biases() -> None:
    from worker.training.optim import make_optimizer

    model = build_model("gpt", SMALL, (4,), 13, ActFactory("prelu"))
    optimizer = make_optimizer(model, TrainingSettings(optimizer="adamw", weight_decay=0.1))
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0
               for p in g["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[i] for i in decayed) == [
        "block0.attn.proj.weight", "block0.attn.qkv.weight", "block0.ffn.down.weight",
        "block0.ffn.up.weight"]  # not norms, embeddings, biases or PReLU's slope


def test_warmup_then_cosine() -> None:
    from worker.training.optim import make_optimizer, make_schedule

    model = torch.nn.Linear(2, 2)
    settings = TrainingSettings(lr=1.0, schedule="warmup_cosine")
    optimizer = make_optimizer(model, settings)
    schedule = make_schedule(optimizer, settings, 200)
    lrs = []
    for _ in range(200):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # 10 warm-up steps
    assert lrs[:10] == sorted(lrs[:10]) and lrs[10:] == sorted(lrs[10:], reverse=True)
    assert lrs[-1] < 1e-3
