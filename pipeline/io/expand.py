"""Remote ``--input`` arguments -> WET paths, at launch: ``gs://`` globs, prefixes and listings,
``https://`` WET files and listings (a crawl's ``wet.paths.gz``).

``pipeline.config`` stays pure and hands each remote argument to ``expand_remote``; local ones it
expands itself. ``gs://`` (and any other Beam filesystem) goes through ``FileSystems.match`` and
``FileSystems.open``; HTTP(S) through ``pipeline.io.http``, with its retries.
"""

from __future__ import annotations

import gzip
import zlib

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from google.api_core.exceptions import GoogleAPIError

from filters.spec import UsageError
from pipeline.io import urls
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


def _match(pattern: str) -> list[str]:
    """Sorted paths matching ``pattern`` (none if nothing does)."""
    found: list[str] = []
    for result in FileSystems.match([pattern]):
        for meta in result.metadata_list:
            found.append(meta.path)
            if meta.size_in_bytes is not None:
                _listed_sizes[meta.path] = int(meta.size_in_bytes)
    return sorted(found)


def _starts_like_wet(path: str) -> bool:
    """Whether a file without a telling name starts with a WARC record (else: a listing)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        head = f.read(64 * 1024)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, len(_WARC_MAGIC))
        except zlib.error:
            return True
    return head.startswith(_WARC_MAGIC)


def _expand_filesystem(arg: str, cc_base_url: str) -> list[str]:
    """A ``gs://`` file, glob, prefix ("directory") or listing -> WET paths."""
    connect_anonymously_if_emulated()
    if _GLOB_CHARS & set(arg):
        matched = _match(arg)
    else:
        matched = [] if arg.endswith("/") else _match(arg)
        if not matched:
            under = _match(arg.rstrip("/") + "/**")
            matched = [p for p in under if p.endswith(WET_SUFFIXES)]
    out: list[str] = []
    for path in matched:
        if path.endswith(WET_SUFFIXES):
            out.append(path)
        elif path.endswith(LISTING_SUFFIXES) or not _starts_like_wet(path):
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                text = _listing_text(f.read(), path)
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
        policy: retries and timeouts for HTTP(S) listings.

    Raises:
        UsageError: the listing or bucket cannot be read (one line naming ``flag``).
    """
    try:
        if urls.is_http(arg):
            return _expand_http(arg, cc_base_url, policy or FetchPolicy())
        return _expand_filesystem(arg, cc_base_url)
    except FetchError as exc:
        raise UsageError(f"{flag}: cannot read {arg}: {exc.reason}") from None
    except (OSError, ValueError, GoogleAPIError) as exc:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise UsageError(f"{flag}: cannot read {arg}: {detail}") from None
