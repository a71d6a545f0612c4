"""Every split the config defines is declared in dataset_info.json, 0 examples where a build has
none, after ``c4 build`` and after ``c4 forget``; the readers agree (tfds, pyarrow, HF
``datasets``; seqio in tests/seqio/), and the summary warns of the empty split TFDS cannot read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tensorflow_datasets as tfds

from pipeline.cli import main
from pipeline.formats import tfds_layout

EMPTY_SPLIT_ERROR = "Instruction [] corresponds to no data!"


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``c4 build`` of the bundled sample: 14 train documents, 0 validation."""
    out = tmp_path_factory.mktemp("declared") / "out"
    assert main(["build", "--output", str(out)]) == 0
    return out


def _splits(out: Path) -> dict[str, int]:
    builder = tfds.builder_from_directory(str(out / "c4/en/3.1.0"))
    return {name: info.num_examples for name, info in builder.info.splits.items()}


def test_a_small_build_declares_its_empty_validation_split(sample_build: Path) -> None:
    assert _splits(sample_build) == {"train": 14, "validation": 0}
    stats = json.loads((sample_build / "stats.json").read_text())
    assert {n: s["documents"] for n, s in stats["splits"].items()} == _splits(sample_build)


def test_tfds_reads_train_and_refuses_the_empty_split(sample_build: Path) -> None:
    """tfds.load of the build by name, as T5's Tasks do; the empty split is TFDS's refusal."""
    train = tfds.load("c4/en:3.1.0", data_dir=str(sample_build), download=False, split="train")
    texts = [ex["text"].numpy().decode("utf-8") for ex in train]
    table = pq.read_table(sample_build / "parquet" / "train")
    assert texts == table.column("text").to_pylist()
    with pytest.raises(ValueError, match=EMPTY_SPLIT_ERROR.replace("[", r"\[").replace("]", r"\]")):
        tfds.load("c4/en:3.1.0", data_dir=str(sample_build), download=False, split="validation")
    assert not (sample_build / "parquet" / "validation").exists()


def test_hf_datasets_reads_the_splits_that_hold_documents(
    sample_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/training.md: the splits to read are those dataset_info.json counts above 0."""
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    readable = [name for name, n in _splits(sample_build).items() if n > 0]
    assert readable == ["train"]
    files = {
        s: sorted(map(str, (sample_build / "parquet" / s).glob("*.parquet"))) for s in readable
    }
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    table = pq.read_table(sample_build / "parquet" / "train")
    assert ds["train"].num_rows == 14
    assert ds["train"]["doc_id"] == table.column("doc_id").to_pylist()


def test_the_summary_warns_of_the_empty_split(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["build", "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    (warning,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "validation" in warning and EMPTY_SPLIT_ERROR in warning
    assert "docs/training.md" in warning


def test_forget_keeps_every_split_declared(sample_build: Path, tmp_path: Path) -> None:
    import shutil

    out = shutil.copytree(sample_build, tmp_path / "out")
    info_path = out / "c4/en/3.1.0/dataset_info.json"
    # A build made before splits were declared: its dataset_info.json lists train only.
    info = json.loads(info_path.read_text())
    info["splits"] = [s for s in info["splits"] if s["name"] == "train"]
    info_path.write_text(tfds_layout.dataset_info_text(info))
    url = pq.read_table(out / "parquet" / "train").column("url")[0].as_py()
    (tmp_path / "urls.txt").write_text(url + "\n")
    assert main(["forget", str(out), "--urls", str(tmp_path / "urls.txt")]) == 0
    assert _splits(out) == {"train": 13, "validation": 0}
    train = tfds.load("c4/en:3.1.0", data_dir=str(out), download=False, split="train")
    assert url.encode() not in {ex["url"].numpy() for ex in train}


def test_split_names_are_tfds_split_generators() -> None:
    assert tfds_layout.split_names("en") == ("train", "validation")
    assert tfds_layout.split_names("en", has_validation=False) == ("train",)
    mc4 = tfds_layout.split_names("multilingual")
    assert len(mc4) == 2 * 108 and mc4[:4] == ("af", "af-validation", "am", "am-validation")
    assert mc4[-2:] == ("und", "und-validation")
    written = [tfds_layout.SplitInfo("und", [3], 30), tfds_layout.SplitInfo("extra", [1], 5)]
    declared = tfds_layout.declared_splits("multilingual", True, written)
    assert [s.name for s in declared] == [*mc4, "extra"]
    assert declared[mc4.index("und")] == written[0]
    assert declared[0] == tfds_layout.SplitInfo("af", [], 0)
