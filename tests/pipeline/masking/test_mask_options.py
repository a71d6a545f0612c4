"""The masking flags: ``c4 build --mask`` takes ``c4 mask``'s (vocabulary, seed, epoch, lengths,
noise), and a multilingual build is not masked with the English vocabulary unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.masking.options import MaskOptions, english_vocab_refusal
from tests.conftest import REAL_WET, output_tree

FLAGS = [
    "--seed",
    "3",
    "--epoch",
    "1",
    "--inputs_length",
    "128",
    "--targets_length",
    "48",
    "--noise_density",
    "0.2",
    "--mean_noise_span_length",
    "2.5",
]


def _files(root: Path) -> dict[str, bytes]:
    return {
        rel: p.read_bytes()
        for rel, p in output_tree(root).items()
        if "lineage" not in Path(rel).parts
    }


@pytest.fixture(scope="module")
def own_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600-piece vocabulary trained on a build of the bundled sample."""
    tmp = tmp_path_factory.mktemp("vocab")
    assert main(["build", "--output", str(tmp / "out")]) == 0
    model = tmp / "own.model"
    argv = ["vocab", "train", str(tmp / "out"), "--vocab_size", "600", "--output", str(model)]
    assert main(argv) == 0
    return model


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """c4/multilingual of the five real WET files: ru, zh, ... pages."""
    out = tmp_path_factory.mktemp("mc4") / "out"
    argv = ["build", "--config", "multilingual", "--input", *map(str, REAL_WET)]
    assert main([*argv, "--output", str(out)]) == 0
    return out


def test_build_mask_takes_c4_masks_flags(own_vocab: Path, tmp_path: Path) -> None:
    """``c4 build --mask FLAGS`` writes what ``c4 mask DIR FLAGS`` writes, and config.json
    names the flags' values (they were dropped as Beam's before: shipped vocab, seed 0, 512)."""
    out = tmp_path / "out"
    argv = ["build", "--output", str(out), "--mask", "--vocab", str(own_vocab), *FLAGS]
    assert main(argv) == 0
    config = json.loads((out / "masked" / "config.json").read_text())
    assert config["vocab"]["source"] == str(own_vocab) and config["vocab"]["vocab_size"] == 700
    assert (config["seed"], config["epoch"]) == (3, 1)
    assert (config["inputs_length"], config["targets_length"]) == (128, 48)
    assert (config["noise_density"], config["mean_noise_span_length"]) == (0.2, 2.5)
    again = tmp_path / "again"
    argv = ["mask", str(out), "--vocab", str(own_vocab), *FLAGS, "--output", str(again)]
    assert main(argv) == 0
    masked, elsewhere = _files(out / "masked"), _files(again)
    # The set masked elsewhere names its DIR (c4 forget goes through it); DIR/masked is in it.
    config = json.loads(elsewhere.pop("config.json"))
    assert config.pop("source") == str(out)
    assert json.loads(masked.pop("config.json")) == config and masked == elsewhere
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["mask_options"]["vocab"] == str(own_vocab)
    assert resolved["mask_options"]["inputs_length"] == 128


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "3"], "c4 build: --seed: a masking flag; add --mask to mask"),
        (["--mask", "--vocab", "/nonexistent.model"], "c4 build: --vocab: cannot read"),
        (["--mask", "--targets_length", "50", "--inputs_length", "1024"], "--targets_length: "),
    ],
)
def test_bad_masking_flags_stop_the_build_before_work(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["build", "--output", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_multilingual_build_is_not_masked_with_the_english_vocabulary(
    multilingual: Path, own_vocab: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    splits = {p.name for p in (multilingual / "parquet").iterdir()}
    assert {"ru", "zh"} <= splits
    assert main(["mask", str(multilingual), "--output", str(tmp_path / "m0")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("c4 mask: --vocab: a multilingual build needs a vocabulary")
    assert "--allow_english_vocab" in err and err.count("\n") == 1
    assert not (tmp_path / "m0").exists()
    # A vocabulary given, or the English one explicitly allowed: masked.
    argv = ["mask", str(multilingual), "--vocab", str(own_vocab), "--output", str(tmp_path / "m1")]
    assert main(argv) == 0
    argv = ["mask", str(multilingual), "--allow_english_vocab", "--output", str(tmp_path / "m2")]
    assert main(argv) == 0
    config = json.loads((tmp_path / "m2" / "config.json").read_text())
    assert config["vocab"]["vocab_size"] == 8100 and {"ru", "zh"} <= set(config["splits"])


def test_build_mask_of_multilingual_is_refused_at_launch(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["build", "--config", "multilingual", "--mask", "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("c4 build: --vocab: a multilingual build needs a vocabulary")
    assert not (tmp_path / "out").exists()


def test_the_refusal_rule() -> None:
    assert english_vocab_refusal("en", MaskOptions()) is None
    assert english_vocab_refusal("multilingual", MaskOptions(vocab="gs://b/mt5.model")) is None
    assert english_vocab_refusal("multilingual", MaskOptions(allow_english_vocab=True)) is None
    assert "c4_sample_8k is English-only" in str(
        english_vocab_refusal("multilingual", MaskOptions())
    )
    assert MaskOptions(seed=2, vocab="v").given() == ["--vocab", "--seed"]
