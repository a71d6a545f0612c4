"""URL rules: normalize_url (TFDS's quirks), md5 keys and the validation split."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess

import pytest

from filters.urls import md5_hex, normalize_url, split_for
from tests.conftest import REAL_WET, REPO
from tests.reference import pins


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.Example.com/a/?utm_source=x", "Example.com/a"),
        ("https://example.com/a?x=1&utm_source=2", "example.com/a?x=1&utm_source=2"),
        ("https://a.com/redirect?u=http://www.b.com/", "a.com/redirect?u=b.com"),
        ("http://example.com/?referrer=abc", "example.com"),
        ("http://example.com/x?refresh=1", "example.com/x"),
        ("http://example.com/x?feed=rss", "example.com/x"),
        ("http://example.com/x?Utm_source=1", "example.com/x?Utm_source=1"),
        ("HTTP://WWW.EXAMPLE.COM/", "HTTP://WWW.EXAMPLE.COM"),
        ("ftp://example.com///", "ftp://example.com"),
        ("https://wwwx.example.com/", "wwwx.example.com"),
        ("", ""),
    ],
)
def test_normalize_url(url: str, expected: str):
    assert normalize_url(url) == expected


def test_md5_and_split():
    assert md5_hex("é") == hashlib.md5("é".encode()).hexdigest()
    urls = [f"example.com/{i}" for i in range(5000)]
    validation = [u for u in urls if split_for(u) == "validation"]
    assert validation == [u for u in urls if int(md5_hex(u), 16) % 1000 == 0]
    assert 0 < len(validation) < 20
    assert all(split_for(u, has_validation=False) == "train" for u in validation)


# --- differential: TFDS's normalize_url on every URL of the real WET files --------------------

REF_HOME = pins.home()
REF_PYTHON = REF_HOME / "venv" / "bin" / "python"
SCRIPT = r"""
import json, sys
from tensorflow_datasets.text import c4_utils
json.dump([c4_utils.normalize_url(u) for u in json.load(sys.stdin)], sys.stdout)
"""


def _real_urls() -> list[str]:
    urls = []
    for path in REAL_WET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            urls += [
                line[len("WARC-Target-URI:") :].strip()
                for line in f
                if line.startswith("WARC-Target-URI:")
            ]
    return urls


@pytest.mark.reference
def test_matches_tfds_on_real_urls():
    if not REF_PYTHON.exists():
        pytest.fail(f"reference not set up under {REF_HOME}")
    urls = [*_real_urls(), "https://a.com/r?u=https://www.b.com/?ref=x", "http://www.x.com/?feed"]
    assert len(urls) > 250
    payload = json.dumps(urls)
    digest = hashlib.sha256((SCRIPT + payload).encode()).hexdigest()[:16]
    cache = REPO / ".cache" / f"urls_reference-{digest}.json"
    if not cache.exists():
        out = subprocess.run(
            [str(REF_PYTHON), "-c", SCRIPT],
            input=payload,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            timeout=600,
        ).stdout
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(out, encoding="utf-8")
    assert [normalize_url(u) for u in urls] == json.loads(cache.read_text(encoding="utf-8"))
