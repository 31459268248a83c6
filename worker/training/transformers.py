"""Transformers of the zoo: `gpt`, a decoder-only language model (nanoGPT-like: token and
position embeddings, pre-LayerNorm blocks of causal self-attention and a feed-forward
network, the output projection tied to the token embedding), and `vit`, a small vision
transformer (patch embedding, a class token, the same blocks without the causal mask).

The activation slots are the FFNs' (`block{i}.ffn.act`, slot kind `ffn`), so placement,
parameter recording, distributions, response regions and search work on them as on any
model. No dropout: the seeds of a group can train as one vmapped model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.domain.params import ParamInfo
from worker.training.gr_kan import GRKANFeedForward
from worker.training.models import WIDTH_POLICY, ActFactory, ModelInfo, register_model


class FeedForward(nn.Module):
    """d_model -> d_ff -> activation -> d_model. The activation sees (tokens, d_ff), so a
    per-channel parameter is one per FFN unit. Gated (Shazeer 2020, "GLU variants"):
    act(x W) * (x V) -> d_model, with d_ff scaled by 2/3 when `match_params` so the FFN
    keeps the parameter count of the ungated one."""

    slot_kind = "ffn"  # the kind placement.slots gives the activation in it

    def __init__(self, d_model: int, d_ff: int, act: ActFactory, block: int,
                 width_policy: str = "keep_filters") -> None:
        super().__init__()
        if act.gated and act.match_params:
            d_ff = max(1, round(d_ff * 2 / 3))
        units = act.filters(d_ff, width_policy)
        self.up = nn.Linear(d_model, units)
        self.act = act(units, block, 1)
        self.gate = nn.Linear(d_model, units * act.multiplier) if act.gated else None
        self.down = nn.Linear(units * act.multiplier, d_model)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.up(x).flatten(0, -2)).view(*x.shape[:-1], -1)
        if self.gate is not None:
            h = h * self.gate(x)
        return self.down(h)  # type: ignore[no-any-return]


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int, causal: bool) -> None:
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model {d_model} is not a multiple of n_head {n_head}")
        self.n_head, self.causal = n_head, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, width = x.shape
        q, k, v = (t.view(batch, tokens, self.n_head, -1).transpose(1, 2)
                   for t in self.qkv(x).split(width, dim=2))
        # Written out rather than F.scaled_dot_product_attention: under torch.func.vmap (a
        # group's seeds as one model) the fused kernel has no batching rule and falls back
        # to a loop over the seeds.
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if self.causal:
            future = torch.ones(tokens, tokens, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        y = scores.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(batch, tokens, width))  # type: ignore[no-any-return]


class Block(nn.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, d_model: int, n_head: int, d_ff: int, act: ActFactory, block: int,
                 causal: bool, width_policy: str = "keep_filters", ffn: str = "mlp",
                 groups: int = 8) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_head, causal)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn: nn.Module = GRKANFeedForward(d_model, d_ff, act, block, groups) \
            if ffn == "gr_kan" else FeedForward(d_model, d_ff, act, block, width_policy)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))  # type: ignore[no-any-return]


class GPT(nn.Module):
    """Token ids N x T in, next-token logits N x T x vocab out (vocab: the dataset's
    `num_classes`)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 n_layer: int = 2, n_head: int = 4, d_model: int = 128, d_ff: int = 512,
                 context: int = 256, width_policy: str = "keep_filters", ffn: str = "mlp",
                 groups: int = 8) -> None:
        super().__init__()
        if len(input_shape) != 1 or input_shape[0] > context:
            raise ValueError(f"gpt takes token sequences of at most `context` ({context}) "
                             f"tokens, got examples of shape {input_shape}")
        self.tokens = nn.Embedding(num_classes, d_model)
        self.positions = nn.Embedding(context, d_model)
        for i in range(n_layer):  # direct attributes: the slots are block{i}.ffn.act
            self.add_module(f"block{i}", Block(d_model, n_head, d_ff, act, i + 1, causal=True,
                                               width_policy=width_policy, ffn=ffn,
                                               groups=groups))
        self.n_layer = n_layer
        self.norm = nn.LayerNorm(d_model)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def no_weight_decay(self) -> list[nn.Parameter]:
        """The transformer recipe's exemptions from weight decay: norms, embeddings, biases
        (worker/training/optim.py)."""
        return _exempt(self)

    def forward(self, x: Tensor) -> Tensor:
        positions = torch.arange(x.shape[-1], device=x.device)
        h = self.tokens(x) + self.positions(positions)
        for i in range(self.n_layer):
            h = getattr(self, f"block{i}")(h)
        # The output projection is the token embedding (tied), as in GPT-2.
        return F.linear(self.norm(h), self.tokens.weight)


class ViT(nn.Module):
    """Images N x C x H x W in, logits N x classes out: non-overlapping `patch` x `patch`
    patches embedded by one strided convolution, a class token, learned positions, blocks
    without the causal mask, the class token's final state to a linear head."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, act: ActFactory,
                 patch: int = 4, n_layer: int = 2, n_head: int = 4, d_model: int = 128,
                 d_ff: int = 512, width_policy: str = "keep_filters", ffn: str = "mlp",
                 groups: int = 8) -> None:
        super().__init__()
        if len(input_shape) != 3 or input_shape[1] % patch or input_shape[2] % patch:
            raise ValueError(f"vit takes images whose sides are multiples of `patch` ({patch}), "
                             f"got examples of shape {input_shape}")
        channels, height, width = input_shape
        self.patches = nn.Conv2d(channels, d_model, patch, stride=patch)
        count = (height // patch) * (width // patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.positions = nn.Parameter(torch.randn(1, count + 1, d_model) * 0.02)
        for i in range(n_layer):
            self.add_module(f"block{i}", Block(d_model, n_head, d_ff, act, i + 1, causal=False,
                                               width_policy=width_policy, ffn=ffn,
                                               groups=groups))
        self.n_layer = n_layer
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def no_weight_decay(self) -> list[nn.Parameter]:
        return [*_exempt(self), self.cls, self.positions]

    def forward(self, x: Tensor) -> Tensor:
        h = self.patches(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.positions
        for i in range(self.n_layer):
            h = getattr(self, f"block{i}")(h)
        return self.head(self.norm(h[:, 0]))  # type: ignore[no-any-return]


def _exempt(model: nn.Module) -> list[nn.Parameter]:
    """Norms' and embeddings' parameters and every bias."""
    out = [p for m in model.modules() if isinstance(m, nn.LayerNorm | nn.Embedding)
           for p in m.parameters(recurse=False)]
    seen = {id(p) for p in out}
    return out + [p for name, p in model.named_parameters()
                  if name.endswith("bias") and id(p) not in seen]


FFN = ParamInfo("ffn", "mlp", kind="choice", choices=("mlp", "gr_kan"),
                doc="the FFN: mlp (Linear, the activation, Linear), or gr_kan (KAT: a rational "
                    "per group of channels before each Linear, the second fitted to the "
                    "activation)")
GROUPS = ParamInfo("groups", 8, kind="int", min=1, max=1024,
                   doc="gr_kan: channels sharing a rational (must divide d_model and d_ff)")

register_model(ModelInfo(
    name="gpt", builder=GPT, input_kinds=("tokens",), tasks=("language_model",), width_param="d_ff",
    description="Decoder-only transformer (nanoGPT-like): token and position embeddings, "
                "pre-LayerNorm blocks of causal self-attention and an FFN whose activation "
                "is the slot, tied output embedding",
    reference="Radford et al. 2019 (GPT-2); Karpathy's nanoGPT",
    params=(ParamInfo("n_layer", 2, kind="int", min=1, max=48, doc="transformer blocks"),
            ParamInfo("n_head", 4, kind="int", min=1, max=64, doc="attention heads"),
            ParamInfo("d_model", 128, kind="int", min=8, max=8192,
                      doc="model width (a multiple of n_head)"),
            ParamInfo("d_ff", 512, kind="int", min=1, max=65536, doc="FFN width"),
            ParamInfo("context", 256, kind="int", min=1, max=8192,
                      doc="longest sequence (position embeddings)"),
            WIDTH_POLICY, FFN, GROUPS),
))
register_model(ModelInfo(
    name="vit", builder=ViT, input_kinds=("image",), width_param="d_ff",
    description="Vision transformer: patch embedding, a class token, pre-LayerNorm blocks of "
                "self-attention and an FFN whose activation is the slot, a linear head",
    reference="Dosovitskiy et al. 2021, An image is worth 16x16 words",
    params=(ParamInfo("patch", 4, kind="int", min=1, max=64, doc="patch side (pixels)"),
            ParamInfo("n_layer", 2, kind="int", min=1, max=48, doc="transformer blocks"),
            ParamInfo("n_head", 4, kind="int", min=1, max=64, doc="attention heads"),
            ParamInfo("d_model", 128, kind="int", min=8, max=8192,
                      doc="model width (a multiple of n_head)"),
            ParamInfo("d_ff", 512, kind="int", min=1, max=65536, doc="FFN width"),
            WIDTH_POLICY, FFN, GROUPS),
))
