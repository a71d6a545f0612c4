"""Pure URL and path rules of the inputs: crawl ids, listing lines, which kind of path is what.

No Beam and no network here, so ``pipeline.config`` can use it while resolving a build.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from filters.spec import UsageError

# Common Crawl's public HTTPS endpoint (CloudFront in front of s3://commoncrawl).
DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org"
CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
CRAWL_PREFIX = "crawl-data/"
HTTP_SCHEMES = ("http://", "https://")
GCS_SCHEME = "gs://"
# What an input path names, by its ending: a WET file, or a listing of WET paths.
WET_SUFFIXES = (".wet", ".wet.gz")
LISTING_SUFFIXES = (".paths", ".paths.gz", ".txt", ".txt.gz", ".lst", ".lst.gz")


def is_remote(path: str) -> bool:
    """A URL (``gs://``, ``https://``, ...) rather than a local path."""
    return "://" in path


def is_http(path: str) -> bool:
    """An ``http://`` or ``https://`` URL."""
    return path.startswith(HTTP_SCHEMES)


def is_fetched(path: str) -> bool:
    """Read with ``pipeline.io.http`` (its retries, backoff and dead letters) rather than Beam's
    ``FileSystems``: ``https://`` URLs and ``gs://`` objects."""
    return path.startswith((*HTTP_SCHEMES, GCS_SCHEME))


def parse_crawls(values: Iterable[str] | None) -> tuple[str, ...]:
    """``--crawl`` values (repeated flags and comma lists) -> crawl ids, in order, once each.

    Raises:
        UsageError: a value that is not a crawl id such as ``CC-MAIN-2019-18``.
    """
    crawls: list[str] = []
    for value in values or ():
        for part in value.split(","):
            crawl = part.strip()
            if not crawl:
                continue
            if not CRAWL_ID.fullmatch(crawl):
                raise UsageError(f"--crawl: {crawl!r} is not a crawl id such as CC-MAIN-2019-18")
            if crawl not in crawls:
                crawls.append(crawl)
    return tuple(crawls)


def crawl_base(cc_base_url: str) -> str:
    """Where ``crawl-data/`` lives: ``--cc_base_url`` (URL or local mirror), else Common Crawl."""
    return (cc_base_url or DEFAULT_CC_BASE_URL).rstrip("/")


def crawl_listing(crawl: str, cc_base_url: str) -> str:
    """The crawl's ``wet.paths.gz``: ``<base>/crawl-data/<crawl>/wet.paths.gz``."""
    return f"{crawl_base(cc_base_url)}/{CRAWL_PREFIX}{crawl}/wet.paths.gz"


def listing_root(listing: str) -> str:
    """Where a listing's relative lines resolve when no ``--cc_base_url`` is given.

    Common Crawl's listings hold ``crawl-data/...`` paths relative to the mirror's root, so a
    listing stored under ``<root>/crawl-data/`` resolves against ``<root>``; any other listing
    against its own directory.
    """
    at = listing.find("/" + CRAWL_PREFIX)
    if at >= 0:
        return listing[:at] or "/"
    return posixpath.dirname(listing.rstrip("/"))


def resolve_line(line: str, root: str) -> str:
    """One relative or absolute listing line against ``root`` (a URL or a local directory)."""
    if is_remote(line) or line.startswith("/"):
        return line
    return root.rstrip("/") + "/" + line.lstrip("/")


def listing_paths(text: str, root: str) -> list[str]:
    """The paths of a listing file's text, one a line; blank lines and ``#`` comments skipped."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(resolve_line(line, root))
    return out


def cap_files(paths: list[str], max_files: int | None) -> list[str]:
    """The first ``max_files`` paths (all of them without a cap)."""
    return paths if max_files is None else paths[:max_files]
