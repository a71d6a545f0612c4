"""The sinks of ``c4 build``: TFDS TFRecord shards, Parquet, dead letters and the run metadata.

``WriteC4(config)`` takes the pipeline's ``C4Collections`` and returns the single final
PCollection of the whole pipeline (one stats dict). Everything it writes is an ancestor of that
PCollection, because the DaskRunner computes only the last transform's bag.

Output is byte-identical on every rerun and every runner:
- shards follow TFDS's Beam writer: example order is ``example_sort_key(split, key)`` (md5 salted
  with the split), the shard count comes from the split's totals, the shard of an example is
  its key's place in ``[0, largest key]``, empty shards are dropped and the rest renumbered;
  nothing depends on bundle boundaries;
- each file is written to a temporary name through ``FileSystems`` (so ``gs://`` works) and
  renamed into place, so no reader sees a half-written file;
- data files hold no timestamps; metadata JSON is written with sorted keys.

No side inputs: the Dask runners evaluate a side input by computing its bag again inside each
task that reads it, which re-runs the whole C4 pipeline upstream of it. The split totals reach
the documents through a join instead: documents are keyed by ``(split, key bucket)``, each
bucket gets a copy of its split's plan (``CoGroupByKey``), then shards are grouped and written.
"""

from __future__ import annotations

import io
import itertools
import json
import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.records import DeadLetter, Page
from filters.spec import C4Rules
from pipeline import lineage, summary
from pipeline.formats import parquet_io, tfds_layout, tfrecord
from pipeline.io import faults
from pipeline.transforms.packing import pack, unpack

# Bytes of a dead letter's excerpt kept in the JSONL (the record itself stays in the WET file).
MAX_EXCERPT_CHARS = 200
# Marks a file still being written: ``<final name>.tmp-<uuid>``.
TMP_MARK = ".tmp-"
# Documents are joined with their split's plan in 2**12 buckets of the 128-bit sort key per
# split: groups of ~200 MB for C4 en's 830 GB train split, one per document for a sample.
BUCKET_BITS = 12


class WriteConfig(Protocol):
    """What ``WriteC4`` reads from ``pipeline.config.BuildConfig``."""

    @property
    def write_dir(self) -> str: ...

    @property
    def rules(self) -> C4Rules: ...

    @property
    def num_shards(self) -> int | None: ...

    @property
    def inputs(self) -> tuple[Any, ...]: ...

    def to_json(self) -> str: ...


class SplitPlan(NamedTuple):
    """A split's totals and the shard count they give (TFDS BeamWriter's inputs)."""

    num_examples: int
    num_bytes: int
    largest_key: int
    num_shards: int


# --- helpers ---------------------------------------------------------------------------------


def tfds_dir(output_dir: str, rules: C4Rules) -> str:
    """``DIR/c4/<config>/<version>``: where TFDS's own layout goes."""
    return join(output_dir, "c4", rules.config, rules.version)


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` (local paths and ``gs://`` URLs alike)."""
    return posixpath.join(base.rstrip("/") or "/", *parts)


def example_features(page: Page, rules: C4Rules) -> dict[str, str]:
    """The TFDS features of one document (all ``Text``), for the rules' version.

    1.0.0 emitted the normalized url as ``url`` (its pipeline key) and only ``text``/``url``.
    """
    if rules.version == "1.0.0":
        return {"text": page.text, "url": page.normalized_url}
    values = {
        "content-length": page.content_length,
        "content-type": page.content_type,
        "text": page.text,
        "timestamp": page.timestamp,
        "url": page.url,
    }
    return {name: values[name] for name in rules.features}


def parquet_row(page: Page, rules: C4Rules) -> dict[str, Any]:
    """The Parquet row of one document: the features plus where it came from."""
    return {
        "url": url_of(page, rules),
        "text": page.text,
        "timestamp": page.timestamp,
        "content_type": page.content_type,
        "content_length": page.content_length,
        "doc_id": page.doc_id,
        "source_file": page.source_file,
        "record_offset": page.record_offset,
        "record_id": page.record_id,
    }


def plan_split(
    num_examples: int, num_bytes: int, largest_key: int, num_shards: int | None
) -> SplitPlan:
    """Shard count of a split: ``--num_shards`` if given, else TFDS's rule on its totals."""
    n = num_shards or tfds_layout.num_shards_for(num_bytes, num_examples)
    return SplitPlan(num_examples, num_bytes, largest_key, n)


def shard_of(sort_key: int, plan: SplitPlan) -> int:
    """TFDS's shard of an example: its key's place in ``[0, largest key]``, never ``n``."""
    return tfds_layout.shard_of_key(sort_key, plan.largest_key, plan.num_shards)


def input_names(inputs: Iterable[Any]) -> tuple[str, ...]:
    """Names of the inputs for the data card: ``source_file`` where known (same for gs://)."""
    return tuple(str(getattr(i, "source_file", None) or getattr(i, "path", i)) for i in inputs)


def dead_letter_json(letter: DeadLetter) -> str:
    """One JSONL line (no newline) for a dead letter, keys sorted, excerpt cut short;
    ``detail`` and ``lost_bytes`` only where the dead letter has them."""
    row: dict[str, Any] = {
        "stage": letter.stage,
        "source_file": letter.source_file,
        "record_offset": letter.record_offset,
        "reason": letter.reason,
        "excerpt": letter.excerpt[:MAX_EXCERPT_CHARS],
    }
    if letter.detail:
        row["detail"] = letter.detail
    if letter.lost_bytes:
        row["lost_bytes"] = letter.lost_bytes
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def dead_letter_filename(stage: str) -> str:
    """``dead_letter/<stage>.jsonl``, the stage made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stage) + ".jsonl"


def write_atomic(path: str, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or chunks streamed in order) to ``path`` through ``FileSystems``.

    The file is written under a temporary name unique per attempt (a retried bundle never
    collides with a zombie one), then renamed over ``path``: readers see all of it or nothing.
    """
    faults.file_write(path)
    tmp = f"{path}{TMP_MARK}{uuid.uuid4().hex}"
    chunks = [data] if isinstance(data, bytes) else data
    try:
        out = FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED)
        try:
            for chunk in chunks:
                out.write(chunk)
        finally:
            out.close()
        FileSystems.rename([tmp], [path])
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise


def check_unique_keys(split: str, ordered: Sequence[tuple[int, Page]], rules: C4Rules) -> None:
    """Refuse two examples with one hashed key, as TFDS's writer does.

    Raises:
        ValueError: the URL dedup let a URL through twice (a bug upstream, never data).
    """
    for (key_a, page_a), (key_b, page_b) in itertools.pairwise(ordered):
        if key_a == key_b:
            url_a = example_features(page_a, rules)["url"]
            url_b = example_features(page_b, rules)["url"]
            raise ValueError(f"two {split} examples share a key: {url_a!r} and {url_b!r}")


# --- Beam steps -------------------------------------------------------------------------------


def bucket_of(sort_key: int) -> int:
    """The key bucket a document is joined with its split's plan in (top bits of the key)."""
    return sort_key >> (128 - BUCKET_BITS)


# (split, bucket), (sort key, serialized bytes, page packed by pipeline.transforms.packing)
Keyed = tuple[tuple[str, int], tuple[int, int, bytes]]


def _key_example(split_page: tuple[str, Page], rules: C4Rules) -> Keyed:
    split, page = split_page
    features = example_features(page, rules)
    size = tfrecord.example_size(features)  # encoded once, by the shard's writer
    sort_key = tfds_layout.example_sort_key(split, features["url"])
    return (split, bucket_of(sort_key)), (sort_key, size, pack(page))


class _TotalsFn(beam.CombineFn):
    """(count, serialized bytes, largest sort key) of the documents it sees."""

    def create_accumulator(self) -> tuple[int, int, int]:
        return (0, 0, -1)

    def add_input(self, acc: tuple[int, int, int], value: tuple[int, int]) -> tuple[int, int, int]:
        key, size = value
        return (acc[0] + 1, acc[1] + size, max(acc[2], key))

    def merge_accumulators(self, accs: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
        n, size, key = 0, 0, -1
        for a in accs:
            n, size, key = n + a[0], size + a[1], max(key, a[2])
        return (n, size, key)

    def extract_output(self, acc: tuple[int, int, int]) -> tuple[int, int, int]:
        return acc


def plan_buckets(
    bucket_totals: Iterable[tuple[tuple[str, int], tuple[int, int, int]]],
    num_shards: int | None,
) -> Iterator[tuple[tuple[str, int], SplitPlan]]:
    """Sum bucket totals per split, plan each split, and give every bucket its split's plan."""
    buckets = sorted(bucket_totals)
    per_split: dict[str, tuple[int, int, int]] = {}
    for (split, _), (n, size, largest) in buckets:
        total = per_split.get(split, (0, 0, -1))
        per_split[split] = (total[0] + n, total[1] + size, max(total[2], largest))
    plans = {split: plan_split(*total, num_shards) for split, total in per_split.items()}
    for split_bucket, _ in buckets:
        yield split_bucket, plans[split_bucket[0]]


def _plan_buckets(
    group: tuple[str, Iterable[tuple[tuple[str, int], tuple[int, int, int]]]],
    num_shards: int | None,
) -> Iterator[tuple[tuple[str, int], SplitPlan]]:
    return plan_buckets(group[1], num_shards)


ShardKey = tuple[str, int, int]  # split, planned shard, planned shard count


def _assign_shards(
    joined: tuple[tuple[str, int], dict[str, Iterable[Any]]],
) -> Iterator[tuple[ShardKey, tuple[int, bytes]]]:
    (split, _), tagged = joined
    plans = list(tagged["plan"])
    if len(plans) != 1:
        raise RuntimeError(f"split {split!r}: {len(plans)} plans for one key bucket")
    plan = plans[0]
    for sort_key, _, page in tagged["docs"]:
        yield (split, shard_of(sort_key, plan), plan.num_shards), (sort_key, page)


def compacted(planned: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Planned shard -> (final index, final count): empty shards dropped, the rest renumbered."""
    ordered = sorted(set(planned))
    return {shard: (index, len(ordered)) for index, shard in enumerate(ordered)}


def shard_paths(output_dir: str, rules: C4Rules, split: str, index: int, count: int) -> list[str]:
    """The TFRecord and the Parquet file of one shard."""
    return [
        join(tfds_dir(output_dir, rules), tfds_layout.shard_filename(split, index, count)),
        join(output_dir, "parquet", split, parquet_io.parquet_filename(index, count)),
    ]


def shard_lineage_bytes(
    pages: Sequence[Page],
    rules: C4Rules,
    split: str,
    index: int,
    count: int,
    sizes: Sequence[int],
) -> bytes:
    """The lineage file of one shard (``pipeline/lineage.py``): its documents, in shard order,
    with ``sizes``, the serialized sizes of their examples."""
    tfrecord_rel, parquet_rel = (
        lineage.relative("DIR", path) for path in shard_paths("DIR", rules, split, index, count)
    )
    rows = [
        lineage.lineage_row(page, url_of(page, rules), size, split, i, tfrecord_rel, parquet_rel)
        for i, (page, size) in enumerate(zip(pages, sizes, strict=True))
    ]
    return lineage.lineage_bytes(rows)


def url_of(page: Page, rules: C4Rules) -> str:
    """The ``url`` feature of a page's example."""
    return str(example_features(page, rules)["url"])


def lineage_file(output_dir: str, split: str, index: int, count: int) -> str:
    """``DIR/lineage/<split>/part-NNNNN-of-MMMMM.parquet``, the lineage twin of a shard."""
    return lineage.lineage_path(output_dir, split, parquet_io.parquet_filename(index, count))


class _WriteShardFn(beam.DoFn):
    """Writes one shard: its TFRecord file and its Parquet file, same documents, same order.

    The TFRecord file is streamed record by record; only the shard's pages and the compressed
    Parquet bytes are held in memory.
    """

    def __init__(self, output_dir: str, rules: C4Rules) -> None:
        self._output_dir = output_dir
        self._rules = rules

    def process(
        self, group: tuple[ShardKey, Iterable[tuple[int, bytes]]]
    ) -> Iterator[dict[str, Any]]:
        (split, shard, num_shards), examples = group
        ordered = [(key, unpack(packed)) for key, packed in sorted(examples, key=lambda kp: kp[0])]
        check_unique_keys(split, ordered, self._rules)
        rules = self._rules
        sizes: list[int] = []

        def framed() -> Iterator[bytes]:
            for _, page in ordered:
                data = tfrecord.encode_example(example_features(page, rules))
                sizes.append(len(data))
                yield tfrecord.frame_record(data)

        # Planned names; the finalize step renames them only if some shard came out empty.
        tfrecord_path, parquet_path = shard_paths(self._output_dir, rules, split, shard, num_shards)
        write_atomic(tfrecord_path, framed())
        buffer = io.BytesIO()
        parquet_io.write_parquet(buffer, (parquet_row(page, rules) for _, page in ordered))
        write_atomic(parquet_path, buffer.getvalue())
        pages = [page for _, page in ordered]
        lineage_data = shard_lineage_bytes(pages, rules, split, shard, num_shards, sizes)
        write_atomic(lineage_file(self._output_dir, split, shard, num_shards), lineage_data)
        yield {
            "kind": "shard",
            "split": split,
            "shard": shard,
            "num_shards": num_shards,
            "num_examples": len(ordered),
            "num_bytes": sum(sizes),
            "text_bytes": sum(len(page.text.encode("utf-8")) for _, page in ordered),
        }


class _WriteDeadLettersFn(beam.DoFn):
    """Writes ``dead_letter/<stage>.jsonl``, lines sorted (file, offset, reason)."""

    def __init__(self, output_dir: str) -> None:
        self._output_dir = output_dir

    def process(self, group: tuple[str, Iterable[DeadLetter]]) -> Iterator[dict[str, Any]]:
        stage, letters = group
        ordered = sorted(
            letters, key=lambda d: (d.source_file, d.record_offset, d.reason, d.excerpt)
        )
        text = "".join(dead_letter_json(d) + "\n" for d in ordered)
        path = join(self._output_dir, "dead_letter", dead_letter_filename(stage))
        write_atomic(path, text.encode("utf-8"))
        yield {"kind": "dead_letter", "stage": stage, "count": len(ordered)}


def expected_splits(rules: C4Rules) -> tuple[str, ...]:
    """The splits a config always declares, even when the sample gives them no document."""
    if rules.config == "multilingual":
        return ()
    return ("train", "validation") if rules.has_validation else ("train",)


def _delete_if_exists(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def written_paths(
    output_dir: str,
    rules: C4Rules,
    splits: Sequence[summary.SplitWritten],
    dead_letters: Mapping[str, int],
) -> set[str]:
    """Every data file a run wrote: shards of both formats and dead-letter files."""
    paths: set[str] = set()
    for split in splits:
        n = len(split.shard_lengths)
        for i in range(n):
            paths.update(shard_paths(output_dir, rules, split.name, i, n))
            paths.add(lineage_file(output_dir, split.name, i, n))
    for stage in dead_letters:
        paths.add(join(output_dir, "dead_letter", dead_letter_filename(stage)))
    return paths


def data_files(output_dir: str, rules: C4Rules) -> list[str]:
    """Data files present in the output (any run's, and temporaries of failed attempts)."""
    patterns = [
        join(
            tfds_dir(output_dir, rules), f"{tfds_layout.DATASET_NAME}-*.{tfds_layout.FILE_FORMAT}-*"
        ),
        join(output_dir, "parquet", "*", "part-*.parquet*"),
        join(output_dir, "dead_letter", "*.jsonl*"),
        join(output_dir, lineage.LINEAGE_DIR, "*", "part-*.parquet*"),
    ]
    found: list[str] = []
    for result in FileSystems.match(patterns):
        found.extend(m.path for m in result.metadata_list)
    return sorted(found)


class _FinalizeFn(beam.DoFn):
    """Writes stats.json and config.json, checks the reconciliation, then the TFDS metadata.

    ``dataset_info.json`` is written last and only for a balanced run: without it TFDS does
    not load the directory, so a failed run never looks complete. A balanced run also deletes
    data files it did not write (an earlier run's other shard count, leftover temporaries), so
    a Parquet reader of ``parquet/<split>/`` sees this run's documents only.
    """

    def __init__(
        self, output_dir: str, rules: C4Rules, resolved: dict[str, Any], inputs: Sequence[str]
    ) -> None:
        self._output_dir = output_dir
        self._rules = rules
        self._resolved = resolved
        self._inputs = tuple(inputs)

    def process(self, group: tuple[Any, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        _, records = group
        shards: dict[str, list[dict[str, Any]]] = {
            name: [] for name in expected_splits(self._rules)
        }
        dead: dict[str, int] = {}
        counters: dict[str, int] = {}
        for record in records:
            kind = record["kind"]
            if kind == "shard":
                shards.setdefault(record["split"], []).append(record)
            elif kind == "dead_letter":
                dead[record["stage"]] = dead.get(record["stage"], 0) + record["count"]
            elif kind == "counters":
                counters = summary.sum_counters([counters, record["counters"]])
        splits = [
            summary.SplitWritten(
                name=name,
                shard_lengths=tuple(
                    r["num_examples"] for r in sorted(rs, key=lambda r: r["shard"])
                ),
                num_bytes=sum(r["num_bytes"] for r in rs),
                text_bytes=sum(r["text_bytes"] for r in rs),
            )
            for name, rs in sorted(shards.items())
        ]
        stats = summary.build_stats(self._rules.config, self._rules.version, counters, splits, dead)
        out = self._output_dir
        # A previous run's dataset_info.json would vouch for shards this run replaced.
        _delete_if_exists(join(tfds_dir(out, self._rules), "dataset_info.json"))
        write_atomic(join(out, "stats.json"), summary.json_text(stats).encode("utf-8"))
        config_json = summary.build_config_json(self._resolved)
        write_atomic(join(out, "config.json"), summary.json_text(config_json).encode("utf-8"))
        summary.check_balanced(stats)
        for name, records in shards.items():
            self._compact(name, records)
        written = written_paths(out, self._rules, splits, dead)
        stale = [path for path in data_files(out, self._rules) if path not in written]
        if stale:
            FileSystems.delete(stale)
        write_atomic(join(out, "DATA_CARD.md"), summary.data_card(stats, self._inputs).encode())
        self._write_tfds_metadata(splits)
        yield stats

    def _compact(self, split: str, records: Sequence[dict[str, Any]]) -> None:
        """Rename the shards of a split to TFDS's names if some planned shard got no example.

        Only small splits (few examples per shard) can leave a key range empty, so the files
        renamed here are small; at scale every planned shard is written under its final name.
        """
        final = compacted([r["shard"] for r in records])
        for record in records:
            planned = (record["shard"], record["num_shards"])
            if final[record["shard"]] == planned:
                continue
            sources = shard_paths(self._output_dir, self._rules, split, *planned)
            targets = shard_paths(self._output_dir, self._rules, split, *final[record["shard"]])
            FileSystems.rename(sources, targets)
            self._relocate_lineage(split, planned, final[record["shard"]])

    def _relocate_lineage(
        self, split: str, planned: tuple[int, int], final: tuple[int, int]
    ) -> None:
        """Rewrite a renamed shard's lineage under the new name, naming the new files in it."""
        source = lineage_file(self._output_dir, split, *planned)
        tfrecord_rel, parquet_rel = (
            lineage.relative(self._output_dir, path)
            for path in shard_paths(self._output_dir, self._rules, split, *final)
        )
        rows = lineage.read_rows(source)
        for row in rows:
            row["tfrecord_file"], row["parquet_file"] = tfrecord_rel, parquet_rel
        write_atomic(lineage_file(self._output_dir, split, *final), lineage.lineage_bytes(rows))
        FileSystems.delete([source])

    def _write_tfds_metadata(self, splits: Sequence[summary.SplitWritten]) -> None:
        """features.json, LICENSE, then dataset_info.json: TFDS reads a DIR with it as done."""
        base = tfds_dir(self._output_dir, self._rules)
        rules = self._rules
        features = tfds_layout.c4_features_json(rules.features)
        write_atomic(join(base, "features.json"), tfds_layout.features_text(features).encode())
        # Every split the config defines, 0 examples where this build has none.
        written = [
            tfds_layout.SplitInfo(s.name, list(s.shard_lengths), s.num_bytes)
            for s in splits
            if s.documents
        ]
        infos = tfds_layout.declared_splits(rules.config, rules.has_validation, written)
        info = tfds_layout.dataset_info_json(rules.config, rules.version, infos)
        if "redistributionInfo" in info:
            license_text = info["redistributionInfo"]["license"]
            write_atomic(join(base, "LICENSE"), license_text.encode("utf-8"))
        text = tfds_layout.dataset_info_text(info)
        write_atomic(join(base, "dataset_info.json"), text.encode("utf-8"))


class C4CollectionsLike(Protocol):
    """``pipeline.build.C4Collections``: what the rest of the pipeline hands to the sinks."""

    @property
    def docs(self) -> beam.PCollection: ...

    @property
    def dead_letters(self) -> beam.PCollection: ...

    @property
    def stats(self) -> beam.PCollection: ...


class WriteC4(beam.PTransform):
    """Writes a C4 build to ``config.output_dir``; returns the pipeline's final PCollection.

    Input: ``C4Collections(docs: (split, Page), dead_letters: DeadLetter, stats: partial
    counter dicts)``. Output: one element, the content of stats.json. The run fails (the
    finalize step raises) if input records != kept + dropped + dead-lettered.
    """

    def __init__(self, config: WriteConfig) -> None:
        super().__init__()
        self._output_dir = config.write_dir  # staged: pipeline/io/commit.py makes it current
        self._rules = config.rules
        self._num_shards = config.num_shards
        self._resolved = json.loads(config.to_json())
        self._inputs = input_names(config.inputs)

    def expand(self, colls: C4CollectionsLike) -> beam.PCollection:
        rules, num_shards = self._rules, self._num_shards
        keyed = colls.docs | "KeyExamples" >> beam.Map(_key_example, rules=rules)
        plans = (
            keyed
            # Only (sort key, size) travels: a runner that does not lift combiners ships values.
            | "KeySizes" >> beam.MapTuple(lambda bucket, v: (bucket, (v[0], v[1])))
            | "BucketTotals" >> beam.CombinePerKey(_TotalsFn())
            | "KeyAllTotals" >> beam.Map(lambda kv: ("", kv))
            | "GatherTotals" >> beam.GroupByKey()
            | "PlanBuckets" >> beam.FlatMap(_plan_buckets, num_shards=num_shards)
        )
        written = (
            {"plan": plans, "docs": keyed}
            | "JoinPlans" >> beam.CoGroupByKey()
            | "AssignShards" >> beam.FlatMap(_assign_shards)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShardFn(self._output_dir, rules))
        )
        dead = (
            colls.dead_letters
            | "KeyDeadLetters" >> beam.Map(lambda d: (d.stage, d))
            | "GroupDeadLetters" >> beam.GroupByKey()
            | "WriteDeadLetters" >> beam.ParDo(_WriteDeadLettersFn(self._output_dir))
        )
        # Per key, not CombineGlobally: its empty-input default is injected through a side input.
        counters = (
            colls.stats
            | "KeyCounters" >> beam.Map(lambda c: ("", c))
            | "SumCounters" >> beam.CombinePerKey(summary.sum_counters)
            | "CountersRecord" >> beam.MapTuple(lambda _, c: {"kind": "counters", "counters": c})
        )
        # The finalize step runs even for a build that kept, dropped and counted nothing.
        seed = colls.docs.pipeline | "Seed" >> beam.Create([{"kind": "seed"}])
        return (
            (seed, written, dead, counters)
            | "AllWritten" >> beam.Flatten()
            | "OneKey" >> beam.Map(lambda r: ("", r))
            | "GatherWritten" >> beam.GroupByKey()
            | "Finalize"
            >> beam.ParDo(_FinalizeFn(self._output_dir, rules, self._resolved, self._inputs))
        )
