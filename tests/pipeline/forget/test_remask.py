"""``--remask_collateral`` gives back the collateral of a forget (issue 17.3).

A set masked with small packs (2 documents a pack, 4 packs a shard: 33 packs in 9 shards, through
the real ``mask_pipeline`` on Beam) is registered in a real build. Forgetting three domains and
one document of a one-example pack (so that pack loses every example) removes examples of other
documents; ``--remask_collateral`` then re-masks exactly the packs that lost examples, without
the forgotten documents, with the same seed, epoch and pack numbers. Expected examples are made
independently here: documents ranked by ``order_documents``, packs masked by ``mask_pack``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from filters.lineage import document_domain
from pipeline import derived
from pipeline.cli import main
from pipeline.formats import tfrecord
from pipeline.masking.packing import example_row, mask_pack, order_documents, prepare_document
from pipeline.masking.run import built_shards, make_mask_job, mask_pipeline
from pipeline.masking.write import tf_example
from tests.pipeline.forget import fixtures as ff

DOMAINS = ("abc.net.au", "urlm.com", "mayoclinic.org")
DOCS_PER_PACK = 2
PACKS_PER_SHARD = 4


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("remask")
    out = ff.build(root / "out")
    mask_small(out, root / "small")
    return root


def mask_small(out: Path, mdir: Path) -> None:
    job = make_mask_job(None, docs_per_pack=DOCS_PER_PACK)
    with beam.Pipeline() as p:
        mask_pipeline(p, built_shards(str(out)), str(mdir), job, PACKS_PER_SHARD, None, str(out))
    entry = derived.Entry(derived.MASKED, str(mdir))
    assert derived.register_output(str(out), entry, "test")


def copies(base: Path, dest: Path) -> tuple[Path, Path]:
    out, mdir = ff.copy(base / "out", dest / "out"), ff.copy(base / "small", dest / "small")
    registry = out / derived.REGISTRY
    registry.write_text(registry.read_text().replace(str(base / "small"), str(mdir)))
    config = mdir / "config.json"
    config.write_text(config.read_text().replace(str(base / "out"), str(out)))
    return out, mdir


def _rows(mdir: Path) -> list[list[dict[str, Any]]]:
    return [pq.read_table(p).to_pylist() for p in sorted((mdir / "parquet/train").glob("*"))]


def _twins(mdir: Path) -> list[list[bytes]]:
    return [
        list(tfrecord.read_tfrecord(io.BytesIO(p.read_bytes())))
        for p in sorted((mdir / "tfrecord/train").glob("*"))
    ]


def _packs(out: Path) -> tuple[list[list[str]], dict[str, str]]:
    """The packs of the set as masking made them, from the build alone, and the texts."""
    texts = {r["doc_id"]: r["text"] for r in ff.parquet_rows(out)}
    order = order_documents(sorted(texts), 0, 0)
    return [order[i : i + DOCS_PER_PACK] for i in range(0, len(order), DOCS_PER_PACK)], texts


def _request(out: Path, tmp_path: Path, mdir: Path) -> tuple[list[str], set[str]]:
    """Domains, and one document of a pack masked into a single example."""
    rows = ff.parquet_rows(out)
    gone = {
        r["doc_id"]
        for r in rows
        if any(document_domain(r["url"]).endswith(d) for d in DOMAINS)
        and not document_domain(r["url"]).endswith("au-urlm.com")
    }
    packs, _ = _packs(out)
    examples = [row for shard in _rows(mdir) for row in shard]
    single = [
        p
        for p in packs
        if len(p) == 2
        and sum(set(p) & set(e["doc_ids"]) != set() for e in examples) == 1
        and not set(p) & gone
    ]
    assert single, "no pack of two documents in one example"
    gone.add(single[0][0])
    (tmp_path / "d.txt").write_text("\n".join(DOMAINS) + "\n")
    (tmp_path / "ids.txt").write_text(single[0][0] + "\n")
    argv = ["--domains", str(tmp_path / "d.txt"), "--doc_ids", str(tmp_path / "ids.txt")]
    return argv, gone


def _expected(
    packs: list[list[str]],
    texts: dict[str, str],
    before: list[list[dict[str, Any]]],
    twins: list[list[bytes]],
    gone: set[str],
) -> Any:
    """Each shard's rows and TFRecord records after a forget and a remask of its collateral:
    untouched packs as they were, byte for byte; the others masked again without ``gone``."""
    job = make_mask_job(None, docs_per_pack=DOCS_PER_PACK)
    by_pack: dict[int, list[tuple[dict[str, Any], bytes]]] = {}
    owner = {d: g for g, docs in enumerate(packs) for d in docs}
    for shard_rows, shard_records in zip(before, twins, strict=True):
        for row, record in zip(shard_rows, shard_records, strict=True):
            by_pack.setdefault(owner[row["doc_ids"][0]], []).append((row, record))
    shards_rows, shards_records, touched = [], [], []
    for shard in range((len(packs) + PACKS_PER_SHARD - 1) // PACKS_PER_SHARD):
        rows: list[dict[str, Any]] = []
        records: list[bytes] = []
        for g in range(shard * PACKS_PER_SHARD, min((shard + 1) * PACKS_PER_SHARD, len(packs))):
            if not set(packs[g]) & gone:
                rows += [row for row, _ in by_pack[g]]
                records += [record for _, record in by_pack[g]]
                continue
            touched.append(g)
            docs = [
                (d, prepare_document(d, job.vocab.encode(texts[d]), job.config))
                for d in packs[g]
                if d not in gone
            ]
            for example in mask_pack(g, docs, job.config, job.vocab.first_sentinel):
                rows.append(example_row(example))
                records.append(tf_example(example))
        shards_rows.append(rows)
        shards_records.append(records)
    return shards_rows, shards_records, touched


def test_remask_gives_the_collateral_back(base: Path, tmp_path: Path) -> None:
    out, mdir = copies(base, tmp_path / "a")
    before = _rows(mdir)
    twins_before = _twins(mdir)
    packs, texts = _packs(out)
    argv, gone = _request(out, tmp_path, mdir)
    assert main(["forget", str(out), *argv]) == 0
    report = json.loads((out / "forget/report-0001.json").read_text())
    [entry] = report["derived"]["sets"]
    assert entry["collateral"]["lost_all_examples"] > 0
    config = json.loads((mdir / "config.json").read_text())
    # Packs that lost every example (one at least: the single-example pack asked for).
    emptied = [
        g
        for g, docs in enumerate(packs)
        if all(gone & set(r["doc_ids"]) for s in before for r in s if set(docs) & set(r["doc_ids"]))
    ]
    assert emptied and config["splits"]["train"]["packs"] == len(packs) - len(emptied)
    assert main(["forget", str(out), "--verify"]) == 0

    assert main(["forget", str(out), "--remask_collateral"]) == 0
    rows, records, touched = _expected(packs, texts, before, twins_before, gone)
    assert _rows(mdir) == rows
    assert _twins(mdir) == records
    # Every document left in DIR is in the set again.
    held = {d for shard in _rows(mdir) for row in shard for d in row["doc_ids"]}
    assert held == {r["doc_id"] for r in ff.parquet_rows(out)}
    config = json.loads((mdir / "config.json").read_text())
    assert config["splits"]["train"]["packs"] == len(packs)
    assert config["forgotten"]["remasked_packs"] == len(touched)
    assert not list((mdir / "forget/collateral").rglob("*.json"))  # nothing left to give back
    report = json.loads((out / "forget/report-0002.json").read_text())
    [entry] = report["derived"]["sets"]
    assert entry["collateral"]["remasked"]["packs"] == touched
    assert entry["collateral"]["remasked"]["documents_given_back"] > 0
    assert ff.masked_lineage(mdir, "lineage") == ff.masked_scan(mdir, "")
    assert main(["forget", str(out), "--verify"]) == 0

    # Deterministic: the same forget with the remask in one run gives the same bytes.
    out_b, mdir_b = copies(base, tmp_path / "b")
    assert main(["forget", str(out_b), *argv, "--remask_collateral"]) == 0
    data = ("parquet/", "tfrecord/", "lineage/")
    a = {k: v for k, v in ff.digests(mdir).items() if k.startswith(data)}
    b = {k: v for k, v in ff.digests(mdir_b).items() if k.startswith(data)}
    assert a == b
    config_a, config_b = (json.loads((d / "config.json").read_text()) for d in (mdir, mdir_b))
    assert {**config_a, "source": ""} == {**config_b, "source": ""}  # each names its own DIR


def test_remask_refuses_a_vocabulary_that_changed(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, mdir = copies(base, tmp_path)
    config_path = mdir / "config.json"
    config = json.loads(config_path.read_text())
    config["vocab"]["sha256"] = "0" * 64
    config_path.unlink()
    config_path.write_text(json.dumps(config))
    before = ff.digests(out), ff.digests(mdir)
    argv, _ = _request(out, tmp_path, mdir)
    assert main(["forget", str(out), *argv, "--remask_collateral"]) == 2
    assert "--remask_collateral" in capsys.readouterr().err
    assert (ff.digests(out), ff.digests(mdir)) == before
