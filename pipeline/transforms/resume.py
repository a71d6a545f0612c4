"""``c4 build --resumable``: a killed build, run again, reuses the work it had finished.

What is kept, in ``DIR/.c4/resume/<key>/`` (``key``: a digest of the build's configuration and of
``FORMAT``, so a changed command starts afresh; outside every generation, so a kill or Ctrl-C
keeps it):

- **Per input file, the output of the per-file stages** (read, length, paragraphs, cleaning:
  everything before the first shuffle), about a third of a build's CPU. The stages' output stream
  is written as it passes, one spill per bundle (``bundle-<id>.pkl``, the elements pickled in
  lists of ``SPILL_BATCH``), and a bundle's spill counts once its list of finished input files
  (``bundle-<id>.files.json``) is written beside it. A rerun reads the spilled stream back
  instead of those files and reads only the others. A page is spilled as the bytes URL dedup's
  shuffle carries it as (``pipeline/transforms/packing.py``), packed once for both: it leaves
  the spill as ``Settled`` with them, and ``DedupUrls`` ships them as they are.
- **Line dedup's join**, with everything that crosses it (``KeptJoin``): each group of the join
  (one page bucket's pages, the keys their winners keep, and a share of the counters, dead
  letters and report tallies of the stages before it) in a file of its own,
  ``join/<digest of the input files' keys>/<attempt>/<bucket>-<size>-<crc32>.pkl``, written
  before any stage after the join starts. A rerun that finds an attempt with every bucket's file
  whole (as long as its name says) builds only what comes after the join: the kill that matters
  most, late in a build, then costs the stages after it and the write, not the rest again.
- **The costliest answers after the shuffles**, the language decisions (langdetect/CLD3), by a
  digest of the text they were asked on, written every few seconds (a runner may run a whole
  stage as one bundle); a rerun looks them up. After line dedup the digest is of what the text
  is made of, the page as the join carried it (packed bytes) and the keys it lost
  (``answer_key``): no UTF-8 encoding of the text, half the digest's cost. (Line dedup's
  sentence minimum is not kept: compiled punkt stops after a page's first sentences and costs
  less than digesting the text to look it up.)

All of it is exact: the replayed elements are the ones the stages emitted (counters and report
tallies included), a kept group is the join's own, and a decision depends only on the text
(which line dedup makes from the page and its lost keys alone, under one configuration). So
the output is byte-identical to an uninterrupted build. A kept group or decision file is written
whole (temporary name, then rename); a spill counts once its listing is written (one that does
not parse, torn, is ignored), a join attempt once every bucket's file is there: a kill while it
is being written leaves an incomplete attempt, deleted and written again by the rerun (the side
items are spread over the buckets differently each time, so two attempts are never mixed). The
directory is deleted when the build commits.

Runner-agnostic by construction: spills follow the per-file stream's markers, not bundle
boundaries, and the join is kept per key (one file a group), so the DirectRunner, its two
workers and the DaskRunner keep and read the same things. Dataflow retries a failed bundle by
itself (four times in batch), so a job survives lost workers without this; it does not survive
being cancelled or failing as a whole, which ``--resumable`` with a ``gs://`` DIR covers: the
resubmitted job reads the spills or the join.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import posixpath
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems

from filters.records import Page
from pipeline.io.storage import PRIVATE, delete_tree, read_bytes, write_bytes
from pipeline.transforms.common import FileDone, Pending, Settled, page_of
from pipeline.transforms.packing import pack, unpack

RESUME = f"{PRIVATE}/resume"
# How often language decisions are written out during a bundle.
FLUSH_SECONDS = 3.0
# Elements pickled together into a spill: one pickle call and one write a batch, not an element
# (a third of the cost).
SPILL_BATCH = 256
# The layout of what is kept, part of the key: a rerun by a version that keeps it otherwise
# starts afresh instead of misreading it.
FORMAT = 4


def resume_dir(output_dir: str, config_json: str) -> str:
    """``DIR/.c4/resume/<digest of the resolved configuration and FORMAT>``."""
    digest = hashlib.sha256(f"{FORMAT}\0{config_json}".encode()).hexdigest()[:20]
    return posixpath.join(output_dir.rstrip("/"), RESUME, digest)


def file_key(path: str) -> str:
    """An input file's identity: its path, and for a local file its size and mtime too (a file
    replaced in place is read again)."""
    identity = path
    if "://" not in path:
        try:
            st = os.stat(path)
            identity = f"{path}\0{st.st_size}\0{st.st_mtime_ns}"
        except OSError:
            pass
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:24]


def finished_spills(directory: str, keys: Iterable[str]) -> dict[str, str]:
    """Input file key -> the spill holding its stream, over the complete spills of ``directory``
    whose files are all among ``keys`` (a file since replaced in place has another key: its
    spill is stale); spills that overlap an earlier one (a bundle retried under another
    grouping) are skipped."""
    lists = sorted(m.path for m in _listed(posixpath.join(directory, "bundle-*.files.json")))
    wanted = set(keys)
    covered: dict[str, str] = {}
    for listing in lists:
        try:
            files = json.loads(read_bytes(listing) or b"[]")
        except ValueError:  # torn by a kill while written: that spill does not count
            continue
        if any(key in covered or key not in wanted for key in files):
            continue
        spill = listing[: -len(".files.json")] + ".pkl"
        for key in files:
            covered[key] = spill
    return covered


def _listed(pattern: str) -> list[FileMetadata]:
    """The files ``pattern`` matches, none if its directory is missing. (Not ``exists`` first:
    on ``gs://`` a directory is only a prefix, which ``exists`` does not see.)"""
    try:
        return [meta for result in FileSystems.match([pattern]) for meta in result.metadata_list]
    except BeamIOError:
        return []


def _path(meta: FileMetadata) -> str:
    return str(meta.path)


# What the spill packs: the pages reaching URL dedup (a ``Settled`` is DedupUrls' own output).
_PACKED_HERE = (Page, Pending)


def read_spill(path: str) -> Iterator[Any]:
    """The elements of one spill, in the order they were written: a page as ``Settled`` with
    its packed bytes (as ``_SpillFn`` passed it on), anything else as it was."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        while True:
            try:  # one unpickler a batch: each was pickled by itself, its memo its own
                batch = pickle.load(handle)
            except EOFError:
                return
            for entry in batch:  # bytes: a packed page; else the element in a 1-tuple
                if type(entry) is bytes:
                    yield Settled(page_of(unpack(entry)), entry)
                else:
                    yield entry[0]


class _SpillFn(beam.DoFn):
    """Passes the per-file stream on, writing each input file's part of it to a spill of its
    own; drops the ``FileDone`` markers (nothing downstream sees them). A page (``Page`` or
    ``Pending``) is packed (``packing.pack``), spilled as those bytes and passed on as
    ``Settled`` with them: ``DedupUrls`` shuffles the same bytes, not packing it again (packing
    it for the shuffle and pickling it for the spill cost twice). Anything else is spilled in a
    1-tuple (a drop record is ``bytes`` too) and passed on unchanged.

    Everything of a file comes before its marker (the stages flush their counters and report
    parts there, ``CountingDoFn.flush_parts``), and a spill is finished when the next file's
    first element arrives or the bundle ends; a file with no element shares the next spill.
    Should anything follow a bundle's last marker, the bundle's spills are withdrawn (their
    listings deleted): a rerun reads those files again rather than lose it.
    """

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._out: Any = None
        self._path = ""
        self._files: list[str] = []
        self._batch: list[Any] = []

    def start_bundle(self) -> None:
        self._out, self._files, self._batch = None, [], []
        self._listings: list[str] = []

    def _open(self) -> Any:
        self._path = posixpath.join(self._directory, f"bundle-{uuid.uuid4().hex}.pkl")
        self._out = FileSystems.create(self._path, compression_type=CompressionTypes.UNCOMPRESSED)
        return self._out

    def _write_batch(self) -> None:
        if self._batch:
            out = self._out or self._open()
            out.write(pickle.dumps(self._batch, protocol=pickle.HIGHEST_PROTOCOL))
            self._batch = []

    def process(self, element: Any) -> Iterator[Any]:
        if isinstance(element, FileDone):
            self._files.append(element.key)
            return
        if self._files:  # the first element after a file's marker: that spill is complete
            self._finish()
        if isinstance(element, _PACKED_HERE):
            packed = pack(element)
            self._batch.append(packed)
            element = Settled(page_of(element), packed)
        else:
            self._batch.append((element,))
        if len(self._batch) >= SPILL_BATCH:
            self._write_batch()
        yield element

    def _finish(self) -> None:
        self._write_batch()
        if self._out is None:
            self._open()
        self._out.close()
        listing = self._path[: -len(".pkl")] + ".files.json"
        out = FileSystems.create(listing, compression_type=CompressionTypes.UNCOMPRESSED)
        out.write(json.dumps(sorted(self._files)).encode("utf-8"))
        out.close()
        self._listings.append(listing)
        self._out, self._files = None, []

    def finish_bundle(self) -> None:
        if self._files:
            self._finish()
        elif self._out is not None or self._batch:  # elements after the last marker
            if self._out is not None:  # no spill of this bundle counts
                self._out.close()
                self._listings.append(self._path)
            if self._listings:
                FileSystems.delete(self._listings)
            self._out, self._batch = None, []


class Spill(beam.PTransform):  # type: ignore[misc]
    """The per-file stream -> the same stream (its pages as ``Settled``, packed), spilled to
    ``directory`` bundle by bundle."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self._directory = directory

    def expand(self, stream: beam.PCollection) -> beam.PCollection:
        return stream | "Write" >> beam.ParDo(_SpillFn(self._directory))


class Replay(beam.PTransform):  # type: ignore[misc]
    """PBegin -> the elements of ``spills``, as the per-file stages emitted them."""

    def __init__(self, spills: Iterable[str]) -> None:
        super().__init__()
        self._spills = sorted(set(spills))

    def expand(self, root: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            root
            | "Spills" >> beam.Create(self._spills)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_spill)
        )


# --- language decisions -----------------------------------------------------------------------


# The text line dedup made last and its key (``prime_text_key``): the language stage, fused
# after it, then reads that very ``str``.
_last_key: tuple[str | None, bytes] = (None, b"")


def text_key(text: str) -> bytes:
    """The digest a decision on ``text`` is kept under: the one primed for this very ``str``
    (``prime_text_key``), else the text's own."""
    last = _last_key  # one read: another thread may replace it meanwhile
    if last[0] is text:
        return last[1]
    # sha256 (truncated): with the CPU's SHA instructions it is the fastest digest hashlib has
    # here, about twice blake2b's speed on page texts. Its first byte sets it apart from
    # ``answer_key``'s.
    digest = hashlib.sha256(b"t")
    digest.update(text.encode("utf-8"))
    return digest.digest()[:16]


def answer_key(packed: bytes, lost: Iterable[bytes], whole: bool) -> bytes:
    """The key of the decisions on the text line dedup makes of a page: a digest of the page as
    the join carried it (``packing.pack``) and of the keys it lost (``whole``: it was not even
    hashed, as it lost none), what that text is made of. As exact as the text's own digest for
    a rerun reading the same kept join, and about half the cost (3.8 against 7 us a page): the
    packed bytes are digested as they are (zstd-compressed when large), where the text must be
    encoded to UTF-8 first."""
    digest = hashlib.sha256(b"w" if whole else b"l")
    digest.update(len(packed).to_bytes(8, "little"))
    digest.update(packed)
    for key in sorted(lost):
        digest.update(len(key).to_bytes(2, "little"))
        digest.update(key)
    return digest.digest()[:16]


def prime_text_key(text: str, key: bytes) -> None:
    """``text_key(text)`` is ``key`` until another text is primed (line dedup primes the text it
    makes, which the language stage reads next)."""
    global _last_key
    _last_key = (text, key)


class DecisionCache:
    """Decisions of one ``kind`` (``language``) made by earlier attempts (read
    at setup), and the new ones, written every few seconds."""

    def __init__(self, directory: str, kind: str = "language") -> None:
        self._directory = posixpath.join(directory, kind)
        self.known: dict[bytes, Any] = {}
        self.new: dict[bytes, Any] = {}
        self._flushed = time.monotonic()

    def load(self) -> None:
        for meta in sorted(_listed(posixpath.join(self._directory, "*.pkl")), key=_path):
            data = read_bytes(meta.path)
            if data:
                self.known.update(pickle.loads(data))

    def get(self, key: bytes) -> Any:
        return self.known.get(key)

    def put(self, key: bytes, decision: Any) -> None:
        self.new[key] = decision
        # A bundle can be the whole stage (the in-memory runner's): keep what it found as it
        # goes, every few seconds, not only at its end.
        if time.monotonic() - self._flushed > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        if not self.new:
            return
        path = posixpath.join(self._directory, f"{uuid.uuid4().hex}.pkl")
        tmp = path + ".tmp"
        out = FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED)
        out.write(pickle.dumps(self.new, protocol=pickle.HIGHEST_PROTOCOL))
        out.close()
        FileSystems.rename([tmp], [path])
        self.known.update(self.new)
        self.new = {}


def clear(directory: str) -> None:
    """Delete a resume directory (the build it served has committed)."""
    delete_tree(directory)
    if "://" not in directory:
        with contextlib.suppress(OSError):  # DIR/.c4/resume, if nothing else is in it
            os.rmdir(posixpath.dirname(directory.rstrip("/")))


def of_config(config: Any) -> str | None:
    """A ``BuildConfig``'s resume directory, ``None`` unless it is ``--resumable``."""
    if not config.resumable:
        return None
    return resume_dir(config.output_dir, config.resume_identity())


# --- line dedup's join, kept (everything before it is then skipped) ---------------------------

JOIN = "join"
# A kept group: ``<bucket>-<payload bytes>-<crc32>.pkl``; the name says what a whole file holds.
_GROUP_NAME = "{bucket:07d}-{size}-{crc:08x}.pkl"


class JoinPlan(NamedTuple):
    """Where line dedup's join is kept, and whether a complete earlier attempt is there.

    Attributes:
        directory: ``<resume dir>/join/<digest of the input files' keys>``: a file replaced in
            place, like a changed configuration, gives another directory.
        buckets: the join's page buckets; an attempt is complete once it holds one group each.
        attempt: the attempt read (``groups`` given) or the new one this build writes.
        groups: the complete attempt's files, or ``()``: compute the join and keep it.
    """

    directory: str
    buckets: int
    attempt: str
    groups: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return bool(self.groups)


def _whole(path: str, size: int) -> bool:
    """Whether a kept group's file is as long as its name says (a torn one is not)."""
    name = posixpath.basename(path)
    parts = name[: -len(".pkl")].split("-") if name.endswith(".pkl") else []
    return len(parts) == 3 and parts[1].isdigit() and int(parts[1]) == size


def plan_join(directory: str, buckets: int, keys: Iterable[str]) -> JoinPlan:
    """The join kept under ``directory`` (a resume directory) for the input files of ``keys``
    (``file_key``): a complete attempt to read, else a new attempt; the others are deleted.

    Complete: one file for every bucket, each whole (as long as its name says). Never two
    attempts mixed, nor two files of a bucket: the side items are spread over the buckets anew
    each time the join is computed, so groups of two computations (a runner that computed it
    twice) could count an item twice or not at all."""
    inputs = "\0".join(sorted(keys))
    here = posixpath.join(directory, JOIN, hashlib.sha256(inputs.encode()).hexdigest()[:20])
    matched = _listed(posixpath.join(here, "*", "*.pkl"))
    if matched:
        attempts: dict[str, dict[str, list[FileMetadata]]] = {}  # attempt -> bucket -> files
        for meta in matched:
            bucket = posixpath.basename(meta.path).split("-")[0]
            attempt = posixpath.basename(posixpath.dirname(meta.path))
            attempts.setdefault(attempt, {}).setdefault(bucket, []).append(meta)
        for attempt, groups in sorted(attempts.items()):
            files = [metas[0] for metas in groups.values() if len(metas) == 1]
            if len(files) == buckets and all(_whole(m.path, m.size_in_bytes) for m in files):
                return JoinPlan(here, buckets, attempt, tuple(sorted(map(_path, files))))
        delete_tree(here)
    return JoinPlan(here, buckets, uuid.uuid4().hex, ())


def read_group(path: str) -> Iterator[tuple[int, dict[str, list[Any]]]]:
    """The group a kept file holds (checked whole against its name)."""
    data = read_bytes(path) or b""
    size, crc = posixpath.basename(path)[: -len(".pkl")].split("-")[1:]
    if len(data) != int(size) or zlib.crc32(data) != int(crc, 16):
        raise ValueError(f"damaged checkpoint {path}: delete {posixpath.dirname(path)} and rerun")
    yield pickle.loads(data)


class _KeepGroupFn(beam.DoFn):
    """A group of the join -> its file's path, the group written whole (temp + rename)."""

    def __init__(self, plan: JoinPlan) -> None:
        self._plan = plan

    def process(self, group: tuple[int, dict[str, Iterable[Any]]]) -> Iterator[str]:
        bucket, tagged = group
        data = pickle.dumps(
            (bucket, {tag: list(values) for tag, values in tagged.items()}),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        name = _GROUP_NAME.format(bucket=bucket, size=len(data), crc=zlib.crc32(data))
        path = posixpath.join(self._plan.directory, self._plan.attempt, name)
        write_bytes(path, data)
        yield path


class _SpreadFn(beam.DoFn):
    """Items -> ``(bucket, item)``, round robin: the side items ride in every bucket's group."""

    def __init__(self, buckets: int) -> None:
        self._buckets = buckets
        self._next = 0

    def process(self, item: Any) -> Iterator[tuple[int, Any]]:
        self._next = (self._next + 1) % self._buckets
        yield self._next, item


class KeptJoin(beam.PTransform):  # type: ignore[misc]
    """``CoGroupByKey`` over ``{tag: PCollection of (bucket, value)}`` (with ``SIDE``: items
    with no bucket, spread over them), each group kept in a file of its own before any is used;
    with a complete plan, PBegin -> the groups read back, nothing before them computed.

    Every bucket has a group (each gets a ``present`` entry), so an attempt holding all of them
    is the whole join. Groups are written at the join, then the paths shuffled (a fusion break:
    every group is kept before the stages after the join start, and only paths are shuffled),
    and each group is read back where it is used.
    """

    SIDE = "side"

    def __init__(self, plan: JoinPlan) -> None:
        super().__init__()
        self._plan = plan

    def expand(self, tagged: Any) -> beam.PCollection:
        plan = self._plan
        if plan.complete:
            paths = tagged | "Groups" >> beam.Create(plan.groups)
        else:
            root = next(iter(tagged.values())).pipeline
            tagged = dict(tagged)
            if self.SIDE in tagged:
                tagged[self.SIDE] = tagged[self.SIDE] | "Spread" >> beam.ParDo(
                    _SpreadFn(plan.buckets)
                )
            tagged["present"] = (
                root
                | "Buckets" >> beam.Create(range(plan.buckets))
                | "Present" >> beam.Map(lambda bucket: (bucket, None))
            )
            paths = (
                tagged | "Group" >> beam.CoGroupByKey() | "Keep" >> beam.ParDo(_KeepGroupFn(plan))
            )
        return paths | "Shuffle" >> beam.Reshuffle() | "Read" >> beam.FlatMap(read_group)


# --- what a build found kept at launch ----------------------------------------------------------

# The decision kinds kept (``DecisionCache``): the language stage's.
ANSWERS = ("language",)


class Resumed(NamedTuple):
    """What a ``--resumable`` build found kept by earlier attempts when it was launched, so what
    it reuses; its summary line (``line``) and ``run.json``'s ``resumed`` (``facts``) say so.

    Attributes:
        directory: the resume directory (``of_config``).
        keys: input path -> ``file_key``.
        join: line dedup's join (``plan_join``), None when the version dedups no text.
        spilled: input file key -> the spill replayed for it (none once the join is kept: the
            rerun starts after it).
        answers: decision kind -> answers kept (looked up instead of asked again).
    """

    directory: str
    keys: dict[str, str]
    join: JoinPlan | None
    spilled: dict[str, str]
    answers: dict[str, int]

    @property
    def restored(self) -> bool:
        """Whether the build starts from the kept join (nothing before it runs)."""
        return self.join is not None and self.join.complete

    def facts(self) -> dict[str, Any]:
        return {
            "input_files": len(self.keys),
            "spills_reused": len(self.spilled),
            "join_groups_reused": len(self.join.groups) if self.restored and self.join else 0,
            "answers_kept": dict(self.answers),
        }

    def line(self) -> str | None:
        """``resumed: reused …; recomputed: …``, or None when nothing was reused."""
        inputs, reused = len(self.keys), []
        if self.join is not None and self.restored:
            reused.append(f"line dedup's join ({len(self.join.groups):,} group(s))")
            recomputed = "the stages after that join, and the write"
        elif self.spilled:
            reused.append(f"{len(self.spilled):,} of {inputs:,} input file(s)' spills")
            left = inputs - len(self.spilled)
            recomputed = (
                f"reading and cleaning {left:,} input file(s), the shuffles and all after them"
                if left
                else "the shuffles and all after them (no input file read)"
            )
        else:
            recomputed = "everything else"
        reused += [f"{n:,} {kind} answer(s)" for kind, n in self.answers.items() if n]
        if not reused:
            return None
        return f"resumed: reused {', '.join(reused)}; recomputed: {recomputed}"


def plan(config: Any, buckets: int) -> Resumed | None:
    """What ``config``'s build reuses (``buckets``: line dedup's page buckets), None unless it is
    ``--resumable``. Plan once a build: a join attempt that is not complete is deleted, and a new
    one named."""
    directory = of_config(config)
    if directory is None:
        return None
    keys = {f.path: file_key(f.path) for f in config.inputs}
    join = plan_join(directory, buckets, keys.values()) if config.rules.dedupe else None
    restored = join is not None and join.complete
    spilled = {} if restored else finished_spills(directory, keys.values())
    answers = {}
    for kind in ANSWERS:
        cache = DecisionCache(directory, kind)
        cache.load()
        answers[kind] = len(cache.known)
    return Resumed(directory, keys, join, spilled, answers)
