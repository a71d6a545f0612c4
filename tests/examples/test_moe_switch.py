"""c4_examples/moe_switch.py: a faithful small Switch Transformer, sized by masked/config.json,
trained on ``make run``'s masked set and on a set masked with a vocabulary trained here."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from c4_examples.moe_switch import (
    DenseFFN,
    SwitchConfig,
    SwitchFFN,
    SwitchTransformer,
    expert_capacity,
    train,
)
from pipeline.cli import main
from tests.conftest import REPO

TINY = {"d_model": 32, "d_ff": 64, "num_heads": 2, "num_layers": 2}


@pytest.fixture(scope="module")
def own_vocab_masked(make_run_output: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make run``'s documents masked with a 1,000-piece vocabulary ``c4 vocab train`` made
    from them, and 128-id inputs: neither the shipped vocabulary nor T5's lengths."""
    tmp = tmp_path_factory.mktemp("own-vocab")
    vocab = tmp / "own_1k.model"
    assert (
        main(
            ["vocab", "train", str(make_run_output), "--output", str(vocab), "--vocab_size", "1000"]
        )
        == 0
    )
    masked = tmp / "masked"
    argv = ["mask", str(make_run_output), "--vocab", str(vocab), "--output", str(masked)]
    assert main([*argv, "--inputs_length", "128"]) == 0
    return masked


def test_loss_falls_and_every_expert_gets_tokens(make_run_output: Path) -> None:
    torch.set_num_threads(1)
    result = train(str(make_run_output / "masked"), steps=36, batch_size=8, num_layers=2)
    assert result.config.vocab_size == 8100  # the shipped vocabulary, from masked/config.json
    assert len(result.losses) == 36
    first, last = sum(result.losses[:6]) / 6, sum(result.losses[-6:]) / 6
    assert last < first - 0.5, (first, last)
    assert len(result.tokens_per_expert) == 2  # layer 1 of the encoder and of the decoder
    for layer in result.tokens_per_expert:
        assert len(layer) == 4 and min(layer) > 0, result.tokens_per_expert


def test_trains_on_a_set_masked_with_another_vocabulary(own_vocab_masked: Path) -> None:
    """The model takes its vocabulary and lengths from masked/config.json: 1,100 ids (1,000
    pieces and 100 sentinels) and 128 input ids, where a hard-coded 8,100 would not fit."""
    torch.set_num_threads(1)
    config = json.loads((own_vocab_masked / "config.json").read_text())
    assert config["vocab"]["vocab_size"] == 1100 and config["inputs_length"] == 128
    result = train(str(own_vocab_masked), steps=8, batch_size=4, **TINY)
    assert (result.config.vocab_size, result.config.inputs_length) == (1100, 128)
    assert result.config.targets_length == config["targets_length"]
    assert all(math.isfinite(loss) for loss in result.losses)
    assert result.losses[-1] < result.losses[0], result.losses
    assert sum(result.losses[-3:]) < sum(result.losses[:3]), result.losses


def test_the_switch_papers_base_settings() -> None:
    cfg = SwitchConfig(vocab_size=100, num_layers=4)
    assert (cfg.capacity_factor, cfg.eval_capacity_factor, cfg.aux_loss_weight) == (1.25, 2.0, 0.01)
    model = SwitchTransformer(cfg)
    for stack in (model.encoder, model.decoder):
        kinds = [type(layer.ffn) for layer in stack]
        assert kinds == [DenseFFN, SwitchFFN, DenseFFN, SwitchFFN]  # every other layer sparse
    assert len(model.switch_layers()) == 4
    assert model.embed.num_embeddings == 100


def test_top1_routing_with_capacity_drops_the_overflow() -> None:
    """Ten tokens all routed to expert 0: capacity ceil(10 / 4 * 1.25) = 4 keeps the first four
    (scaled by the router probability); the other six get 0, left to the residual."""
    torch.manual_seed(0)
    layer = SwitchFFN(d_model=4, d_ff=8, num_experts=4)
    with torch.no_grad():
        layer.router.weight.zero_()
        layer.router.weight[0] = 1.0
    x = torch.rand(1, 10, 4) + 0.5
    keep = torch.ones(1, 10, dtype=torch.bool)
    out, balance = layer(x, keep)
    probs = torch.softmax(layer.router(x[0]), dim=-1)
    gate = probs[:, 0]
    want = gate[:4, None] * layer.experts[0](x[0, :4])
    assert expert_capacity(10, 4, 1.25) == 4
    torch.testing.assert_close(out[0, :4], want)
    assert torch.all(out[0, 4:] == 0)
    assert layer.tokens_per_expert.tolist() == [10, 0, 0, 0]
    assert layer.dropped_per_expert.tolist() == [6, 0, 0, 0]
    # E * sum_i f_i * P_i with f = (1, 0, 0, 0).
    torch.testing.assert_close(balance, 4 * probs[:, 0].mean())
    layer.eval()  # evaluation capacity factor 2.0: ceil(10 / 4 * 2) = 5 kept
    out, _ = layer(x, keep)
    assert torch.all(out[0, :5] != 0) and torch.all(out[0, 5:] == 0)
    # PAD positions are neither routed nor counted.
    layer.train()
    before = layer.tokens_per_expert.clone()
    keep[0, 5:] = False
    out, _ = layer(x, keep)
    assert (layer.tokens_per_expert - before).tolist() == [5, 0, 0, 0]
    assert torch.all(out[0, 5:] == 0)


@pytest.mark.parametrize("how", ["module", "script"])
def test_runs_from_any_directory(how: str, own_vocab_masked: Path, tmp_path: Path) -> None:
    """``python -m c4_examples.moe_switch`` (the installed package) and the file run as a script,
    both from a directory that is not the repository."""
    entry = ["-m", "c4_examples.moe_switch"]
    if how == "script":
        entry = [str(REPO / "c4_examples" / "moe_switch.py")]
    done = subprocess.run(
        [sys.executable, *entry, str(own_vocab_masked), "--steps", "1", "--batch_size", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vocab 1100 ids, lengths 128/114" in done.stdout
    assert "final loss" in done.stdout
