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
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from worker.training.step import Member, SeedEpoch, train_epoch

# On the CPU vmap pays where per-step overhead dominates: small inputs. Above this size the
# batched (grouped) convolutions measured slower than separate ones (bench/BENCHMARKS.md,
# "Five seeds through the service against a bare loop").
CPU_MAX_INPUT = 256  # values per example

# Modules that draw random numbers in training: under vmap they would draw once for all seeds
# (or, with randomness="different", not the numbers the seed draws alone).
_RANDOM = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
           nn.FeatureAlphaDropout, nn.RReLU)


def unbatchable(trainers: Sequence[Member]) -> str | None:
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


def _trial(trainers: Sequence[Member]) -> str | None:
    """Run one vmapped forward and backward on two samples in the spec's precision: a model
    whose code cannot run under vmap (in-place updates of its own state, data-dependent
    branches) shows it here, and so does an autocast that vmap bypasses (bf16 on the CPU
    computes in float32 under vmap: the seeds would silently train in another precision)."""
    prep = trainers[0].prep
    rng = torch.get_rng_state()
    try:
        stack = _Stack(trainers)
        x = prep.train_x[:2].unsqueeze(0).expand(len(trainers), *[-1] * prep.train_x.dim())
        with prep.autocast:
            out = stack.forward(x)
        out.float().sum().backward()
    except Exception as exc:  # any failure means: not under vmap
        return f"the model does not run under torch.func.vmap ({type(exc).__name__}: " \
               f"{str(exc).splitlines()[0][:160] if str(exc) else ''})"
    finally:
        torch.set_rng_state(rng)
    if prep.precision == "bf16" and out.dtype != torch.bfloat16:
        return (f"bf16 autocast does not apply under torch.func.vmap on {prep.device.type} "
                f"(the model computed in {str(out.dtype).removeprefix('torch.')})")
    return None


class _Stack:
    """The seeds' parameters and optimizer state stacked, and an optimizer over the stack with
    the seeds' own hyperparameters."""

    def __init__(self, trainers: Sequence[Member]) -> None:
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

    def clip(self, max_norm: float) -> None:
        """clip_grad_norm_ for each seed's slice of the stacked gradients on its own."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        if not grads:
            return
        norms = torch.stack([g.flatten(1).norm(2, dim=1) for g in grads], dim=1).norm(2, dim=1)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))

    def before_step(self, leader: Member) -> None:
        """The schedules move the seeds' learning rate (and one-cycle's momentum), the same
        for every seed; `leader` is one still training."""
        for mine, theirs in zip(self.optimizer.param_groups,
                                leader.prep.optimizer.param_groups, strict=True):
            for key, value in theirs.items():
                if key != "params":
                    mine[key] = value

    def finish(self, alive: list[bool]) -> None:
        self.write_back(alive)

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
    rebuilt: doing both every epoch measured a visible share of a small model's epoch
    (bench/BENCHMARKS.md)."""

    def __init__(self) -> None:
        self._stack: _Stack | None = None

    def _stack_for(self, trainers: Sequence[Member]) -> _Stack:
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

    def train_epoch(self, trainers: Sequence[Member], epoch: int,
                    should_stop: Callable[[Member], bool] | None
                    ) -> tuple[list[SeedEpoch], float]:
        """One epoch of every seed as one vmapped model: each seed's outcome and the seconds
        for all seeds together.

        Evaluation stays with each seed's own module: without a backward pass to share, the
        vmapped forward measured slower than the seeds' forwards one after another
        (bench/BENCHMARKS.md, "Seeds of one experiment")."""
        started = time.perf_counter()
        out = train_epoch(self._stack_for(trainers), trainers, epoch, should_stop)
        return out, time.perf_counter() - started
