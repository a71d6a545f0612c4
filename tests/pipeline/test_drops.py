"""``c4 build --record_drops``: ``DIR/drops/`` holds a row for every page a rule dropped, no text,
the same bytes on every run and runner, and changes nothing else a build writes.

Real builds of the real WET samples (``tests/pipeline/drops_fixtures.py``); what a row says of
each kind of rule is checked in ``tests/pipeline/forget/test_trace_drops.py``.

Private Beam APIs: ``apache_beam.pipeline.PipelineVisitor``, to find the drops transforms in a
built graph (the default graph must have none).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from filters.records import Page
from filters.spec import resolve_rules
from pipeline import drops as drops_sink
from pipeline.build import build_pipeline
from pipeline.cli import main
from pipeline.config import make_build_config
from pipeline.summary import is_drop_counter
from pipeline.transforms import url_dedup
from pipeline.transforms.common import CountingDoFn
from pipeline.transforms.drops import DropCredit, DropRecord, drop_counter
from pipeline.transforms.packing import pack
from tests.conftest import TWO_WORKERS
from tests.pipeline import drops_fixtures as df

BLOCKED = "mayoclinic.org"
# What --record_drops changes beside DIR/drops/: the flag in config.json (and the report's
# table of it), the drops/recorded counter in stats.json (and the report's table of counters).
CHANGED = {"config.json", "stats.json", "report.html"}


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return df.inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def blocklist(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("blocklist") / "domains.txt"
    path.write_text(BLOCKED + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, named: dict[str, str], blocklist: str) -> Path:
    out = tmp_path_factory.mktemp("recorded") / "out"
    return df.build(out, list(named.values()), "--blocklist_domains", blocklist)


def _check_complete(out: Path, inputs: list[str], version: str) -> None:
    """Every record read is kept (lineage) or has one drops row, counted as stats.json says."""
    stats = json.loads((out / "stats.json").read_text())
    rows = df.drops(out)
    counted = Counter(f"{r['stage']}/{r['reason']}" for r in rows)
    assert counted == Counter(stats["reconciliation"]["dropped"])
    assert all(is_drop_counter(name) for name in counted)
    assert stats["counters"][drops_sink.RECORDED] == len(rows)
    assert len(rows) == stats["reconciliation"]["dropped_total"]
    read = df.records(inputs, version)
    places = [(r["source_file"], r["record_offset"]) for r in rows]
    places += [(r["source_file"], r["record_offset"]) for r in df.kept(out)]
    assert sorted(places) == sorted(read)  # each record once, in lineage or in drops
    for row in rows:
        item = read[(row["source_file"], row["record_offset"])]
        assert (row["doc_id"], row["record_id"]) == (item.doc_id, item.record_id)
        assert row["url"] == item.url or (row["stage"], row["url"]) == ("forget", "")


def test_every_dropped_page_has_its_row(built: Path, named: dict[str, str]) -> None:
    _check_complete(built, list(named.values()), "3.1.0")
    reasons = {f"{r['stage']}/{r['reason']}" for r in df.drops(built)}
    assert {
        "too-long-filter/filtered",
        "clean-page/filtered:too_few_sentences",
        "duplicate-url-filter/filtered",
        "dedupe-lines/filtered:empty",
        "english-filter/filtered:ignored_language",
        "badwords-filter/filtered",
        "split-wet-file/filtered:blocklisted",
        "split-wet-file/filtered:no_url",
    } <= reasons


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "version"),
    [
        ("en", "2.2.0"),
        ("en", "1.0.0"),
        ("multilingual", "3.1.0"),
        ("realnewslike", "3.1.0"),
        ("en.noclean", "3.1.0"),
    ],
)
def test_every_config_records_every_drop(
    tmp_path: Path, named: dict[str, str], config: str, version: str
) -> None:
    inputs = list(named.values())
    out = df.build(tmp_path / "out", inputs, "--config", config, "--c4_version", version)
    _check_complete(out, inputs, version)


def test_no_page_text_in_drops(built: Path, named: dict[str, str]) -> None:
    """Not a line of any page read (blocklisted ones included) is in any cell of DIR/drops/."""
    assert "text" not in drops_sink.COLUMNS
    read = [item for item in df.records(list(named.values())).values() if isinstance(item, Page)]
    lines = {
        line.strip() for page in read for line in page.text.split("\n") if len(line.strip()) >= 30
    }
    assert len(lines) > 1000
    urls = {page.url for page in read} | {""}
    rows = df.drops(built)
    # URLs are kept (a page may quote its own URL as a line of text); nothing else of a page.
    assert all(row["url"] in urls and row["winner_url"] in urls for row in rows)
    cells = [
        str(value)
        for row in rows
        for name, value in itertools.chain(row.items(), *(c.items() for c in row["credited_to"]))
        if name not in ("url", "winner_url")
    ]
    assert not [cell for cell in cells if any(line in cell for line in lines)]
    blocked = [r for r in df.drops(built) if r["reason"] == "filtered:blocklisted"]
    assert blocked and all(r["detail"] == "" for r in blocked)


def test_record_drops_changes_nothing_else(
    tmp_path: Path, built: Path, named: dict[str, str], blocklist: str
) -> None:
    default = tmp_path / "default"
    argv = ["build", "--input", *named.values(), "--output", str(default)]
    assert main([*argv, "--blocklist_domains", blocklist]) == 0
    plain, recorded = df.tree(default), df.tree(built)
    assert not [rel for rel in plain if rel.startswith("drops/")]
    files = [rel for rel in recorded if rel.startswith("drops/")]
    assert files == [f"drops/part-0000{i}-of-00001.parquet" for i in range(1)]
    differ = {rel for rel in plain if plain[rel] != recorded[rel]}
    assert differ == CHANGED and set(recorded) - set(plain) == set(files)
    config = [json.loads(t[rel]) for t, rel in ((plain, "config.json"), (recorded, "config.json"))]
    assert "record_drops" not in config[0] and config[1].pop("record_drops") is True
    assert {**config[0], "output_dir": ""} == {**config[1], "output_dir": ""}
    stats = [json.loads(t["stats.json"]) for t in (plain, recorded)]
    assert stats[1]["counters"].pop(drops_sink.RECORDED) == len(df.drops(built))
    assert stats[0] == stats[1]


def _graph(config: Any) -> tuple[list[str], list[CountingDoFn]]:
    pipeline = beam.Pipeline()
    build_pipeline(pipeline, config)
    labels: list[str] = []
    fns: list[CountingDoFn] = []

    class Visitor(beam.pipeline.PipelineVisitor):  # type: ignore[misc]
        def visit_transform(self, node: Any) -> None:
            labels.append(node.full_label)
            fn = getattr(node.transform, "fn", None)
            if isinstance(fn, CountingDoFn):
                fns.append(fn)

    pipeline.visit(Visitor())
    return labels, fns


def test_the_default_graph_is_as_before(tmp_path: Path, named: dict[str, str]) -> None:
    """Without the flag no stage records a drop and no transform of it is in the graph."""
    inputs = list(named.values())
    default = make_build_config(inputs, str(tmp_path / "a"))
    recorded = make_build_config(inputs, str(tmp_path / "b"), record_drops=True)
    labels, fns = _graph(default)
    assert fns and not any(fn.record_drops for fn in fns)
    more, recording = _graph(recorded)
    assert all(fn.record_drops for fn in recording)
    added = sorted(set(more) - set(labels))
    assert added and all(
        label.startswith(("WriteDrops", "WithDrops", "Drops", "DedupText/")) for label in added
    ), added
    assert not set(labels) - set(more)


@pytest.mark.slow
def test_drops_are_the_same_bytes_on_every_run_and_runner(
    tmp_path: Path, named: dict[str, str]
) -> None:
    inputs = list(named.values())
    runs = {
        "in_memory": ["--direct_running_mode", "in_memory"],
        "again": ["--direct_running_mode", "in_memory"],
        "two_workers": list(TWO_WORKERS),
    }
    found = {}
    for name, options in runs.items():
        out = tmp_path / name
        config = make_build_config(inputs, str(out), record_drops=True)
        pipeline = beam.Pipeline(
            runner=beam.runners.DirectRunner(), options=PipelineOptions(options)
        )
        build_pipeline(pipeline, config)
        pipeline.run().wait_until_finish()
        found[name] = {p.name: p.read_bytes() for p in sorted((out / "drops").glob("*"))}
    assert len(found["in_memory"]) == drops_sink.drops_shards(len(inputs))
    assert found["again"] == found["in_memory"] == found["two_workers"]


# --- the pieces, on their own -----------------------------------------------------------------


def test_a_drop_is_named_by_the_counter_the_reconciliation_sums() -> None:
    # TFDS repeats some drops under a per-language alias; the reconciliation sums the other.
    badwords = {"badwords-filter/filtered": 1, "badwords-filter-en/filtered": 1}
    language = {
        "english-filter/filtered:ignored_language": 1,
        "english-filter/filtered:ignored_language-fr": 1,
    }
    for counters in (badwords, language):
        stage, reason = drop_counter(counters)
        assert [f"{stage}/{reason}"] == [k for k in counters if is_drop_counter(k)]
    assert drop_counter({"clean-page/line-passed": 3, "clean-page/filtered:loremipsum": 1}) == (
        "clean-page",
        "filtered:loremipsum",
    )
    with pytest.raises(ValueError):
        drop_counter({"clean-page/passed": 1})


def _page(n: int, timestamp: str) -> Page:
    return Page(
        url=f"http://a.com/{n}",
        normalized_url="a.com",
        text=f"text {n}",
        timestamp=timestamp,
        content_type="",
        content_length="",
        doc_id=f"id-{n}",
        source_file="f",
        record_offset=n,
        file_index=n % 2,
    )


def test_url_dedup_lists_every_copy_it_did_not_keep_in_any_order() -> None:
    """The listing combiner keeps the copy the plain one keeps, however it is combined, and
    lists every other copy exactly once."""
    rules = resolve_rules()
    pages = [_page(n, f"2019-0{1 + n % 3}") for n in range(6)]
    ranked = [(url_dedup.dedup.url_dedup_rank(p, rules), pack(p)) for p in pages]
    plain, listing = url_dedup.KeepUrlCopyFn(), url_dedup.KeepUrlCopyListingLosersFn()
    expected = plain.extract_output(
        plain.merge_accumulators([plain.add_input(plain.create_accumulator(), r) for r in ranked])
    )
    for order in itertools.islice(itertools.permutations(ranked), 0, None, 97):
        halves = [order[:2], order[2:]]
        accs = []
        for half in halves:
            acc = listing.create_accumulator()
            for item in half:
                acc = listing.add_input(acc, item)
            accs.append(acc)
        rank, kept, count, losers = listing.extract_output(listing.merge_accumulators(accs))
        assert (rank, kept, count) == expected
        assert sorted(loser[0] for loser in losers) == sorted(
            p.doc_id for p in pages if pack(p) != kept
        )


def test_a_drops_file_does_not_depend_on_the_order_records_arrive() -> None:
    records = [
        DropRecord(f"id-{n}", f"http://a.com/{n}", "f", n % 3, "", "s", "filtered", file_index=n)
        for n in range(6)
    ] + [DropRecord("id-9", "u", "f", 0, "", "dedupe-lines", "filtered:empty", file_index=1)]
    credits = [
        DropCredit("id-9", (("bb", 1),), 1),
        DropCredit("id-9", (("aa", 1), ("bb", 2)), 1),
    ]
    items: list[DropRecord | DropCredit] = [*records, *credits]
    first = drops_sink.drops_bytes(drops_sink.drops_rows(items))
    assert first == drops_sink.drops_bytes(drops_sink.drops_rows(items[::-1]))
    [row] = [r for r in drops_sink.drops_rows(items) if r["doc_id"] == "id-9"]
    assert row["credited_to"] == [{"owner_md5": "bb", "count": 3}, {"owner_md5": "aa", "count": 1}]
