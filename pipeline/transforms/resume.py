"""``c4 build --resumable``: a killed build, run again, reuses the work it had finished.

What is kept, in ``DIR/.c4/resume/<key>/`` (``key``: a digest of the build's configuration, so a
changed command starts afresh; outside every generation, so a kill or Ctrl-C keeps it):

- **Per input file, the output of the per-file stages** (read, length, paragraphs, cleaning:
  everything before the first shuffle), the costliest half of a build. The stages' output stream
  is written as it passes, one spill per bundle (``bundle-<id>.pkl``, the elements pickled one
  after the other), and a bundle's spill counts once its list of finished input files
  (``bundle-<id>.files.json``) is written beside it. A rerun reads the spilled stream back
  instead of those files and reads only the others.
- **The costliest answers after the shuffles**, by a digest of the text they were asked on:
  the language decisions (langdetect/CLD3) and line dedup's sentence minimum (punkt), written
  every few seconds (a runner may run a whole stage as one bundle); a rerun looks them up.

Both are exact: the replayed elements are the ones the stages emitted (counters and report
tallies included), and a decision depends only on the text. So the output is byte-identical to
an uninterrupted build. The directory is deleted when the build commits.

Dataflow retries a failed bundle by itself (four times in batch), so a job survives lost workers
without this; it does not survive being cancelled or failing as a whole, which ``--resumable``
with a ``gs://`` DIR covers: the resubmitted job reads the spills.
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
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.io.storage import PRIVATE, delete_tree, read_bytes

RESUME = f"{PRIVATE}/resume"
# How often language decisions are written out during a bundle.
FLUSH_SECONDS = 3.0


class FileDone(NamedTuple):
    """A marker in the per-file stream: every element of ``key``'s input file is before it."""

    key: str


def resume_dir(output_dir: str, config_json: str) -> str:
    """``DIR/.c4/resume/<digest of the resolved configuration>``."""
    digest = hashlib.sha256(config_json.encode("utf-8")).hexdigest()[:20]
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


def finished_spills(directory: str) -> dict[str, str]:
    """Input file key -> the spill holding its stream, over the complete spills of ``directory``;
    spills that overlap an earlier one (a bundle retried under another grouping) are skipped."""
    if not FileSystems.exists(directory):
        return {}
    pattern = posixpath.join(directory, "bundle-*.files.json")
    lists = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    covered: dict[str, str] = {}
    for listing in lists:
        keys = json.loads(read_bytes(listing) or b"[]")
        if any(key in covered for key in keys):
            continue
        spill = listing[: -len(".files.json")] + ".pkl"
        for key in keys:
            covered[key] = spill
    return covered


def read_spill(path: str) -> Iterator[Any]:
    """The elements of one spill, in the order they were written."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        unpickler = pickle.Unpickler(handle)
        while True:
            try:
                yield unpickler.load()
            except EOFError:
                return


class _SpillFn(beam.DoFn):
    """Passes the per-file stream on unchanged, writing each input file's part of it to a spill
    of its own; drops the ``FileDone`` markers (nothing downstream sees them).

    Everything of a file comes before its marker (the stages flush their counters and report
    parts there, ``CountingDoFn.flush_parts``), and a spill is finished when the next file's
    first element arrives or the bundle ends; a file with no element shares the next spill.
    Should anything follow a bundle's last marker, the bundle's spills are withdrawn (their
    listings deleted): a rerun reads those files again rather than lose it.
    """

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._out: Any = None
        self._pickler: pickle.Pickler | None = None
        self._path = ""
        self._files: list[str] = []

    def start_bundle(self) -> None:
        self._out, self._pickler, self._files = None, None, []
        self._listings: list[str] = []

    def _open(self) -> pickle.Pickler:
        self._path = posixpath.join(self._directory, f"bundle-{uuid.uuid4().hex}.pkl")
        self._out = FileSystems.create(self._path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._pickler = pickle.Pickler(self._out, protocol=pickle.HIGHEST_PROTOCOL)
        return self._pickler

    def process(self, element: Any) -> Iterator[Any]:
        if isinstance(element, FileDone):
            self._files.append(element.key)
            return
        if self._files:  # the first element after a file's marker: that spill is complete
            self._finish()
        pickler = self._pickler or self._open()
        pickler.dump(element)
        pickler.clear_memo()  # elements are independent: no memo growing over the spill
        yield element

    def _finish(self) -> None:
        if self._out is None:
            self._open()
        self._out.close()
        listing = self._path[: -len(".pkl")] + ".files.json"
        out = FileSystems.create(listing, compression_type=CompressionTypes.UNCOMPRESSED)
        out.write(json.dumps(sorted(self._files)).encode("utf-8"))
        out.close()
        self._listings.append(listing)
        self._out, self._pickler, self._files = None, None, []

    def finish_bundle(self) -> None:
        if self._files:
            self._finish()
        elif self._out is not None:  # elements after the last marker: no spill of this bundle
            self._out.close()
            FileSystems.delete([self._path, *self._listings])
            self._out, self._pickler = None, None


class Spill(beam.PTransform):  # type: ignore[misc]
    """The per-file stream -> the same stream, spilled to ``directory`` bundle by bundle."""

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


def text_key(text: str) -> bytes:
    """The digest a language decision is kept under."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class DecisionCache:
    """Decisions of one ``kind`` (``language``, ``sentences``) made by earlier attempts (read
    at setup), and the new ones, written every few seconds."""

    def __init__(self, directory: str, kind: str = "language") -> None:
        self._directory = posixpath.join(directory, kind)
        self.known: dict[bytes, Any] = {}
        self.new: dict[bytes, Any] = {}
        self._flushed = time.monotonic()

    def load(self) -> None:
        pattern = posixpath.join(self._directory, "*.pkl")
        if not FileSystems.exists(self._directory):
            return
        for result in FileSystems.match([pattern]):
            for meta in sorted(result.metadata_list, key=lambda m: m.path):
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


class CachedSentences:
    """A punkt splitter whose ``at_least`` answers (line dedup's sentence minimum, the costliest
    step after the shuffles) are kept in a ``DecisionCache``; the rest is the splitter's own."""

    def __init__(self, splitter: Any, cache: DecisionCache) -> None:
        self._splitter = splitter
        self.cache = cache

    def at_least(self, text: str, n: int) -> bool:
        key = text_key(text) + n.to_bytes(4, "little")
        known = self.cache.get(key)
        if known is None:
            known = bool(self._splitter.at_least(text, n))
            self.cache.put(key, known)
        return bool(known)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._splitter, name)
