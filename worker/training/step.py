"""The training step, written once: a batch of each seed, the forward pass, each seed's loss
(worker/training/objectives.py), the divergence check, the backward pass, clipping, the
optimizer and the schedule, and an epoch of such steps.

An engine says how the seeds' models run; the step is the same for all of them:
- `OneSeed`: one seed's own model and optimizer (a seed trained alone, or seeds in lockstep);
- `worker/training/batched.py`'s stack: the seeds' parameters stacked and run under vmap.
Tensors carry the seeds first (seeds x batch x ...), one seed included, so one code path
serves both. The LR range test (worker/training/lr_range.py) takes the same forward and
update. An engine never writes a seed's fields: `train_epoch` returns each seed's
`SeedEpoch`, and the seed's trainer applies it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from core.domain.status import TrainStatus
from worker.training.config import TrainConfig
from worker.training.objectives import Classification, objective_for
from worker.training.setup import Prepared

# A finiteness check reads the loss back; on CUDA that syncs, so it runs every few steps.
CUDA_CHECK_EVERY = 25


class StopRequested(Exception):
    """Raised by a caller's callback (or should_stop) to end training early, e.g. on cancel."""


class Member(Protocol):
    """What an engine reads of a seed: its prepared model and data, its recipe, and its
    schedule, which it asks the seed to advance."""

    @property
    def prep(self) -> Prepared: ...

    @property
    def config(self) -> TrainConfig: ...

    @property
    def epoch(self) -> int: ...

    @property
    def active(self) -> bool: ...

    def step_schedule(self) -> None: ...


class Engine(Protocol):
    """How the seeds of a step run: their forward pass, clipping and optimizer."""

    optimizer: torch.optim.Optimizer

    def forward(self, xb: Tensor) -> Tensor:
        """Inputs seeds x batch x ...; logits seeds x batch x ...."""
        ...

    def clip(self, max_norm: float) -> None:
        """Clip each seed's gradient to `max_norm` on its own."""
        ...

    def before_step(self, leader: Member) -> None:
        """Take the hyperparameters the schedules set (leader: a seed still training)."""
        ...

    def finish(self, alive: list[bool]) -> None:
        """After an epoch: the seeds that trained it to the end get its results."""
        ...


class OneSeed:
    """The engine of one seed: its own model and optimizer."""

    def __init__(self, prep: Prepared) -> None:
        self.model, self.optimizer = prep.model, prep.optimizer

    def forward(self, xb: Tensor) -> Tensor:
        return self.model(xb[0]).unsqueeze(0)  # type: ignore[no-any-return]

    def clip(self, max_norm: float) -> None:
        nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)

    def before_step(self, leader: Member) -> None:
        """The seed's own schedule moves its own optimizer."""

    def finish(self, alive: list[bool]) -> None:
        """The seed's own model trained: nothing to hand back."""


@dataclass(frozen=True)
class SeedEpoch:
    """One seed's epoch as `train_epoch` returns it: its training metrics, or how it ended."""

    metrics: dict[str, float] | None
    ended: TrainStatus | None = None
    error: str | None = None


def forward(engine: Engine, objective: Classification, prep: Prepared, xb: Tensor,
            yb: Tensor) -> tuple[Tensor, Tensor]:
    """The logits and each seed's mean loss of a batch (seeds first), in the spec's
    precision."""
    with prep.autocast:
        logits = engine.forward(xb)
        return logits, objective.seed_losses(logits, yb)


def update(engine: Engine, losses: Tensor, grad_clip: float | None,
           leader: Member | None) -> None:
    """Backward, clip and step. Each seed's gradient comes from its own loss alone (the
    seeds share no parameter), so the sum's backward is every seed's own. `leader`: a seed
    still training, whose schedule sets the stack's hyperparameters (None for one seed that
    sets its own)."""
    engine.optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    if grad_clip is not None:
        engine.clip(grad_clip)
    if leader is not None:
        engine.before_step(leader)
    engine.optimizer.step()


class _Epoch:
    """The bookkeeping of one epoch of several seeds: who has ended, and their sums."""

    def __init__(self, members: Sequence[Member], epoch: int, steps: int) -> None:
        self.members, self.epoch, self.steps = members, epoch, steps
        self.ended: list[SeedEpoch | None] = [None] * len(members)
        device = members[0].prep.device
        self.loss_sum = torch.zeros(len(members), device=device)
        # Correct labels, or a regression's squared errors (the objective's `correct`).
        self.correct = torch.zeros(len(members), device=device, dtype=torch.float64)

    @property
    def alive(self) -> list[bool]:
        return [e is None for e in self.ended]

    def end(self, i: int, status: TrainStatus, error: str) -> None:
        if self.ended[i] is None:
            self.ended[i] = SeedEpoch(None, status, error)

    def ask_stop(self, should_stop: Callable[[Member], bool] | None) -> None:
        if should_stop is None:
            return
        for i, m in enumerate(self.members):
            if self.ended[i] is not None:
                continue
            try:
                stop, why = should_stop(m), f"stop requested during epoch {self.epoch}"
            except StopRequested as exc:
                stop, why = True, str(exc)
            if stop:
                self.end(i, TrainStatus.stopped, why)

    def check_finite(self, losses: Tensor, step: int) -> None:
        so_far = self.loss_sum + losses.detach()
        for i, finite in enumerate(torch.isfinite(so_far).tolist()):
            if not finite:
                self.end(i, TrainStatus.diverged,
                         f"training loss became {so_far[i].item()} at epoch {self.epoch}, step "
                         f"{step + 1} of {self.steps}")

    def results(self, objective: Classification, n: int, labels: int) -> list[SeedEpoch]:
        """Each seed's mean batch loss over the epoch and its accuracy (or a regression's
        RMSE) over `labels`."""
        losses, correct = self.loss_sum.tolist(), self.correct.tolist()
        return [e if e is not None else SeedEpoch(
            objective.train_metrics(losses[i] / n, correct[i], labels))
            for i, e in enumerate(self.ended)]


def train_epoch(engine: Engine, members: Sequence[Member], epoch: int,
                should_stop: Callable[[Member], bool] | None = None) -> list[SeedEpoch]:
    """One pass of every seed over the training split (the seeds share one recipe: the
    caller checks). Each seed draws its own batch order and augmentation from its own
    generators, as when it trains alone. A seed whose loss stops being finite or whose
    `should_stop` says so ends alone; the rest go on."""
    first = members[0]
    prep, settings = first.prep, first.config.training
    objective = objective_for(prep.data)
    n, size = len(prep.train_x), settings.batch_size
    steps = math.ceil(n / size)
    check_every = CUDA_CHECK_EVERY if prep.device.type == "cuda" else 1
    orders = torch.stack([torch.randperm(n, generator=m.prep.shuffle) for m in members]
                         ).to(prep.device)
    book = _Epoch(members, epoch, steps)
    for step in range(steps):
        book.ask_stop(should_stop)
        if not any(book.alive):
            break
        idx = orders[:, step * size:(step + 1) * size]
        xb, yb = _batch(members, idx)
        logits, losses = forward(engine, objective, prep, xb, yb)
        if (step + 1) % check_every == 0 or step + 1 == steps:
            book.check_finite(losses, step)
            if not any(book.alive):
                break
        alive = book.alive
        update(engine, losses, settings.grad_clip, members[alive.index(True)])
        for m, on in zip(members, alive, strict=True):
            if on:
                m.step_schedule()
        book.loss_sum += losses.detach() * idx.shape[1]
        book.correct += objective.correct(logits.detach(), yb)
    engine.finish(book.alive)
    # Per example, per pixel for masks (segmentation), per scored token (language models).
    return book.results(objective, n, objective.scored_labels(prep.train_y))


def _batch(members: Sequence[Member], idx: Tensor) -> tuple[Tensor, Tensor]:
    """Each seed's batch (seeds first), augmented with the seed's own generator."""
    prep, augment = members[0].prep, members[0].prep.data.augment
    if len(members) == 1:
        # One seed indexes as it would alone (on CUDA this keeps channels_last).
        xb, yb = prep.train_x[idx[0]], prep.train_y[idx[0]]
        if augment is not None:
            xb = augment(xb, prep.augment)
        return xb.unsqueeze(0), yb.unsqueeze(0)
    xb, yb = prep.train_x[idx], prep.train_y[idx]
    if augment is not None:
        xb = torch.stack([augment(xb[i], m.prep.augment) for i, m in enumerate(members)])
    return xb, yb
