"""examples/moe_switch.py trains a Switch-style MoE on ``make run``'s masked Parquet."""

from __future__ import annotations

from pathlib import Path

import torch

from examples.moe_switch import train


def test_loss_falls_and_every_expert_gets_tokens(make_run_output: Path) -> None:
    torch.set_num_threads(1)
    result = train(str(make_run_output / "masked"), steps=36, batch_size=8)
    assert len(result.losses) == 36
    first, last = sum(result.losses[:6]) / 6, sum(result.losses[-6:]) / 6
    assert last < first - 0.5, (first, last)
    assert len(result.tokens_per_expert) == 4  # 2 encoder + 2 decoder Switch layers
    for layer in result.tokens_per_expert:
        assert len(layer) == 4 and min(layer) > 0, result.tokens_per_expert
