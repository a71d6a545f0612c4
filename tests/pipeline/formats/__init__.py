"""Tests of pipeline/formats; ``real_docs`` gives them real pages from a WET file of tests/data."""

from __future__ import annotations

import functools
import gzip

from tests.conftest import WET_DIR

SAMPLE_WET = WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz"


@functools.cache
def real_docs(limit: int = 40) -> tuple[dict[str, str], ...]:
    """The first ``limit`` conversion records of the sample, as C4's five text features.

    A minimal WET reader (headers, then Content-Length bytes of body), enough to get real
    text, urls and unicode into the format tests without depending on the pipeline's parser.
    """
    data = gzip.decompress(SAMPLE_WET.read_bytes())
    docs = []
    pos = 0
    while len(docs) < limit:
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        headers = {}
        for line in data[pos:head_end].decode("utf-8").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        length = int(headers["Content-Length"])
        body = data[head_end + 4 : head_end + 4 + length]
        pos = head_end + 4 + length + 4  # the record ends with two CRLFs
        if headers.get("WARC-Type") != "conversion":
            continue
        docs.append(
            {
                "url": headers["WARC-Target-URI"],
                "text": body.decode("utf-8"),
                "content-type": headers.get("Content-Type", ""),
                "content-length": headers["Content-Length"],
                "timestamp": headers["WARC-Date"],
            }
        )
    assert docs, f"no conversion records in {SAMPLE_WET}"
    return tuple(docs)
