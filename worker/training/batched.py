"""Seeds of one experiment trained as one model: every seed's parameters stacked along a new
first dimension and the model run under `torch.func.vmap`, so one forward, one backward and
one optimizer step serve all seeds.

Each seed keeps its own initialisation, batch order, augmentation draws and metrics. Its
numbers agree with the seed trained alone within float tolerance (the batched kernels sum in
another order), and repeat bit for bit run to run in this mode. The seeds' own modules and
optimizers stay the record: the stack is built from them, their parameters are written back
after every epoch and their optimizer state before every checkpoint (`VmappedSeeds`), so
evaluation, parameter snapshots, checkpoints and results are the same code as for a seed
trained alone, and a resumed group continues exactly as an uninterrupted one. Batch norm
stays per seed: its running statistics are stacked like the parameters and updated in place
under vmap. Models that draw random numbers in training (dropout, rrelu) are not batched,
nor code that cannot run under vmap, nor, on the CPU, inputs larger than CPU_MAX_INPUT
values, where it measured slower: `unbatchable` says why, and the caller trains those seeds
in lockstep instead.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

if TYPE_CHECKING:
    from worker.training.loop import SeedTrainer

# On the CPU vmap pays where per-step overhead dominates: small inputs. Measured (5 seeds,
# batch 100): faster for MNIST-1D (40 values), digits (64; LeNet-5, ResNet), equal for an MLP
# on digits, and 1.4-1.9x slower than lockstep for LeNet-5 on 28x28 and 3x32x32 images,
# where the batched (grouped) convolutions cost more than five separate ones.
CPU_MAX_INPUT = 256  # values per example

# Modules that draw random numbers in training: under vmap they would draw once for all seeds
# (or, with randomness="different", not the numbers the seed draws alone).
_RANDOM = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
           nn.FeatureAlphaDropout, nn.RReLU)


def unbatchable(trainers: list[SeedTrainer]) -> str | None:
    """None when these seeds can train as one vmapped model; otherwise why not."""
    if len(trainers) < 2:
        return "one seed"
    first = trainers[0]
    recipe = {k: v for k, v in first.config.to_dict().items() if k != "seed"}
    for t in trainers[1:]:
        if {k: v for k, v in t.config.to_dict().items() if k != "seed"} != recipe:
            return "the seeds' recipes differ"
        if t.epoch != first.epoch:
            return "the seeds resume from different epochs"
    size = first.prep.train_x[0].numel()
    if first.prep.device.type == "cpu" and size > CPU_MAX_INPUT:
        return (f"on the CPU, examples of {size} values train faster in lockstep (vmap is "
                f"used up to {CPU_MAX_INPUT})")
    model = first.prep.model
    for name, module in model.named_modules():
        random = isinstance(module, _RANDOM) and getattr(module, "p", 1.0) != 0
        if random or getattr(module, "activation_name", None) == "rrelu":
            return f"{name} draws random numbers in training ({type(module).__name__})"
    return _trial(trainers)


def _trial(trainers: list[SeedTrainer]) -> str | None:
    """Run one vmapped forward and backward on two samples: a model whose code cannot run
    under vmap (in-place updates of its own state, data-dependent branches) shows it here."""
    rng = torch.get_rng_state()
    try:
        stack = _Stack(trainers)
        x = trainers[0].prep.train_x[:2].unsqueeze(0).expand(len(trainers), *[-1] * (
            trainers[0].prep.train_x.dim()))
        stack.forward(x).float().sum().backward()
    except Exception as exc:  # any failure means: not under vmap
        return f"the model does not run under torch.func.vmap ({type(exc).__name__}: " \
               f"{str(exc).splitlines()[0][:160] if str(exc) else ''})"
    finally:
        torch.set_rng_state(rng)
    return None


class _Stack:
    """The seeds' parameters and optimizer state stacked, and an optimizer over the stack with
    the seeds' own hyperparameters."""

    def __init__(self, trainers: list[SeedTrainer]) -> None:
        self.trainers = trainers
        models = [t.prep.model for t in trainers]
        self.params, self.buffers = stack_module_state(models)
        # functional_call swaps the stacked tensors in for the module's own; a copy keeps the
        # seeds' modules untouched while the stack trains.
        self.base = copy.deepcopy(models[0])
        names = {id(p): n for n, p in models[0].named_parameters()}
        first = trainers[0].prep.optimizer
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [self.params[names[id(p)]] for p in g["params"]]}
                  for g in first.param_groups]
        # Every group carries all its hyperparameters; the constructor's keywords differ
        # between optimizers (AdamW's defaults hold one its constructor does not take).
        self.optimizer = type(first)(groups)  # type: ignore[call-arg]  # Adam, AdamW, SGD
        self.optimizer.defaults = dict(first.defaults)
        self.names = [[names[id(p)] for p in g["params"]] for g in first.param_groups]
        self._load_state()
        self.forward_all = vmap(self._one)

    def _one(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.base, (params, buffers), (x,))  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        """x: seeds x batch x ...; the logits, seeds x batch x ..."""
        return self.forward_all(self.params, self.buffers, x)

    def _seed_params(self, i: int) -> dict[str, Tensor]:
        return dict(self.trainers[i].prep.model.named_parameters())

    def _load_state(self) -> None:
        """The seeds' optimizer state (moments, momentum), stacked."""
        seeds = [(t.prep.optimizer, self._seed_params(i)) for i, t in enumerate(self.trainers)]
        for group in self.names:
            for name in group:
                states = [opt.state.get(params[name], {}) for opt, params in seeds]
                if not states[0]:
                    continue
                stacked: dict[str, Any] = {}
                for key, value in states[0].items():
                    if isinstance(value, Tensor) and value.dim() > 0:
                        stacked[key] = torch.stack([s[key] for s in states])
                    else:  # Adam's step count: the same for every seed
                        stacked[key] = value.clone() if isinstance(value, Tensor) else value
                self.optimizer.state[self.params[name]] = stacked

    def sync_hyperparameters(self, leader: SeedTrainer) -> None:
        """The schedules move the seeds' learning rate (and one-cycle's momentum), the same
        for every seed; `leader` is one still training."""
        for mine, theirs in zip(self.optimizer.param_groups,
                                leader.prep.optimizer.param_groups, strict=True):
            for key, value in theirs.items():
                if key != "params":
                    mine[key] = value

    def write_back(self, keep: list[bool]) -> None:
        """Each kept seed's slice of the parameters and buffers back into its module (what
        evaluation, snapshots and results read)."""
        with torch.no_grad():
            for i, t in enumerate(self.trainers):
                if keep[i]:
                    for name, p in self._seed_params(i).items():
                        p.copy_(self.params[name][i])
                    for name, b in t.prep.model.named_buffers():
                        b.copy_(self.buffers[name][i])

    def write_back_optimizer(self, keep: list[bool]) -> None:
        """Each kept seed's slice of the optimizer state back into its own optimizer (what a
        checkpoint saves, and what a new stack is built from)."""
        for i, t in enumerate(self.trainers):
            if not keep[i]:
                continue
            for name, p in self._seed_params(i).items():
                state = self.optimizer.state.get(self.params[name])
                if state:
                    t.prep.optimizer.state[p] = {
                        k: (v[i].clone() if isinstance(v, Tensor) and v.dim() > 0 else
                            v.clone() if isinstance(v, Tensor) else v)
                        for k, v in state.items()}


class VmappedSeeds:
    """The seeds of a group as one model across epochs: the stack is built once and kept
    while the same seeds train, and rebuilt from the seeds' own state when one has ended.
    The seeds' modules get their parameters back after every epoch; their optimizers get
    their state back only when it is read (`settle`, before a checkpoint) or the stack is
    rebuilt: building the stack and copying the state back every epoch measured 13 ms of a
    160 ms LeNet-5 epoch of 5 seeds."""

    def __init__(self) -> None:
        self._stack: _Stack | None = None

    def _stack_for(self, trainers: list[SeedTrainer]) -> _Stack:
        old = self._stack
        if old is None or [id(t) for t in old.trainers] != [id(t) for t in trainers]:
            if old is not None:
                old.write_back_optimizer([t in trainers for t in old.trainers])
            self._stack = old = _Stack(trainers)
        return old

    def settle(self) -> None:
        """Every still-active seed's optimizer state back into its own optimizer."""
        if self._stack is not None:
            self._stack.write_back_optimizer([t.active for t in self._stack.trainers])

    def release(self) -> None:
        """Settle and drop the stack: the one seed left trains on with its own optimizer."""
        self.settle()
        self._stack = None

    def train_epoch(self, trainers: list[SeedTrainer], epoch: int,
                    should_stop: Callable[[SeedTrainer], bool] | None
                    ) -> tuple[list[dict[str, float] | None], float]:
        """One epoch of every seed as one vmapped model. Returns each seed's train_loss and
        train_accuracy (None for a seed that ended during the epoch: its trainer says how)
        and the seconds for all seeds together.

        Evaluation stays with each seed's own module: without a backward pass to share,
        the vmapped forward measured slower than the seeds' forwards one after another
        (LeNet-5 on digits: 26-29 ms against 23 ms for validation and test of 5 seeds),
        while the training step gains (forward and backward 9.5-10.6 ms against
        12.3-12.6; the optimizer step 0.5-0.9 ms against 2.2-3.3)."""
        started = time.perf_counter()
        out = _train_epoch(self._stack_for(trainers), epoch, should_stop)
        return out, time.perf_counter() - started


def _clip_per_seed(params: list[Tensor], max_norm: float) -> None:
    """clip_grad_norm_ for each seed's slice of the stacked gradients on its own."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([g.flatten(1).norm(2, dim=1) for g in grads], dim=1).norm(2, dim=1)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))


def _train_epoch(stack: _Stack, epoch: int, should_stop: Callable[[SeedTrainer], bool] | None
                 ) -> list[dict[str, float] | None]:
    trainers = stack.trainers
    first = trainers[0]
    prep, settings = first.prep, first.config.training
    device, n, size = prep.device, len(prep.train_x), settings.batch_size
    steps, count = math.ceil(n / size), len(trainers)
    alive = [True] * count
    # Each seed's batch order from its own generator, as when it trains alone.
    orders = torch.stack([torch.randperm(n, generator=t.prep.shuffle) for t in trainers]
                         ).to(device)
    check_every = 25 if device.type == "cuda" else 1
    loss_sum = torch.zeros(count, device=device)
    correct = torch.zeros(count, device=device, dtype=torch.long)
    params = list(stack.params.values())
    for step in range(steps):
        if should_stop is not None:
            for i, t in enumerate(trainers):
                if alive[i] and should_stop(t):
                    t.status, t.error = "stopped", f"stop requested during epoch {epoch}"
                    alive[i] = False
        if not any(alive):
            break
        idx = orders[:, step * size:(step + 1) * size]
        xb, yb = prep.train_x[idx], prep.train_y[idx]
        if prep.data.augment is not None:
            xb = torch.stack([prep.data.augment(xb[i], t.prep.augment)
                              for i, t in enumerate(trainers)])
        with prep.autocast:
            logits = stack.forward(xb)
            # Each seed's mean loss over its batch (and pixels, for segmentation).
            losses = F.cross_entropy(logits.float().flatten(0, 1), yb.flatten(0, 1),
                                     reduction="none").reshape(count, -1).mean(1)
        if (step + 1) % check_every == 0 or step + 1 == steps:
            so_far = loss_sum + losses.detach()
            finite = torch.isfinite(so_far).tolist()
            for i, t in enumerate(trainers):
                if alive[i] and not finite[i]:
                    t.status, t.error = "diverged", (
                        f"training loss became {so_far[i].item()} at epoch {epoch}, step "
                        f"{step + 1} of {steps}")
                    alive[i] = False
            if not any(alive):
                break
        stack.optimizer.zero_grad(set_to_none=True)
        # Each seed's gradient comes from its own loss alone: the seeds share no parameter.
        losses.sum().backward()
        if settings.grad_clip is not None:
            _clip_per_seed(params, settings.grad_clip)
        stack.sync_hyperparameters(trainers[alive.index(True)])
        stack.optimizer.step()
        for i, t in enumerate(trainers):
            if alive[i]:
                t.prep.optimizer._opt_called = True  # type: ignore[attr-defined]  # stepped here
                t.schedule.step()
        loss_sum += losses.detach() * idx.shape[1]
        # logits: seeds x batch x classes (x pixels for segmentation)
        correct += (logits.detach().argmax(2) == yb).flatten(1).sum(1)
    pixels = n * prep.train_y[0].numel()
    losses_out, correct_out = (loss_sum / n).tolist(), correct.tolist()
    out: list[dict[str, float] | None] = [
        {"train_loss": losses_out[i], "train_accuracy": correct_out[i] / pixels}
        if alive[i] else None for i in range(count)]
    stack.write_back(alive)
    return out
