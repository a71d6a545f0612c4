"""``c4 forget --verify``: prove from the files themselves that nothing listed remains, and that
the dataset is whole.

The index (lineage) could be wrong or stale, so every file a reader reads is read, found by the
names the metadata gives (``pipeline/forget/inventory.py``): each TFRecord example (url, sha256
of its text), each Parquet row (doc_id, url, text digest), each lineage row, each masked example
(its ``doc_ids``, and its TFRecord twin example by example), each masked-lineage row, each
dead-letter excerpt, and every stray file a reader can reach. A text that was forgotten and came
back under another URL or doc_id is still found, by its digest (exact copies only), and a page
of a forgotten document that came back under another doc_id by its URL key's digest.

Two kinds of finding, two exit codes (``Verdict.code``):

- **remains** (1): something listed is still there: a forgotten doc_id, URL, domain or text, a
  masked example holding a forgotten document, a masked TFRecord example that its Parquet twin
  does not hold once documents were forgotten from DIR (its documents are unknown: a copy from
  before the forget), a stray copy holding any of these;
- **damaged** (3): the dataset cannot be read as its metadata says: a file missing, truncated or
  failing its checksum, a count in ``stats.json``, ``dataset_info.json``, ``masked/config.json``
  or lineage that is not what the data gives, lineage that does not describe its shard row by
  row, a stray file (any other file a reader reaches: readable or not).

When both are found the code is 1: whether anything remains is what ``--verify`` is asked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from filters.ledger import url_key_sha256
from filters.lineage import Request, content_digest
from pipeline import lineage
from pipeline.forget import inventory, twins
from pipeline.forget.inventory import DataShard, Inventory, MaskedShard
from pipeline.forget.rewrite import mentions
from pipeline.forget.store import Build, Ledger, exists
from pipeline.formats import tfrecord
from pipeline.masking import lineage as masked_lineage

REMAINS = 1
DAMAGED = 3
INFO = "dataset_info.json"


@dataclass
class Verdict:
    """What ``--verify`` found: ``<file>#<record>: <why>`` and ``<file>: <why>`` lines."""

    remains: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    files_read: int = 0

    @property
    def code(self) -> int:
        """0 clean, 1 something listed remains, 3 the dataset is damaged or unreadable."""
        if self.remains:
            return REMAINS
        return DAMAGED if self.damaged else 0

    def reason(self, where: str) -> str:
        """The one line that says why ``code`` is what it is."""
        if self.remains:
            more = f"; {len(self.damaged)} damaged or stray file(s) too" if self.damaged else ""
            return f"{len(self.remains)} listed item(s) remain in {where}: {self.remains[0]}{more}"
        if self.damaged:
            more = f" (and {len(self.damaged) - 1} more)" if len(self.damaged) > 1 else ""
            return f"{where} is damaged or unreadable: {self.damaged[0]}{more}"
        return f"nothing listed remains in {where}; {self.files_read} files read, counts agree"


class _Unreadable(Exception):
    """A file that cannot be read as what it should be (the message says why, one line)."""


class _Check:
    """One verification: the request (the ledger's included) and what was found so far."""

    def __init__(self, build: Build, request: Request, ledger: Ledger) -> None:
        self.build = build
        self.request = request.merged(ledger.request)
        self.ledger = ledger
        self.verdict = Verdict()

    def damage(self, line: str) -> None:
        self.verdict.damaged.append(line)

    def found(self, where: str, why: str) -> None:
        if why:
            self.verdict.remains.append(f"{where}: {why}")

    def why(self, doc_id: str, url: str, digest: str | None) -> str:
        reason = self.request.reason(doc_id, url)
        if reason:
            return reason
        if digest is not None and digest in self.ledger.sha256:
            return "text sha256"
        if url and self.ledger.url_sha256 and url_key_sha256(url) in self.ledger.url_sha256:
            return "url of a forgotten document"
        return ""

    def row_why(self, row: Mapping[str, Any]) -> str:
        """Why a row of any table (data, lineage, masked, a stray's) holds something listed."""
        text = row.get("text")
        digest = content_digest(text) if isinstance(text, str) else row.get("sha256")
        why = self.why(str(row.get("doc_id") or ""), str(row.get("url") or ""), digest)
        if why:
            return why
        held = set(row.get("doc_ids") or ()) & self.request.doc_ids
        return f"holds {len(held)} doc_id(s)" if held else ""

    def read(self, rel: str) -> bytes | None:
        """A dataset file's bytes; None (and the damage noted) if missing or unreadable."""
        path = self.build.path(rel)
        try:
            if not exists(path):
                raise _Unreadable("missing")
            data = lineage.read_bytes(path)
        except (OSError, _Unreadable) as exc:
            self.damage(f"{rel}: {_error(exc)}")
            return None
        self.verdict.files_read += 1
        return data

    def records(self, rel: str) -> tuple[list[bytes], bool]:
        """A TFRecord file's records, both CRCs checked, and whether that is all of them (all
        records before a damaged one are returned: they are looked at too)."""
        data = self.read(rel)
        if data is None:
            return [], False
        records, error = _records(data)
        if error:
            self.damage(f"{rel}: {error}")
        return records, not error

    def rows(self, rel: str, columns: Sequence[str] = ()) -> list[dict[str, Any]] | None:
        """A Parquet file's rows; None if missing or damaged."""
        table = self.table(rel)
        if table is None:
            return None
        if columns:
            table = table.select([c for c in columns if c in table.column_names])
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def table(self, rel: str) -> pa.Table | None:
        """A Parquet file; None if missing or damaged."""
        data = self.read(rel)
        try:
            return None if data is None else _table(data)
        except _Unreadable as exc:
            self.damage(f"{rel}: {exc}")
            return None


def _records(data: bytes) -> tuple[list[bytes], str]:
    """The records of a TFRecord file up to the first damaged one, and what the damage is."""
    out: list[bytes] = []
    try:
        out.extend(tfrecord.read_tfrecord(io.BytesIO(data)))
    except ValueError as exc:
        return out, f"{exc} (a damaged TFRecord file)"
    return out, ""


def _table(data: bytes) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(data), use_threads=False)
    except Exception as exc:  # pyarrow: ArrowInvalid, OSError, ... whatever the damage is
        raise _Unreadable(f"not a readable Parquet file ({_error(exc)})") from None


def _error(exc: BaseException) -> str:
    if isinstance(exc, _Unreadable):
        return str(exc)
    # The first sentence: pyarrow's messages run on ("... Either the file is corrupted or ...").
    text = (str(exc).splitlines() or [""])[0].split(". ")[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def verify(build: Build, request: Request, ledger: Ledger) -> Verdict:
    """Read every file of DIR a reader reads: what remains, what is damaged."""
    check = _Check(build, request, ledger)
    inv = inventory.take(build, f"c4/{build.config}/{build.version}")
    for line in inv.problems:
        check.damage(line)
    noted = {line.split(":", 1)[0] for line in inv.problems}
    for rel in inv.required:
        if rel not in noted and not exists(build.path(rel)):
            check.damage(f"{rel}: missing")
    shards = [_data_shard(check, shard) for shard in inv.data]
    _split_counts(check, inv, shards)
    _masked(check, inv)
    _dead_letters(check)
    _strays(check, inv)
    return check.verdict


# --- data shards ------------------------------------------------------------------------------

# (url or doc_id, sha256 of the text, bytes: the TFRecord record's or the UTF-8 text's)
_Doc = tuple[str, str, int]


@dataclass
class _Read:
    """What one data shard's files hold (None: missing or unreadable)."""

    shard: DataShard
    examples: list[_Doc] | None
    rows: list[_Doc] | None


def _data_shard(check: _Check, shard: DataShard) -> _Read:
    examples = _tfds_examples(check, shard.tfrecord) if shard.tfrecord else None
    rows = _parquet_docs(check, shard.parquet) if shard.parquet else None
    if shard.lineage:
        table = check.rows(shard.lineage)
        for i, row in enumerate(table or ()):
            check.found(f"{shard.lineage}#{i}", check.row_why(row))
        if table is not None:
            _lineage_agrees(check, shard, table, examples, rows)
    return _Read(shard, examples, rows)


def _tfds_examples(check: _Check, rel: str) -> list[_Doc] | None:
    records, whole = check.records(rel)
    out = []
    for i, record in enumerate(records):
        try:
            example = tfrecord.decode_example(record)
            url, text = _text(example.get("url")), _text(example.get("text"))
        except ValueError as exc:
            check.damage(f"{rel}#{i}: not a readable example ({_error(exc)})")
            return None
        digest = content_digest(text)
        check.found(f"{rel}#{i}", check.why("", url, digest))
        out.append((url, digest, len(record)))
    return out if whole else None


def _parquet_docs(check: _Check, rel: str) -> list[_Doc] | None:
    rows = check.rows(rel, ["doc_id", "url", "text"])
    if rows is None:
        return None
    out = []
    for i, row in enumerate(rows):
        text = str(row.get("text") or "")
        digest = content_digest(text)
        doc_id = str(row.get("doc_id") or "")
        check.found(f"{rel}#{i}", check.why(doc_id, str(row.get("url") or ""), digest))
        out.append((doc_id, digest, len(text.encode("utf-8"))))
    return out


def _text(values: object) -> str:
    if isinstance(values, list) and values and isinstance(values[0], bytes):
        return values[0].decode("utf-8")
    return ""


def _lineage_agrees(
    check: _Check,
    shard: DataShard,
    table: Sequence[Mapping[str, Any]],
    examples: Sequence[_Doc] | None,
    rows: Sequence[_Doc] | None,
) -> None:
    """Lineage lists the shard's documents in its order, with their digests and sizes."""
    twins = [
        (shard.parquet, rows, "doc_id", "text_bytes", "parquet_row", "parquet_file"),
        (shard.tfrecord, examples, "url", "example_bytes", "tfrecord_index", "tfrecord_file"),
    ]
    for rel, docs, key, size, position, file in twins:
        if docs is None:
            continue
        if len(table) != len(docs):
            check.damage(f"{shard.lineage}: {len(table)} rows, {rel} holds {len(docs)}")
            continue
        for i, (row, doc) in enumerate(zip(table, docs, strict=True)):
            said = (row.get(key), row.get("sha256"), row.get(size), row.get(position))
            if said != (doc[0], doc[1], doc[2], i) or row.get(file) != rel:
                check.damage(f"{shard.lineage}#{i}: does not describe {rel}#{i}")
                break


def _split_counts(check: _Check, inv: Inventory, shards: Sequence[_Read]) -> None:
    """``stats.json`` and ``dataset_info.json`` against the shards, split by split."""
    info_splits = {
        str(s.get("name")): s for s in (inv.info or {}).get("splits", []) if isinstance(s, dict)
    }
    stats_splits = (inv.stats or {}).get("splits", {})
    kept: int | None = 0
    for split in sorted({s.shard.split for s in shards}):
        mine = [s for s in shards if s.shard.split == split]
        tfds = [s.examples for s in mine if s.shard.tfrecord]
        parquet = [s.rows for s in mine if s.shard.parquet]
        num_bytes = None
        if all(e is not None for e in tfds):
            num_bytes = sum(n for e in tfds for _, _, n in e or ())
            info = info_splits.get(split, {})
            lengths = [int(n) for n in info.get("shardLengths", [])]
            said_bytes = int(info.get("numBytes", 0))
            found_lengths = [len(e or ()) for e in tfds]
            _agree(check, INFO, split, "shardLengths", lengths, found_lengths)
            _agree(check, INFO, split, "numBytes", said_bytes, num_bytes)
        if inv.stats is None or not isinstance(stats_splits, dict):
            continue
        if any(r is None for r in parquet):
            kept = None
            continue
        stats = stats_splits.get(split, {})
        lengths = [len(r or ()) for r in parquet]
        kept = None if kept is None else kept + sum(lengths)
        text_bytes = sum(n for r in parquet for _, _, n in r or ())
        found = {"shard_lengths": lengths, "documents": sum(lengths), "num_shards": len(lengths)}
        found["text_bytes"] = text_bytes
        if num_bytes is not None:
            found["num_bytes"] = num_bytes
        for name, value in found.items():
            _agree(check, "stats.json", split, name, stats.get(name), value)
    reconciliation = (inv.stats or {}).get("reconciliation", {})
    if inv.stats is not None and kept is not None:
        _agree(check, "stats.json", "reconciliation", "kept", reconciliation.get("kept"), kept)
        if reconciliation.get("balanced") is not True:
            check.damage("stats.json: the reconciliation does not balance")


def _agree(check: _Check, rel: str, split: str, name: str, said: object, found: object) -> None:
    if said != found:
        check.damage(f"{rel}: {split} {name} is {said}, the data gives {found}")


# --- masked examples --------------------------------------------------------------------------


def _masked(check: _Check, inv: Inventory) -> None:
    """Each masked shard (doc_ids, TFRecord twin, lineage table), then config.json's counts."""
    forgotten = bool(check.ledger.doc_ids) or _forgotten_examples(inv.masked_config) > 0
    per_split: dict[str, list[tuple[list[list[str]], dict[str, twins.Tokens]] | None]] = {}
    for shard in inv.masked:
        table = check.table(shard.parquet)
        read = None
        if table is not None:
            held = table["doc_ids"].to_pylist() if "doc_ids" in table.column_names else []
            read = ([list(ids or ()) for ids in held], twins.from_table(table))
        per_split.setdefault(shard.split, []).append(read)
        for i, ids in enumerate(read[0] if read else ()):
            check.found(f"{shard.parquet}#{i}", check.row_why({"doc_ids": ids}))
        _masked_twin(check, shard, read[1] if read else None, forgotten)
        if shard.table:
            _masked_table(check, shard, read[0] if read else None)
    splits = (inv.masked_config or {}).get("splits", {})
    for split, shards in sorted(per_split.items()):
        totals = splits.get(split) if isinstance(splits, dict) else None
        if not isinstance(totals, dict) or any(r is None for r in shards):
            continue
        files = [r for r in shards if r is not None]
        found = {
            "shards": len(files),
            "examples": sum(len(tokens["inputs"].lengths) for _, tokens in files),
            "documents": len({d for held, _ in files for ids in held for d in ids}),
            "inputs_tokens": sum(int(tokens["inputs"].lengths.sum()) for _, tokens in files),
            "targets_tokens": sum(int(tokens["targets"].lengths.sum()) for _, tokens in files),
        }
        for name, value in found.items():
            if name in totals:
                _agree(check, "masked/config.json", split, name, totals[name], value)


def _forgotten_examples(config: Mapping[str, Any] | None) -> int:
    forgotten = (config or {}).get("forgotten", {})
    return int(forgotten.get("examples", 0)) if isinstance(forgotten, dict) else 0


def _masked_twin(
    check: _Check, shard: MaskedShard, expected: dict[str, twins.Tokens] | None, forgotten: bool
) -> None:
    """The TFRecord twin holds the Parquet file's examples, in order, and nothing else.

    The TFRecord has no ``doc_ids``: its twin is its provenance. An example the twin does not
    hold, in a DIR documents were forgotten from, may hold their tokens (a restored copy of the
    file from before the forget): it remains. Anything else that differs is damage.
    """
    records, whole = check.records(shard.tfrecord)
    if not whole or expected is None:
        return
    try:
        examples = twins.from_records(records)
    except (ValueError, UnicodeDecodeError) as exc:
        check.damage(f"{shard.tfrecord}: not readable masked examples ({_error(exc)})")
        return
    if twins.same(examples, expected):
        return
    extra, missing = twins.extra_and_missing(examples, expected)
    if extra and forgotten:
        for i in extra:
            check.found(
                f"{shard.tfrecord}#{i}",
                f"an example {shard.parquet} does not hold (documents unknown: a copy from "
                "before a forget?)",
            )
    if not extra or not forgotten or missing:
        count, twin_count = len(records), len(expected["inputs"].lengths)
        check.damage(
            f"{shard.tfrecord}: {count} examples, not the {twin_count} of its twin {shard.parquet}"
        )


def _masked_table(check: _Check, shard: MaskedShard, held: list[list[str]] | None) -> None:
    """The masked lineage table: no forgotten doc_id, and what a fresh scan of its shard gives."""
    table = check.rows(shard.table)
    for i, row in enumerate(table or ()):
        if row.get("doc_id") in check.request.doc_ids:
            check.found(f"{shard.table}#{i}", "masked lineage of a doc_id")
    if table is None or held is None:
        return
    if table != masked_lineage.table_rows(held, shard.parquet, shard.tfrecord):
        check.damage(f"{shard.table}: does not list what {shard.parquet} holds")


# --- dead letters and strays ------------------------------------------------------------------


def _dead_letters(check: _Check) -> None:
    for path in lineage.match_paths(check.build.path("dead_letter/*.jsonl")):
        rel = lineage.relative(check.build.root, path)
        data = check.read(rel)
        try:
            _letters(check, rel, data or b"")
        except _Unreadable as exc:
            check.damage(f"{rel}: {exc}")


def _letters(check: _Check, rel: str, data: bytes) -> None:
    """Dead letters whose excerpt is of a forgotten record or names a listed URL."""
    try:
        letters = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    except ValueError as exc:
        raise _Unreadable(f"not JSON lines ({_error(exc)})") from None
    for i, letter in enumerate(letters):
        excerpt = str(letter.get("excerpt", "")) if isinstance(letter, dict) else ""
        if not excerpt:
            continue
        record = f"{letter.get('source_file')}:{letter.get('record_offset')}"
        if record in check.ledger.records or mentions(excerpt, check.request):
            check.found(f"{rel}#{i}", "excerpt of a forgotten record")


def _strays(check: _Check, inv: Inventory) -> None:
    """Files a reader reaches that are not the dataset's: read for remains, then flagged."""
    expected = inv.expected()
    theirs = tuple(inventory.registered_inside(check.build.root))
    for rel in inventory.reachable(check.build.root):
        if rel in expected or any(rel == t or rel.startswith(t + "/") for t in theirs):
            continue
        reason = inventory.stray_reason(rel)
        if reason:
            readable = _scan_stray(check, rel)
            check.damage(f"{rel}: stray file, {reason}" + ("" if readable else ", unreadable"))


def _scan_stray(check: _Check, rel: str) -> bool:
    """Look for anything listed in a stray file of a kind c4 writes; whether it was readable."""
    try:
        data = lineage.read_bytes(check.build.path(rel))
        check.verdict.files_read += 1
        if data.startswith(b"PAR1"):
            for i, row in enumerate(_table(data).to_pylist()):
                check.found(f"{rel}#{i}", check.row_why(row))
        elif ".jsonl" in rel:
            _letters(check, rel, data)
        else:
            records, error = _records(data)
            for i, record in enumerate(records):
                example = tfrecord.decode_example(record)
                url, text = _text(example.get("url")), _text(example.get("text"))
                digest = content_digest(text) if text else None
                check.found(f"{rel}#{i}", check.why("", url, digest))
            return not error
    except (OSError, ValueError, _Unreadable):
        return False
    return True
