"""After ``c4 forget`` every count is what a fresh scan of the data gives (issue 17.3).

A real build of the WET samples, masked (``DIR/masked``) and masked again elsewhere (``c4 mask
--output MDIR``); after a forget, each file is read again and every count in ``stats.json``,
``dataset_info.json``, both masked ``config.json``, lineage and ``DATA_CARD.md`` is compared
with what the files hold. The build's drop counters stay as built; ``forget/removed`` balances
the books; the data card says "removed by request" with the count and the date.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from filters.lineage import document_domain
from pipeline.cli import main
from pipeline.formats import tfrecord
from tests.pipeline.forget import fixtures as ff
from tests.pipeline.forget.test_derived import relocate

DOMAINS = ("abc.net.au", "urlm.com", "mayoclinic.org")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("metadata")
    ff.build(root / "out")
    assert main(["mask", str(root / "out"), "--output", str(root / "m1"), "--seed", "3"]) == 0
    return root


@pytest.fixture()
def dirs(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    return relocate(base, tmp_path)


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _records(path: Path) -> list[bytes]:
    return list(tfrecord.read_tfrecord(io.BytesIO(path.read_bytes())))


def _scan_data(out: Path) -> dict[str, dict[str, Any]]:
    """Per split, from the shards themselves: documents, shard lengths, bytes."""
    found: dict[str, dict[str, Any]] = {}
    info = _json(out / "c4/en/3.1.0/dataset_info.json")
    for split in info["splits"]:
        name = split["name"]
        tfds = sorted((out / "c4/en/3.1.0").glob(f"c4-{name}.tfrecord-*"))
        parquet = sorted((out / "parquet" / name).glob("*.parquet"))
        records = [_records(p) for p in tfds]
        texts = [pq.read_table(p, columns=["text"]).column("text").to_pylist() for p in parquet]
        lineage = sorted((out / "lineage" / name).glob("*.parquet"))
        assert [len(pq.read_table(p)) for p in lineage] == [len(t) for t in texts]
        assert [len(r) for r in records] == [len(t) for t in texts]
        found[name] = {
            "documents": sum(len(t) for t in texts),
            "shard_lengths": [len(t) for t in texts],
            "num_shards": len(texts),
            "num_bytes": sum(len(r) for rs in records for r in rs),
            "text_bytes": sum(len(x.encode("utf-8")) for t in texts for x in t),
        }
    return found


def _scan_masked(root: Path) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for split_dir in sorted((root / "parquet").iterdir()):
        files = sorted(split_dir.glob("*.parquet"))
        rows = [r for p in files for r in pq.read_table(p).to_pylist()]
        twins = [root / "tfrecord" / split_dir.name / (p.stem + ".tfrecord") for p in files]
        assert sum(len(_records(t)) for t in twins) == len(rows)
        found[split_dir.name] = {
            "examples": len(rows),
            "documents": len({d for r in rows for d in r["doc_ids"]}),
            "inputs_tokens": sum(len(r["inputs"]) for r in rows),
            "targets_tokens": sum(len(r["targets"]) for r in rows),
            "shards": len(files),
        }
    return found


def _check_masked_config(root: Path) -> None:
    config = _json(root / "config.json")
    for split, counts in _scan_masked(root).items():
        said = {k: config["splits"][split][k] for k in counts}
        assert said == counts, (root, split)


def _listed(url: str) -> bool:
    domain = document_domain(url)
    return any(domain == d or domain.endswith("." + d) for d in DOMAINS)


def test_every_count_is_what_a_scan_gives(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    out, mdir = dirs
    stats0 = _json(out / "stats.json")
    gone = [r for r in ff.parquet_rows(out) if _listed(r["url"])]
    assert len(gone) >= 4
    masked0 = _json(out / "masked/config.json")["splits"]["train"]
    domains = tmp_path / "d.txt"
    domains.write_text("\n".join(DOMAINS) + "\n")
    assert main(["forget", str(out), "--domains", str(domains)]) == 0

    scan = _scan_data(out)
    stats = _json(out / "stats.json")
    for split, counts in scan.items():
        if counts["documents"]:
            said = {k: stats["splits"][split][k] for k in counts}
            assert said == counts, split
    info = _json(out / "c4/en/3.1.0/dataset_info.json")
    for split in info["splits"]:
        counts = scan[split["name"]]
        assert [int(n) for n in split.get("shardLengths", [])] == counts["shard_lengths"]
        assert int(split.get("numBytes", 0)) == counts["num_bytes"]
    kept = sum(c["documents"] for c in scan.values())
    rec = stats["reconciliation"]
    assert rec["kept"] == kept and rec["balanced"] and rec["removed"] == len(gone)
    # The build's drop counters stay as built; the removal has its own counter.
    counters0 = stats0["counters"]
    assert stats["counters"] == {**counters0, "forget/removed": len(gone)}
    assert rec["dropped"] == stats0["reconciliation"]["dropped"]
    assert rec["input_records"] == kept + rec["dropped_total"] + len(gone) + rec["dead_lettered"]
    # Both masked sets: what their shards hold.
    _check_masked_config(out / "masked")
    _check_masked_config(mdir)
    masked = _json(out / "masked/config.json")["splits"]["train"]
    assert masked["documents"] < masked0["documents"] and masked["packs"] == masked0["packs"]
    assert ff.masked_lineage(out) == ff.masked_scan(out)
    assert ff.masked_lineage(mdir, "lineage") == ff.masked_scan(mdir, "")
    # The data card: the table as scanned; removals by request, with the count and the date.
    card = (out / "DATA_CARD.md").read_text()
    for split, counts in scan.items():
        assert f"| {split} | {counts['documents']:,} | {counts['num_bytes']:,} |" in card
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    assert f"kept {kept:,}, dropped by a rule {rec['dropped_total']:,}, " in card
    assert f"removed by request {len(gone)} (c4 forget, last on {today}" in card
    assert main(["forget", str(out), "--verify"]) == 0


def test_an_old_forgotten_counter_moves_to_forget_removed(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    out, _ = dirs
    rows = ff.parquet_rows(out)
    first, second = rows[0], rows[1]
    ids = tmp_path / "ids.txt"
    ids.write_text(first["doc_id"] + "\n")
    assert main(["forget", str(out), "--doc_ids", str(ids)]) == 0
    # As a forget before forget/removed left it: counted as a rule's drop.
    stats_path = out / "stats.json"
    stats = _json(stats_path)
    stats["counters"]["forget/filtered:forgotten"] = stats["counters"].pop("forget/removed")
    rec = stats["reconciliation"]
    rec["dropped"]["forget/filtered:forgotten"] = rec.pop("removed")
    rec["dropped_total"] += 1
    stats_path.unlink()
    stats_path.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    ids.write_text(second["doc_id"] + "\n")
    assert main(["forget", str(out), "--doc_ids", str(ids)]) == 0
    stats = _json(stats_path)
    assert stats["counters"]["forget/removed"] == 2
    assert "forget/filtered:forgotten" not in stats["counters"]
    assert stats["reconciliation"]["removed"] == 2 and stats["reconciliation"]["balanced"]
    assert "removed by request 2 (c4 forget" in (out / "DATA_CARD.md").read_text()


def test_the_report_names_the_collateral(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    out, mdir = dirs
    gone = {r["doc_id"] for r in ff.parquet_rows(out) if _listed(r["url"])}
    expected = {}
    for name, root, pattern in (
        ("masked", out, "masked/parquet/*/*.parquet"),
        (str(mdir), mdir, "parquet/*/*.parquet"),
    ):
        rows = ff.parquet_rows(root, pattern)
        removed = [r for r in rows if gone & set(r["doc_ids"])]
        kept = [r for r in rows if not gone & set(r["doc_ids"])]
        lost: dict[str, int] = {}
        for row in removed:
            for doc_id in set(row["doc_ids"]) - gone:
                lost[doc_id] = lost.get(doc_id, 0) + 1
        expected[name] = [
            {
                "doc_id": d,
                "examples_lost": n,
                "examples_left": sum(d in r["doc_ids"] for r in kept),
            }
            for d, n in sorted(lost.items())
        ]
        assert any(e["examples_left"] == 0 for e in expected[name])  # some lost everything
    domains = tmp_path / "d.txt"
    domains.write_text("\n".join(DOMAINS) + "\n")
    assert main(["forget", str(out), "--domains", str(domains)]) == 0
    report = _json(out / "forget/report-0001.json")
    [mset] = report["derived"]["sets"]
    for name, section in (("masked", report["masked"]), (str(mdir), mset)):
        collateral = section["collateral"]
        assert collateral["list"] == expected[name], name
        whole = sum(e["examples_left"] == 0 for e in expected[name])
        assert (collateral["documents"], collateral["lost_all_examples"]) == (
            len(expected[name]),
            whole,
        )
    text = (out / "forget/report-0001.txt").read_text()
    collateral = report["masked"]["collateral"]
    assert re.search(
        rf"collateral: {collateral['documents']} other document\(s\) shared an example with a "
        rf"forgotten one: {collateral['lost_all_examples']} lost all their examples",
        text,
    )
