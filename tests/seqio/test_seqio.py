"""A real seqio reads a build: a Task over ``c4/en/3.1.0`` (TfdsDataSource with data_dir) and one
over ``masked/`` (the TFRecords as they are), run in ``.venv-seqio`` (``make seqio``: seqio cannot
share the pipeline's environment, docs/training.md), compared with what pyarrow reads here."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.masking.vocab import DEFAULT_VOCAB_PATH, EOS_ID, Vocabulary
from tests.conftest import REPO

# The training environment's interpreter; C4_SEQIO_PYTHON points at another one.
SEQIO_PYTHON = Path(os.environ.get("C4_SEQIO_PYTHON", REPO / ".venv-seqio" / "bin" / "python"))
SCRIPT = Path(__file__).with_name("read_with_seqio.py")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``c4 build --mask`` of the bundled sample: 14 train documents, 0 validation."""
    out = tmp_path_factory.mktemp("seqio") / "out"
    assert main(["build", "--output", str(out), "--mask"]) == 0
    return out


@pytest.fixture(scope="module")
def seqio_read(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not SEQIO_PYTHON.is_file():
        pytest.fail(f"the seqio environment is not set up ({SEQIO_PYTHON}): run `make seqio`")
    out = tmp_path_factory.mktemp("seqio-read") / "read.json"
    done = subprocess.run(
        [str(SEQIO_PYTHON), str(SCRIPT), str(built), str(DEFAULT_VOCAB_PATH), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def _rows(root: Path) -> list[dict[str, Any]]:
    return [r for f in sorted(root.glob("part-*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_the_training_environment_is_seqio_with_protobuf_7(seqio_read: dict[str, Any]) -> None:
    versions = seqio_read["versions"]
    assert versions["seqio"] == "0.0.20"
    assert int(versions["protobuf"].split(".")[0]) >= 7  # what sentencepiece 0.2.3's code needs
    assert versions["sentencepiece"] == "0.2.3"  # the pipeline's pin: the same tokenizer


def test_a_task_over_the_build_reads_what_pyarrow_reads(
    built: Path, seqio_read: dict[str, Any]
) -> None:
    read = seqio_read["built"]
    # Both splits declared; seqio reports the empty one's size as inf (its "unknown size").
    assert read["splits"] == {"train": 14, "validation": math.inf}
    assert read["readable"] == ["train"]
    texts = [r["text"] for r in _rows(built / "parquet" / "train")]
    examples = read["read"]["train"]["examples"]
    assert [ex["targets_pretokenized"] for ex in examples] == texts
    # seqio's tokenization (tf_text) is ours: masked/ holds the ids seqio would make.
    vocab = Vocabulary.from_file(DEFAULT_VOCAB_PATH)
    assert [ex["targets"] for ex in examples] == [
        [*vocab.encode(text).tolist(), EOS_ID] for text in texts
    ]
    assert "Instruction [] corresponds to no data!" in read["read"]["validation"]["error"]


def test_a_task_over_masked_reads_what_pyarrow_reads(
    built: Path, seqio_read: dict[str, Any]
) -> None:
    config = json.loads((built / "masked" / "config.json").read_text())
    assert seqio_read["vocab"] == {
        "vocab_size": config["vocab"]["vocab_size"],
        "first_sentinel_piece": "<extra_id_0>",
    }
    masked = seqio_read["masked"]
    assert masked["splits"] == sorted(config["splits"]) == ["train"]
    rows = _rows(built / "masked" / "parquet" / "train")
    assert len(rows) == config["splits"]["train"]["examples"]
    got = masked["read"]["train"]["examples"]
    assert got == [{"inputs": r["inputs"], "targets": r["targets"]} for r in rows]
