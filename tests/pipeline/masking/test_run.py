"""``c4 mask`` / ``c4 vocab train`` / ``c4 build --mask`` end to end, on real runners and data."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from filters.spec import UsageError
from pipeline.cli import main
from pipeline.formats import parquet_io
from pipeline.masking import run as masking
from pipeline.masking.packing import MaskConfig, example_row, mask_documents
from pipeline.masking.vocab import Vocabulary
from pipeline.runners.dask import C4DaskRunner
from tests.conftest import C4_SAMPLE, output_tree
from tests.pipeline.forget import fixtures as ff


def _olmo(n: int) -> list[dict]:
    with gzip.open(C4_SAMPLE, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle, strict=False)]


def _row(doc: dict) -> dict:
    return {
        "url": doc["url"],
        "text": doc["text"],
        "timestamp": str(doc.get("timestamp", "")),
        "content_type": "text/plain",
        "content_length": str(len(doc["text"])),
        "doc_id": hashlib.sha1(doc["url"].encode()).hexdigest(),
        "source_file": "olmo-sample",
        "record_offset": 0,
        "record_id": "",
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built DIR's Parquet: 330 real C4 documents in two train shards, 40 in validation."""
    root = tmp_path_factory.mktemp("built")
    rows = [_row(d) for d in _olmo(370)]
    layout = {
        "train/part-00000-of-00002.parquet": rows[:200],
        "train/part-00001-of-00002.parquet": rows[200:330],
        "validation/part-00000-of-00001.parquet": rows[330:],
    }
    for name, part in layout.items():
        path = root / "parquet" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        parquet_io.write_parquet(path, part)
    return root


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return masking.make_mask_job().vocab


def _run(
    built: Path, out: Path, runner: object = "DirectRunner", packs: int = 64, **options: object
) -> Path:
    job = masking.make_mask_job(**options)
    pipeline = beam.Pipeline(runner=runner, options=PipelineOptions([]))
    shards = masking.built_shards(str(built))
    masking.mask_pipeline(pipeline, shards, str(out), job, packs_per_shard=packs)
    pipeline.run().wait_until_finish()
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in output_tree(root).items()}


def _masked_rows(masked: Path, split: str) -> list[dict]:
    rows: list[dict] = []
    for path in sorted((masked / "parquet" / split).glob("part-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


@pytest.fixture(scope="module")
def direct(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(built, tmp_path_factory.mktemp("direct") / "masked", seed=3)


def test_matches_in_memory_reference_per_split(built: Path, direct: Path, vocab: Vocabulary):
    config = MaskConfig(seed=3)
    for split, docs in (("train", _olmo(330)), ("validation", _olmo(370)[330:])):
        tokenized = [(_row(d)["doc_id"], vocab.encode(d["text"])) for d in docs]
        expected = [example_row(e) for e in mask_documents(tokenized, config, vocab.first_sentinel)]
        assert _masked_rows(direct, split) == expected, split


def test_layout_and_config(direct: Path, vocab: Vocabulary) -> None:
    assert sorted(_files(direct)) == [
        "config.json",
        "lineage/train/part-00000-of-00001.parquet",
        "lineage/validation/part-00000-of-00001.parquet",
        "parquet/train/part-00000-of-00001.parquet",
        "parquet/validation/part-00000-of-00001.parquet",
        "tfrecord/train/part-00000-of-00001.tfrecord",
        "tfrecord/validation/part-00000-of-00001.tfrecord",
    ]
    config = json.loads((direct / "config.json").read_text())
    assert config["vocab"]["sha256"] == vocab.sha256
    assert config["vocab"]["source"] == masking.SHIPPED_VOCAB_NAME
    assert (config["inputs_length"], config["targets_length"], config["seed"]) == (512, 114, 3)
    assert config["segment_length"] == 568
    assert config["splits"]["train"]["documents"] == 330
    assert config["splits"]["train"]["packs"] == 3  # ceil(330 / 128)
    assert config["splits"]["validation"]["examples"] == len(_masked_rows(direct, "validation"))
    schema = pq.read_schema(direct / "parquet" / "train" / "part-00000-of-00001.parquet")
    assert [str(schema.field(n).type) for n in schema.names] == [
        "list<element: int32>",
        "list<element: int32>",
        "list<element: string>",
        "int64",
    ]


def test_masked_lineage_lists_exactly_the_examples_holding_each_doc(direct: Path) -> None:
    """``--output MDIR``: the table is ``MDIR/lineage/<split>/``, paths relative to MDIR."""
    table = ff.masked_lineage(direct, "lineage")
    assert table == ff.masked_scan(direct, "")
    assert len(table) == 370  # every masked document has a row
    for locations in table.values():
        for parquet_file, row, tfrecord_file, index in locations:
            assert parquet_file.startswith("parquet/") and tfrecord_file.startswith("tfrecord/")
            assert row == index


def test_dask_rerun_and_many_shards(built: Path, direct: Path, tmp_path: Path) -> None:
    """Same bytes on C4DaskRunner; one pack per shard gives the shards in pack order."""
    dask = _run(built, tmp_path / "dask", C4DaskRunner(), seed=3)
    assert _files(dask) == _files(direct)
    many = _run(built, tmp_path / "many", packs=1, seed=3)
    names = sorted(p.name for p in (many / "parquet" / "train").iterdir())
    assert names == [f"part-0000{i}-of-00003.parquet" for i in range(3)]
    assert _masked_rows(many, "train") == _masked_rows(direct, "train")
    # One table file per masked shard, each listing that shard's examples.
    tables = sorted(p.name for p in (many / "lineage" / "train").iterdir())
    assert tables == names
    assert ff.masked_lineage(many, "lineage") == ff.masked_scan(many, "")
    # A rerun with the old layout deletes the shards it did not write.
    _run(built, tmp_path / "many", seed=3)
    assert _files(tmp_path / "many") == _files(direct)


def test_seed_and_epoch_change_the_masks(built: Path, direct: Path, tmp_path: Path) -> None:
    other = _run(built, tmp_path / "epoch1", seed=3, epoch=1)
    a, b = _masked_rows(direct, "train"), _masked_rows(other, "train")
    assert {r["seed"] for r in a}.isdisjoint({r["seed"] for r in b})
    assert [r["inputs"] for r in a] != [r["inputs"] for r in b]
    # Same documents, same number of tokens in all: only the packing and masks differ.
    assert {d for r in a for d in r["doc_ids"]} == {d for r in b for d in r["doc_ids"]}


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"targets_length": 100}, "--targets_length"),
        ({"noise_density": 1.5}, "--noise_density"),
        (
            {"noise_density": 0.5, "mean_noise_span_length": 1.0, "targets_length": 600},
            "--noise_density",
        ),
        ({"mean_noise_span_length": 0.0}, "--mean_noise_span_length"),
        ({"inputs_length": 1}, "--inputs_length"),
        ({"seed": -1}, "--seed"),
        ({"vocab_source": "/nonexistent/x.model"}, "--vocab"),
        ({"inputs_length": 4096, "targets_length": 2000}, "--inputs_length"),
    ],
)
def test_inconsistent_options_name_their_flag(options: dict, flag: str) -> None:
    with pytest.raises(UsageError, match=f"^{flag}: "):
        masking.make_mask_job(**options)


def test_usage_errors_exit_2_before_work(tmp_path: Path, built: Path, capsys) -> None:
    assert main(["mask", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("c4 mask: DIR: no built documents")
    assert main(["mask", str(built), "--targets_length", "50", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("c4 mask: --targets_length: ") and err.count("\n") == 1
    assert main(["mask", str(built), "--seed", "x"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert main(["vocab", "train", str(tmp_path), "--output", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.startswith("c4 vocab train: DIR: no train documents")
    assert main(["vocab", "train", str(built)]) == 2  # --output is required
    assert not list(tmp_path.iterdir())


def test_vocab_train_is_deterministic_and_loads(built: Path, tmp_path: Path, capsys) -> None:
    argv = ["vocab", "train", str(built), "--vocab_size", "500", "--max_documents", "100"]
    assert main([*argv, "--output", str(tmp_path / "a.model")]) == 0
    assert main([*argv, "--output", str(tmp_path / "b.model")]) == 0
    a, b = (tmp_path / "a.model").read_bytes(), (tmp_path / "b.model").read_bytes()
    assert a == b
    assert hashlib.sha256(a).hexdigest() in capsys.readouterr().out
    vocab = Vocabulary(a)
    assert (vocab.base_size, vocab.vocab_size, vocab.first_sentinel) == (500, 600, 599)
    # ... and c4 mask takes it.
    out = tmp_path / "masked"
    assert (
        main(["mask", str(built), "--vocab", str(tmp_path / "a.model"), "--output", str(out)]) == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["vocab"]["vocab_size"] == 600
    assert max(max(r["inputs"]) for r in _masked_rows(out, "train")) < 600


def test_vocab_train_too_large_is_a_usage_error_with_advice(
    built: Path, tmp_path: Path, capsys
) -> None:
    """Five documents cannot fill T5's 32,000 pieces: one line saying how many they can, exit 2
    (SentencePiece's own message and exit 1 before); the defaults are said first."""
    argv = ["vocab", "train", str(built), "--max_documents", "5", "--output", str(tmp_path / "m")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(
        "c4 vocab train: a unigram model of 32,000 pieces (--vocab_size)"
    )
    assert "the first 5 (--max_documents) of the train split (--split)" in captured.out
    err = captured.err
    assert err.count("\n") == 1 and "trainer_interface" not in err, err
    assert err.startswith("c4 vocab train: --vocab_size: 5 train document(s) support at most ")
    most = int(err.split("at most ")[1].split(" ")[0].replace(",", ""))
    assert f"pass --vocab_size {most} or less" in err
    assert not (tmp_path / "m").exists()
    # The advice holds: that many pieces train.
    assert main([*argv[:-1], str(tmp_path / "m"), "--vocab_size", str(most)]) == 0
    assert Vocabulary((tmp_path / "m").read_bytes()).base_size == most


def test_build_mask_equals_c4_mask(tmp_path: Path, capsys) -> None:
    """``c4 build --mask`` on the bundled sample (``make run``) == ``c4 mask`` of its DIR."""
    out = tmp_path / "out"
    assert main(["build", "--output", str(out), "--mask"]) == 0
    assert (out / "stats.json").is_file()
    assert main(["mask", str(out), "--output", str(tmp_path / "again")]) == 0
    again = _files(tmp_path / "again")
    # MDIR names the DIR it was masked from (c4 forget MDIR goes through it); DIR/masked is in it.
    config = json.loads(again.pop("config.json"))
    assert config.pop("source") == str(out)
    masked = _files(out / "masked")
    assert json.loads(masked.pop("config.json")) == config
    assert masked == {k: v for k, v in again.items() if "lineage" not in k}
    # DIR/masked's table is DIR/lineage/masked/, paths from DIR; MDIR's is MDIR/lineage/.
    table = ff.masked_lineage(out)
    assert table and table == ff.masked_scan(out)
    prefixed = {
        d: [(f"masked/{p}", r, f"masked/{t}", i) for p, r, t, i in places]
        for d, places in ff.masked_lineage(tmp_path / "again", "lineage").items()
    }
    assert prefixed == table
    rows = _masked_rows(out / "masked", "train")
    built_ids = set(pq.read_table(out / "parquet" / "train").column("doc_id").to_pylist())
    assert rows and {d for r in rows for d in r["doc_ids"]} == built_ids
