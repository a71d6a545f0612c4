"""filters/report.py: sample keys, the fast domain, samples and merges that do not depend on order,
histograms, the recorder, and the one-build-only logic of ``--compare``."""

from __future__ import annotations

import gzip
import hashlib
import random
import re

import pytest

from filters import lineage
from filters import report as rules
from filters.lineage import document_domain
from filters.records import Page
from tests.conftest import EDGE_WET, REAL_WET


def _urls() -> list[str]:
    """Every WARC-Target-URI of the real WET files, edge cases included."""
    urls = []
    for path in [*REAL_WET, *EDGE_WET]:
        try:
            data = gzip.decompress(path.read_bytes())
        except (OSError, EOFError):
            continue
        urls += [m.decode("utf-8", "replace") for m in re.findall(rb"WARC-Target-URI: (\S+)", data)]
    return urls


TRICKY = [
    "http://Example.COM/x",
    "https://www.example.com:8080/a",
    "http://user:pw@host.example.org/",
    "http://example.com./",
    "http://exa\tmple.com/",
    " http://example.com/",
    "http://[::1]/x",
    "http://-bad-.example.com/",
    "http://xn--bcher-kva.example/",
    "http://bücher.example/",
    "http://a..b/",
    "http://" + "a" * 64 + ".com/",
    "example.com/path",
    "ftp://files.example.net/f",
    "http://under_score.example/",
    "http://127.0.0.1/",
    "",
    "not a url",
    "http://\u212a.example/",  # KELVIN SIGN: str.lower() makes it ASCII "k"
    "HTTP://WWW.EXAMPLE.COM/",
    "http://example.com /x",
    "http://ex%41mple.com/",
    "1http://example.com/",
    "http://example.com\n/",
]


def test_document_domain_fast_path_is_the_rule() -> None:
    """``document_domain`` (which the report's ``url_domain`` is) skips urlsplit and UTS #46
    for plain hosts: on every real URL and the tricky ones it equals the rule itself."""
    urls = _urls()
    assert len(urls) > 300
    assert rules.url_domain is document_domain
    for url in [*urls, *TRICKY]:
        assert document_domain(url) == lineage._document_domain(url), url


def test_sample_key_is_blake2b_and_stable() -> None:
    assert rules.sample_key("http://a/") == hashlib.blake2b(b"http://a/", digest_size=8).digest()
    assert rules.key_hex(rules.sample_key("x")) == hashlib.blake2b(b"x", digest_size=8).hexdigest()


@pytest.mark.parametrize("k", [1, 7, 50])
def test_bottom_k_is_the_k_smallest_whatever_the_order_and_cut(k: int) -> None:
    items = [(rules.sample_key(str(i)), str(i)) for i in range(400)]
    expected = sorted(items)[:k]
    rng = random.Random(k)
    for _ in range(5):
        rng.shuffle(items)
        cuts = sorted(rng.sample(range(1, len(items)), 3))
        parts = []
        for lo, hi in zip([0, *cuts], [*cuts, len(items)], strict=True):
            sample = rules.BottomK(k)
            for item in items[lo:hi]:
                if sample.accepts(item[:1]):
                    sample.offer(item)
            parts.append(sample.items())
        assert rules.merge_smallest(parts, k) == expected
        rng.shuffle(parts)
        merged: list[tuple[bytes, str]] = []
        for part in parts:  # merged one at a time, in another order
            merged = rules.merge_smallest([merged, part], k)
        assert merged == expected


def test_histogram_bins_and_quantiles() -> None:
    edges = (0, 10, 20, 50)
    assert rules.histogram([0, 9, 10, 19, 20, 49, 50, 10**9], edges) == [2, 2, 2, 2]
    assert rules.quantiles([5, 1, 3, 2, 4], (10, 50, 90)) == [1, 3, 5]
    assert rules.quantiles([]) == []


def test_lengths_count_words_lines_chars() -> None:
    assert rules.lengths_of("a b\tc\nd  e\n\u00a0f") == rules.Lengths(13, 6, 3)
    assert rules.lengths_of("") == rules.Lengths(0, 0, 0)


def _page(url: str, text: str, doc_id: str = "d") -> Page:
    return Page(url, url, text, "", "", "", doc_id, "f.wet.gz", 7)


def test_recorder_tallies_and_samples_a_bundle() -> None:
    recorder = rules.Recorder()
    recorder.drop(
        {"clean-page/filtered:too_few_sentences": 1, "clean-page/line-passed": 3}, "http://A.com/x"
    )
    recorder.drop(
        {"badwords-filter/filtered": 1, "badwords-filter-en/filtered": 1}, "http://b.org/"
    )
    recorder.drop({"split-wet-file/filtered:no_url": 1}, "")
    recorder.language("en", False)
    recorder.language("de", True)
    recorder.touched("dedupe-lines")
    recorder.raw_page("id-1", "one two\nthree")
    recorder.kept("train", _page("http://www.c.net/p", "Hello there world.", "id-2"))
    parts = recorder.parts()
    tallies = {(kind, key): n for kind, key, n in parts[0].rows}
    assert tallies == {
        ("drop:clean-page/filtered:too_few_sentences", "a.com"): 1,
        ("drop:badwords-filter/filtered", "b.org"): 1,
        ("drop:badwords-filter-en/filtered", "b.org"): 1,
        ("drop:split-wet-file/filtered:no_url", "(none)"): 1,
        ("language", "en"): 1,
        ("language", "de"): 1,
        ("language-unsure", "de"): 1,
        ("touched", "dedupe-lines"): 1,
        ("domain", "www.c.net"): 1,
        ("tld", "net"): 1,
    }
    raw = next(p for p in parts if isinstance(p, rules.SamplePart) and p.kind == rules.RAW_SAMPLE)
    assert raw.items == [(rules.sample_key("id-1"), "id-1", 13, 3, 2)]
    kept = next(p for p in parts if isinstance(p, rules.SamplePart) and p.kind == rules.KEPT_SAMPLE)
    (item,) = kept.items
    assert item[:9] == (rules.sample_key("http://www.c.net/p"), "http://www.c.net/p", "train",
                        "id-2", "f.wet.gz", 7, 18, 3, 1)  # fmt: skip
    assert recorder.parts() == []  # a new bundle starts from nothing


def test_recorder_keys_1_0_0_documents_by_their_normalized_url() -> None:
    recorder = rules.Recorder(normalized_url=True)
    page = Page("http://www.x.com/a?utm_source=1", "x.com/a", "t", "", "", "", "i", "f", 0)
    recorder.kept("train", page)
    kept = recorder.parts()[-1]
    assert kept.items[0][1] == "x.com/a"


def test_only_in_uses_the_other_samples_bound() -> None:
    a = [{"url": u, "key": k} for u, k in [("u1", "01"), ("u2", "02"), ("u5", "05"), ("u9", "09")]]
    b = [{"url": u, "key": k} for u, k in [("u1", "01"), ("u3", "03"), ("u5", "05")]]
    # b's sample ends at 05: u2 is certainly not in b, u9 may be (beyond its sample).
    assert [d["url"] for d in rules.only_in(a, b, complete=False)] == ["u2"]
    assert [d["url"] for d in rules.only_in(a, b, complete=True)] == ["u2", "u9"]
    assert [d["url"] for d in rules.only_in(b, a, complete=False)] == ["u3"]


def test_a_recorder_across_bundles_samples_the_same() -> None:
    """The ceiling a recorder keeps from bundle to bundle prunes, never changes, the sample."""
    k = rules.LIMITS[rules.KEPT_SAMPLE]
    pages = [_page(f"http://h{i % 37}.example/{i}", f"text {i}", f"id-{i}") for i in range(4000)]
    expected = sorted((rules.sample_key(p.url), p.url) for p in pages)[:k]
    rng = random.Random(3)
    for _ in range(3):
        rng.shuffle(pages)
        recorder = rules.Recorder()
        parts = []
        for lo in range(0, len(pages), 400):  # bundles of 400 pages, one recorder
            recorder.reset()
            for page in pages[lo : lo + 400]:
                recorder.kept("train", page)
            parts += [p.items for p in recorder.parts() if isinstance(p, rules.SamplePart)]
        merged = rules.merge_smallest(parts, k)
        assert [item[:2] for item in merged] == expected
        assert len(parts) == 10 and sum(len(p) for p in parts) < 5 * k  # later bundles, fewer
