"""Remote ``--input`` arguments -> WET paths, at launch: ``gs://`` globs, prefixes and listings,
``https://`` WET files and listings (a crawl's ``wet.paths.gz``).

``pipeline.config`` stays pure and hands each remote argument to ``expand_remote``; local ones it
expands itself. ``gs://`` globs and prefixes (and any other Beam filesystem) are matched through
``FileSystems.match``; files are read through ``pipeline.io.http`` (``https://`` and ``gs://``:
the retries and backoff of ``--download_attempts``, as the workers' downloads), any other
filesystem's through ``FileSystems.open``.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable
from typing import Any

from apache_beam.io.filesystem import CompressionTypes, FileSystem
from apache_beam.io.filesystems import FileSystems
from google.api_core.exceptions import GoogleAPIError

from filters.spec import UsageError
from pipeline.io import gcs, urls
from pipeline.io.gcs import connect_anonymously_if_emulated
from pipeline.io.http import FetchError, FetchPolicy, HttpFetcher
from pipeline.io.urls import LISTING_SUFFIXES, WET_SUFFIXES

_GLOB_CHARS = frozenset("*?[")
_WARC_MAGIC = b"WARC/"


def _listing_text(data: bytes, name: str) -> str:
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


# Sizes the listings of bucket globs and prefixes gave, by path: the live display's totals
# (pipeline.runners.display), at no extra request.
_listed_sizes: dict[str, int] = {}


def listed_size(path: str) -> int | None:
    """The size of ``path`` if a match at launch listed it, else None."""
    return _listed_sizes.get(path)


def _match(pattern: str, policy: FetchPolicy) -> list[str]:
    """Sorted paths matching ``pattern`` (none if nothing does): ``gs://`` through the JSON
    API under ``policy``, any other filesystem through Beam's ``FileSystems.match``."""
    if pattern.startswith(gcs.GCS_SCHEME):
        found = _match_gcs(pattern, HttpFetcher(policy))
    else:
        found = {}
        for result in FileSystems.match([pattern]):
            for meta in result.metadata_list:
                found[meta.path] = meta.size_in_bytes
    for path, size in found.items():
        if size is not None:
            _listed_sizes[path] = int(size)
    return sorted(found)


def _match_gcs(pattern: str, fetcher: HttpFetcher) -> dict[str, int | None]:
    """The objects matching ``pattern`` and their sizes, by Beam's glob rules (``*`` within a
    path segment, ``**`` across them): the object itself when ``pattern`` has no glob, else a
    listing of the bucket under the pattern's literal prefix, page by page.

    Raises:
        FetchError: a request failed past the retries, or was refused (a missing bucket).
    """
    bucket, name = gcs.split(pattern)
    if not _GLOB_CHARS & set(name):
        try:
            data = fetcher.get_bytes(gcs.metadata_url(pattern))
        except FetchError as exc:
            if exc.status == 404:  # no such object (a prefix, perhaps): the caller looks under
                return {}
            raise
        size = str(json.loads(data).get("size", ""))
        return {pattern: int(size) if size.isdigit() else None}
    prefix = re.split(r"[*?\[]", name, maxsplit=1)[0]
    wanted = re.compile(FileSystem.translate_pattern(pattern))
    found: dict[str, int | None] = {}
    token = ""
    while True:
        page = json.loads(fetcher.get_bytes(gcs.list_url(bucket, prefix, token)))
        for item in page.get("items") or ():
            path = f"{gcs.GCS_SCHEME}{bucket}/{item['name']}"
            size = str(item.get("size", ""))
            if wanted.match(path):
                found[path] = int(size) if size.isdigit() else None
        token = page.get("nextPageToken") or ""
        if not token:
            return found


def _read(path: str, policy: FetchPolicy, limit: int = -1) -> bytes:
    """The bytes of a file (the first ``limit`` of them, if given), through our fetcher where it
    can (``gs://``), else through Beam.

    Raises:
        FetchError: a ``gs://`` object that failed past the retries.
    """
    stream: Any
    if urls.is_fetched(path):
        stream = HttpFetcher(policy).open(path)
    else:
        stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    with stream:
        if limit < 0:
            data: bytes = stream.read()
            return data
        chunks: list[bytes] = []
        while limit > 0 and (chunk := stream.read(limit)):
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)


def _starts_like_wet(path: str, policy: FetchPolicy) -> bool:
    """Whether a file without a telling name starts with a WARC record (else: a listing)."""
    head = _read(path, policy, 64 * 1024)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, len(_WARC_MAGIC))
        except zlib.error:
            return True
    return head.startswith(_WARC_MAGIC)


def _expand_filesystem(arg: str, cc_base_url: str, policy: FetchPolicy) -> list[str]:
    """A ``gs://`` file, glob, prefix ("directory") or listing -> WET paths."""
    connect_anonymously_if_emulated()
    if _GLOB_CHARS & set(arg):
        matched = _match(arg, policy)
    else:
        matched = [] if arg.endswith("/") else _match(arg, policy)
        if not matched:
            under = _match(arg.rstrip("/") + "/**", policy)
            matched = [p for p in under if p.endswith(WET_SUFFIXES)]
    out: list[str] = []
    for path in matched:
        if path.endswith(WET_SUFFIXES):
            out.append(path)
        elif path.endswith(LISTING_SUFFIXES) or not _starts_like_wet(path, policy):
            text = _listing_text(_read(path, policy), path)
            root = cc_base_url or urls.listing_root(path)
            out.extend(urls.listing_paths(text, root))
        else:
            out.append(path)
    return out


def _expand_http(arg: str, cc_base_url: str, policy: FetchPolicy) -> list[str]:
    """An ``https://`` WET file (as is) or listing (fetched, lines resolved)."""
    if not arg.endswith(LISTING_SUFFIXES):
        return [arg]
    text = _listing_text(HttpFetcher(policy).get_bytes(arg), arg)
    return urls.listing_paths(text, cc_base_url or urls.listing_root(arg))


def expand_remote(
    arg: str, cc_base_url: str = "", flag: str = "--input", policy: FetchPolicy | None = None
) -> list[str]:
    """One remote argument -> WET paths, sorted where a glob or prefix matched them.

    Args:
        arg: ``gs://bucket/wet/*.wet.gz``, ``gs://bucket/wet/``, ``gs://.../wet.paths.gz``,
            ``https://.../x.warc.wet.gz``, ``https://.../wet.paths.gz``...
        cc_base_url: where a listing's relative lines resolve (default: the listing's root).
        flag: the flag named in errors.
        policy: retries and timeouts for listings read over HTTP(S) or from ``gs://``.

    Raises:
        UsageError: the listing or bucket cannot be read (one line naming ``flag``).
    """
    try:
        if urls.is_http(arg):
            return _expand_http(arg, cc_base_url, policy or FetchPolicy())
        return _expand_filesystem(arg, cc_base_url, policy or FetchPolicy())
    except FetchError as exc:
        raise UsageError(f"{flag}: cannot read {arg}: {exc.reason}") from None
    except (OSError, ValueError, GoogleAPIError) as exc:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise UsageError(f"{flag}: cannot read {arg}: {detail}") from None


def with_attempts(
    download_attempts: int, impersonate: str = ""
) -> Callable[[str, str, str], list[str]]:
    """``expand_remote`` whose listings are fetched under ``--download_attempts`` (and the
    backoff of every download), as ``impersonate``'s account on ``gs://`` when given. The
    policy is made at each call, so an invalid count is ``make_build_config``'s to refuse (it
    checks the flag before it expands anything)."""

    def expand(arg: str, cc_base_url: str = "", flag: str = "--input") -> list[str]:
        policy = FetchPolicy(max_attempts=download_attempts, impersonate=impersonate)
        return expand_remote(arg, cc_base_url, flag, policy)

    return expand
