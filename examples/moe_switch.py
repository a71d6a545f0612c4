"""A small Switch-Transformer-style encoder-decoder trained on ``DIR/masked/`` (CPU is fine).

Proof that the pre-masked shards feed an MoE trainer as they are: the model streams
``masked/parquet/<split>/`` through ``examples.masked_data.MaskedParquet`` and learns T5's
span-corruption targets. Every feed-forward block is a Switch layer (Fedus et al. 2021): a
router sends each token to its top-1 expert, the expert's output is scaled by the router
probability, and the load-balancing loss ``E * sum_i f_i * P_i`` (f_i: fraction of tokens sent to
expert i, P_i: mean router probability of i) keeps experts used. No capacity limit: at this size
no token needs dropping.

    python -m examples.moe_switch c4-output/masked --steps 60
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from examples.masked_data import PAD_ID, MaskedParquet, pad_batch


@dataclass(frozen=True)
class SwitchConfig:
    """Sizes of the model; ``vocab_size`` must cover the sentinels (8100 for the shipped vocab)."""

    vocab_size: int = 8100
    d_model: int = 64
    d_ff: int = 128
    num_heads: int = 4
    num_layers: int = 2
    num_experts: int = 4
    aux_loss_weight: float = 0.05


class SwitchFFN(nn.Module):
    """Top-1 routed experts; records how many tokens each expert received."""

    def __init__(self, d_model: int, d_ff: int, num_experts: int) -> None:
        super().__init__()
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
            for _ in range(num_experts)
        )
        self.num_experts = num_experts
        self.tokens_per_expert = torch.zeros(num_experts, dtype=torch.long)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, T, D]; keep: [B, T] bool (False at PAD). Returns (output, balancing loss)."""
        tokens = x[keep]  # [N, D]: padding is neither routed nor counted
        probs = F.softmax(self.router(tokens), dim=-1)
        gate, expert = probs.max(dim=-1)
        out = torch.zeros_like(tokens)
        for i, module in enumerate(self.experts):
            chosen = expert == i
            if chosen.any():
                out[chosen] = gate[chosen, None] * module(tokens[chosen])
        counts = torch.bincount(expert, minlength=self.num_experts)
        self.tokens_per_expert += counts.detach()
        fraction = counts.float() / max(len(tokens), 1)
        balance = self.num_experts * torch.sum(fraction * probs.mean(dim=0))
        result = torch.zeros_like(x)
        result[keep] = out
        return result, balance


class EncoderLayer(nn.Module):
    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.num_heads, batch_first=True)
        self.ffn = SwitchFFN(cfg.d_model, cfg.d_ff, cfg.num_experts)
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=~keep, need_weights=False)[0]
        y, balance = self.ffn(self.norm2(x), keep)
        return x + y, balance


class DecoderLayer(nn.Module):
    def __init__(self, cfg: SwitchConfig) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(cfg.d_model, cfg.num_heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(cfg.d_model, cfg.num_heads, batch_first=True)
        self.ffn = SwitchFFN(cfg.d_model, cfg.d_ff, cfg.num_experts)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(3))

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
    """Encoder-decoder with Switch FFNs; learned positions, shared token embedding."""

    def __init__(self, cfg: SwitchConfig, max_length: int = 1024) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=PAD_ID)
        self.position = nn.Embedding(max_length, cfg.d_model)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.final_norm = nn.LayerNorm(cfg.d_model)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed(ids) + self.position(torch.arange(ids.shape[1]))[None]

    def forward(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits of ``targets`` and the summed balancing loss."""
        in_keep = inputs != PAD_ID
        x = self._embed(inputs)
        balance = torch.zeros(())
        for enc in self.encoder:
            x, b = enc(x, in_keep)
            balance = balance + b
        # T5: the decoder starts from PAD and sees the targets shifted right.
        shifted = F.pad(targets[:, :-1], (1, 0), value=PAD_ID)
        out_keep = targets != PAD_ID
        y = self._embed(shifted)
        for dec in self.decoder:
            y, b = dec(y, out_keep, x, in_keep)
            balance = balance + b
        # Tied output embedding, rescaled as T5 does (else the first logits are huge).
        logits = (self.final_norm(y) * self.cfg.d_model**-0.5) @ self.embed.weight.T
        return logits, balance

    def switch_layers(self) -> list[SwitchFFN]:
        return [m for m in self.modules() if isinstance(m, SwitchFFN)]


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    balance: list[float] = field(default_factory=list)
    tokens_per_expert: list[list[int]] = field(default_factory=list)  # per Switch layer


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
    cfg: SwitchConfig | None = None,
) -> TrainResult:
    """Train for ``steps`` steps on ``masked_dir``'s train split; losses and expert loads."""
    torch.manual_seed(seed)
    cfg = cfg or SwitchConfig()
    model = SwitchTransformer(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    data = MaskedParquet(masked_dir, "train", shuffle_buffer=256, seed=seed)
    result = TrainResult()
    for batch in itertools.islice(batches(data, batch_size), steps):
        logits, balance = model(batch["inputs"], batch["targets"])
        loss = F.cross_entropy(
            logits.reshape(-1, cfg.vocab_size), batch["targets"].reshape(-1), ignore_index=PAD_ID
        )
        total = loss + cfg.aux_loss_weight * balance
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        result.losses.append(float(loss.detach()))
        result.balance.append(float(balance.detach()))
    result.tokens_per_expert = [layer.tokens_per_expert.tolist() for layer in model.switch_layers()]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("masked_dir", help="DIR/masked (c4 build --mask or c4 mask)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = train(args.masked_dir, args.steps, args.batch_size)
    for step in range(0, len(result.losses), 10):
        print(f"step {step:4d}  loss {result.losses[step]:.3f}  balance {result.balance[step]:.3f}")
    print(f"final loss {result.losses[-1]:.3f}")
    for i, counts in enumerate(result.tokens_per_expert):
        print(f"switch layer {i}: tokens per expert {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
