"""A small Switch Transformer (Fedus et al. 2021) trained on ``DIR/masked/`` (CPU is fine).

Proof that the pre-masked shards feed an MoE trainer as they are, whatever vocabulary masked
them: the sizes come from ``masked/config.json`` (vocabulary size, pad id, input and target
lengths) and the examples stream through ``c4_examples.masked_data.MaskedParquet``.

The model is T5's encoder-decoder with the Switch paper's base configuration, at toy size:

- every other feed-forward block is a Switch layer (layers 1, 3, ... of each stack; "we replace
  every other FFN layer with a Switch layer"), the others dense;
- the router sends each token to its top-1 expert (softmax in float32) and the expert's output
  is scaled by that router probability;
- expert capacity ``ceil(tokens / experts * capacity_factor)`` with capacity factor 1.25 in
  training (2.0 in evaluation); tokens past an expert's capacity, in token order, are dropped:
  the layer gives them 0 and the residual connection carries them to the next layer;
- load-balancing loss ``alpha * E * sum_i f_i * P_i`` (f_i: fraction of tokens routed to expert i,
  P_i: mean router probability of i), alpha = 0.01, summed over the Switch layers;
- T5's blocks: pre-norm RMS layer norm, no biases, ReLU feed-forward, embeddings tied to the
  output with logits scaled by ``d_model ** -0.5``, the decoder fed the targets shifted right
  from PAD; the Switch paper's initialization (truncated normal, scale 0.1).

Left out at this size: T5's relative position buckets (learned absolute positions instead,
sized from config.json), dropout and expert dropout.

    python -m c4_examples.moe_switch c4-output/masked --steps 60
    python path/to/c4_examples/moe_switch.py c4-output/masked --steps 60   # from any directory
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

if not __package__:  # run as a script: the package is the directory above this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from c4_examples.masked_data import MaskedParquet, pad_batch

# The Switch paper's base settings (section 2 and its Table 9 ablations).
CAPACITY_FACTOR = 1.25
EVAL_CAPACITY_FACTOR = 2.0
AUX_LOSS_WEIGHT = 0.01
SPARSE_EVERY = 2
INIT_SCALE = 0.1


@dataclass(frozen=True)
class SwitchConfig:
    """The model's sizes; ``vocab_size`` and the lengths come from ``masked/config.json``.

    Attributes:
        vocab_size: ids of the vocabulary that masked the set, sentinels included.
        inputs_length, targets_length: the longest ``inputs`` and ``targets`` (EOS included).
        pad_id: PAD, also the decoder's start id.
        num_layers: layers per stack (encoder and decoder); layers 1, 3, ... are Switch layers.
    """

    vocab_size: int
    inputs_length: int = 512
    targets_length: int = 114
    pad_id: int = 0
    d_model: int = 64
    d_ff: int = 128
    num_heads: int = 4
    num_layers: int = 4
    num_experts: int = 4
    capacity_factor: float = CAPACITY_FACTOR
    eval_capacity_factor: float = EVAL_CAPACITY_FACTOR
    aux_loss_weight: float = AUX_LOSS_WEIGHT
    sparse_every: int = SPARSE_EVERY

    @classmethod
    def from_masked(cls, masked_dir: str, **sizes: int | float) -> SwitchConfig:
        """The config of a masked set: its vocabulary and lengths, ``sizes`` for the rest."""
        with open(os.path.join(masked_dir, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
        vocab = config["vocab"]
        return cls(
            vocab_size=int(vocab["vocab_size"]),
            inputs_length=int(config["inputs_length"]),
            targets_length=int(config["targets_length"]),
            pad_id=int(vocab["pad_id"]),
            **sizes,  # type: ignore[arg-type]
        )

    def is_sparse(self, layer: int) -> bool:
        """Whether layer ``layer`` (0-based) of a stack is a Switch layer: every other one."""
        return layer % self.sparse_every == self.sparse_every - 1


def expert_capacity(num_tokens: int, num_experts: int, capacity_factor: float) -> int:
    """Tokens each expert may take: ``ceil(tokens / experts * capacity_factor)``."""
    return math.ceil(num_tokens / num_experts * capacity_factor)


class FeedForward(nn.Module):
    """T5's dense feed-forward block (ReLU, no biases); also one expert of a Switch layer."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.wi = nn.Linear(d_model, d_ff, bias=False)
        self.wo = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(F.relu(self.wi(x)))


class DenseFFN(nn.Module):
    """The dense layers' block, with the Switch layers' signature (no balancing loss)."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.ffn = FeedForward(d_model, d_ff)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ffn(x) * keep[..., None], torch.zeros(())


class SwitchFFN(nn.Module):
    """A Switch layer: top-1 routing with expert capacity and token dropping.

    Records per expert the tokens routed to it and the tokens it dropped (``tokens_per_expert``,
    ``dropped_per_expert``), for the caller to see the load.
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        num_experts: int,
        capacity_factor: float = CAPACITY_FACTOR,
        eval_capacity_factor: float = EVAL_CAPACITY_FACTOR,
    ) -> None:
        super().__init__()
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff) for _ in range(num_experts))
        self.num_experts = num_experts
        self.capacity_factor = capacity_factor
        self.eval_capacity_factor = eval_capacity_factor
        self.tokens_per_expert = torch.zeros(num_experts, dtype=torch.long)
        self.dropped_per_expert = torch.zeros(num_experts, dtype=torch.long)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, T, D]; keep: [B, T] bool (False at PAD). Returns (output, balancing loss).

        PAD positions are neither routed nor counted. The capacity holds over the batch's
        tokens; each expert keeps the first ``capacity`` tokens routed to it, in batch order.
        """
        tokens = x[keep]  # [N, D]
        result = torch.zeros_like(x)
        if len(tokens) == 0:
            return result, torch.zeros(())
        # Selective precision: the router's softmax in float32 (Switch paper, section 2.4).
        probs = F.softmax(self.router(tokens).float(), dim=-1)
        gate, expert = probs.max(dim=-1)
        routed = F.one_hot(expert, self.num_experts)  # [N, E]
        position = (routed.cumsum(dim=0) * routed).sum(dim=-1) - 1  # rank within its expert
        factor = self.capacity_factor if self.training else self.eval_capacity_factor
        kept = position < expert_capacity(len(tokens), self.num_experts, factor)
        out = torch.zeros_like(tokens)
        for i, module in enumerate(self.experts):
            chosen = (expert == i) & kept
            if chosen.any():
                out[chosen] = (gate[chosen, None] * module(tokens[chosen])).to(out.dtype)
        counts = routed.sum(dim=0)
        self.tokens_per_expert += counts.detach()
        self.dropped_per_expert += torch.bincount(expert[~kept], minlength=self.num_experts)
        fraction = counts.float() / len(tokens)
        balance = self.num_experts * torch.sum(fraction * probs.mean(dim=0))
        result[keep] = out
        return result, balance


def _ffn(cfg: SwitchConfig, layer: int) -> nn.Module:
    if cfg.is_sparse(layer):
        return SwitchFFN(
            cfg.d_model, cfg.d_ff, cfg.num_experts, cfg.capacity_factor, cfg.eval_capacity_factor
        )
    return DenseFFN(cfg.d_model, cfg.d_ff)


def _attention(cfg: SwitchConfig) -> nn.MultiheadAttention:
    return nn.MultiheadAttention(cfg.d_model, cfg.num_heads, bias=False, batch_first=True)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: SwitchConfig, layer: int) -> None:
        super().__init__()
        self.attn = _attention(cfg)
        self.ffn = _ffn(cfg, layer)
        self.norm1 = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.norm2 = nn.RMSNorm(cfg.d_model, eps=1e-6)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=~keep, need_weights=False)[0]
        y, balance = self.ffn(self.norm2(x), keep)
        return x + y, balance


class DecoderLayer(nn.Module):
    def __init__(self, cfg: SwitchConfig, layer: int) -> None:
        super().__init__()
        self.self_attn = _attention(cfg)
        self.cross_attn = _attention(cfg)
        self.ffn = _ffn(cfg, layer)
        self.norms = nn.ModuleList(nn.RMSNorm(cfg.d_model, eps=1e-6) for _ in range(3))

    def forward(
        self,
        y: torch.Tensor,
        keep: torch.Tensor,
        memory: torch.Tensor,
        memory_keep: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        length = y.shape[1]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        h = self.norms[0](y)
        y = y + self.self_attn(h, h, h, attn_mask=causal, need_weights=False)[0]
        h = self.norms[1](y)
        mask = ~memory_keep
        y = y + self.cross_attn(h, memory, memory, key_padding_mask=mask, need_weights=False)[0]
        out, balance = self.ffn(self.norms[2](y), keep)
        return y + out, balance


class SwitchTransformer(nn.Module):
    """Encoder-decoder with a Switch layer every other layer; shared token embedding."""

    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.position = nn.Embedding(max(cfg.inputs_length, cfg.targets_length), cfg.d_model)
        self.encoder = nn.ModuleList(EncoderLayer(cfg, i) for i in range(cfg.num_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg, i) for i in range(cfg.num_layers))
        self.encoder_norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.final_norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _switch_init(module.weight)
            elif isinstance(module, nn.MultiheadAttention):
                _switch_init(module.in_proj_weight)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed(ids) + self.position(torch.arange(ids.shape[1]))[None]

    def forward(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits of ``targets`` and the Switch layers' summed balancing loss."""
        pad = self.cfg.pad_id
        in_keep = inputs != pad
        x = self._embed(inputs)
        balance = torch.zeros(())
        for enc in self.encoder:
            x, b = enc(x, in_keep)
            balance = balance + b
        x = self.encoder_norm(x)
        # T5: the decoder starts from PAD and sees the targets shifted right.
        shifted = F.pad(targets[:, :-1], (1, 0), value=pad)
        out_keep = targets != pad
        y = self._embed(shifted)
        for dec in self.decoder:
            y, b = dec(y, out_keep, x, in_keep)
            balance = balance + b
        # Tied output embedding, rescaled as T5 does (else the first logits are huge).
        logits = (self.final_norm(y) * self.cfg.d_model**-0.5) @ self.embed.weight.T
        return logits, balance

    def switch_layers(self) -> list[SwitchFFN]:
        """The Switch layers, encoder's then decoder's."""
        return [m for m in self.modules() if isinstance(m, SwitchFFN)]


def _switch_init(weight: torch.Tensor) -> None:
    """Truncated normal with std sqrt(s / fan_in), s = 0.1: the Switch paper's smaller init."""
    std = math.sqrt(INIT_SCALE / weight.shape[1])
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


@dataclass
class TrainResult:
    config: SwitchConfig
    losses: list[float] = field(default_factory=list)
    balance: list[float] = field(default_factory=list)
    tokens_per_expert: list[list[int]] = field(default_factory=list)  # per Switch layer
    dropped_per_expert: list[list[int]] = field(default_factory=list)  # per Switch layer


def batches(dataset: MaskedParquet, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches: pass after pass over the shards, each pass shuffled anew."""
    for epoch in itertools.count():
        dataset.set_epoch(epoch)
        yield from DataLoader(dataset, batch_size=batch_size, collate_fn=pad_batch)


def train(
    masked_dir: str,
    steps: int = 40,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    seed: int = 0,
    **sizes: int | float,
) -> TrainResult:
    """Train for ``steps`` steps on ``masked_dir``'s train split; losses and expert loads.

    ``sizes`` override ``SwitchConfig``'s model sizes; the vocabulary and lengths are always
    those of ``masked_dir/config.json``.
    """
    torch.manual_seed(seed)
    cfg = SwitchConfig.from_masked(masked_dir, **sizes)
    model = SwitchTransformer(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    data = MaskedParquet(masked_dir, "train", shuffle_buffer=256, seed=seed)
    result = TrainResult(cfg)
    for batch in itertools.islice(batches(data, batch_size), steps):
        logits, balance = model(batch["inputs"], batch["targets"])
        loss = F.cross_entropy(
            logits.reshape(-1, cfg.vocab_size),
            batch["targets"].reshape(-1),
            ignore_index=cfg.pad_id,
        )
        total = loss + cfg.aux_loss_weight * balance
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        result.losses.append(float(loss.detach()))
        result.balance.append(float(balance.detach()))
    layers = model.switch_layers()
    result.tokens_per_expert = [layer.tokens_per_expert.tolist() for layer in layers]
    result.dropped_per_expert = [layer.dropped_per_expert.tolist() for layer in layers]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("masked_dir", help="DIR/masked (c4 build --mask or c4 mask)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = train(args.masked_dir, args.steps, args.batch_size)
    cfg = result.config
    print(
        f"vocab {cfg.vocab_size} ids, lengths {cfg.inputs_length}/{cfg.targets_length} "
        f"(masked/config.json); {cfg.num_layers} layers per stack, Switch layers "
        f"{[i for i in range(cfg.num_layers) if cfg.is_sparse(i)]} with {cfg.num_experts} "
        f"experts, capacity factor {cfg.capacity_factor}, aux loss weight {cfg.aux_loss_weight}"
    )
    for step in range(0, len(result.losses), 10):
        print(f"step {step:4d}  loss {result.losses[step]:.3f}  balance {result.balance[step]:.3f}")
    print(f"final loss {result.losses[-1]:.3f}")
    for i, (counts, dropped) in enumerate(
        zip(result.tokens_per_expert, result.dropped_per_expert, strict=True)
    ):
        print(f"switch layer {i}: tokens per expert {counts}, dropped {dropped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
