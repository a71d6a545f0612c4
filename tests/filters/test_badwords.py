"""Bad words: the 2.x line rule, the 3.x page rule, the shipped lists, and a differential run of
TFDS 3.1.0's own filter on every real page in every language."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.badwords import (
    ALLOWLIST,
    BADWORDS_FILES,
    EN_COMMIT,
    LDNOOBW_DIR,
    NAMESPACE,
    OTHER_COMMIT,
    LineBadwords,
    PageBadwords,
    load_badwords,
    url_keeps_badword_page,
)
from tests.conftest import REAL_WET, REPO
from tests.reference import pins

# sha256 over the lines "<name> <sha256 of the file>\n" (names sorted) of every file shipped per
# commit, the file digests taken from the upstream files at LDNOOBW's commits 25e679f and 5faf2ba.
SHIPPED_LISTS_DIGEST = {
    "25e679f": "2ba9805ec234b2f341fd6ba4bc62911bb34b0726d731dd209d9cd5a6a3168577",
    "5faf2ba": "c5961b41eab2b8de5727dfb79a1ec90c4131bb2067933d7b1b5250ffab6b4395",
}


def test_shipped_lists_are_the_pinned_files():
    en = LDNOOBW_DIR / "25e679f" / "en"
    assert hashlib.sha256(en.read_bytes()).hexdigest() == (
        "a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c"
    )
    for commit, expected in SHIPPED_LISTS_DIGEST.items():
        files = sorted((LDNOOBW_DIR / commit).iterdir())
        lines = "".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in files)
        assert hashlib.sha256(lines.encode()).hexdigest() == expected, lines
    assert not (LDNOOBW_DIR / "5faf2ba" / "en").exists()


def test_load_badwords():
    en = load_badwords("en", EN_COMMIT)
    assert len(en) == 377 and "" not in en and en[-1] == "🖕"
    assert load_badwords("en", "25e679f") == en
    assert "13." in load_badwords("zh", OTHER_COMMIT)
    with pytest.raises(ValueError):
        load_badwords("en", "deadbeef")
    with pytest.raises(FileNotFoundError):
        load_badwords("en", OTHER_COMMIT)


# --- C4_SPEC §1.7 table ----------------------------------------------------------------------

SPEC_TABLE = [
    # text, 2.2 per-line match, 3.x whole-text match
    ("ass is a donkey.", False, True),
    ("he sat on his ass.", True, True),
    ("2ass here.", True, False),
    ("x_ass_y.", True, False),
    ("assistance.", False, False),
]


@pytest.mark.parametrize(("text", "line_hit", "page_hit"), SPEC_TABLE)
def test_spec_table(text: str, line_hit: bool, page_hit: bool):
    assert LineBadwords(["ass"]).matches(text.lower()) is line_hit
    assert LineBadwords.for_c4().matches(text.lower()) is line_hit
    keep = PageBadwords.for_c4().decide(text, "en", "example.com").keep
    assert keep is not page_hit


def test_line_rule_is_unescaped_and_needs_a_character_on_each_side():
    assert LineBadwords(["a.c"]).matches(" abc ")  # "." is a regex wildcard in 2.x
    assert not LineBadwords(["ass"]).matches("ass")
    assert LineBadwords(["ass"]).matches("é ass é")  # non-ASCII letters separate
    with pytest.raises(ValueError):
        LineBadwords([])


# --- TFDS c4_utils_test badwords cases, in our words ------------------------------------------

PADDING = (
    "This page starts out with some text.\n"
    "Everything looks good at first, since these are sentences.\n"
    "But then, all of a sudden, there's a badword... or not?\n"
)


@pytest.mark.parametrize(
    ("last_line", "language", "keep"),
    [
        ("I asked my friend for assistance polishing my cutlass.", "en", True),
        ("He took the saddle and put it on his ass in preparation for travel.", "en", False),
        ("Ass is one of several species of small, horse-like animals.", "en-latin", False),
        ('Donkey is one synonym for the word "ass".', "en", False),
        ("Ass is not a badword in Spanish.", "es", True),
        ("Culo is though.", "es", False),
        ("Ass and culo aren't badwords in German.", "de", True),
    ],
)
def test_tfds_cases(last_line: str, language: str, keep: bool):
    words = PageBadwords({"en": ["ass"], "es": ["culo"]})
    assert words.decide(PADDING + last_line, language, "u.com").keep is keep


def test_tfds_soft_filter_case():
    words = PageBadwords({"": ["bad"]}, filter_fraction=0.5)
    assert words.decide("good page", "", "filtered.url.com").keep
    assert not words.decide("bad page", "", "filtered.url.com").keep
    result = words.decide("bad page", "", "unfiltered.url.com")
    assert result.keep and result.reason == "soft-passed"


def test_counters_follow_tfds():
    words = PageBadwords({"en": ["ass"]})
    assert words.decide("fine text.", "de", "u").counters == {(NAMESPACE, "passed"): 1}
    assert words.decide("fine text.", "en", "u").counters == {
        ("badwords-filter-en", "passed"): 1,
        (NAMESPACE, "passed"): 1,
    }
    assert words.decide("an ass.", "en", "u") == (
        False,
        "filtered",
        {(NAMESPACE, "filtered"): 1, ("badwords-filter-en", "filtered"): 1},
    )


def test_soft_filter_is_md5_of_the_normalized_url():
    numerator, denominator = (0.999).as_integer_ratio()
    assert (numerator, denominator) == (8998192055486251, 2**53)
    urls = [f"example.com/page/{i}" for i in range(20_000)]
    kept = [u for u in urls if url_keeps_badword_page(u, 0.999)]
    assert kept == [u for u in urls if url_keeps_badword_page(u, 0.999)]  # same on every call
    for u in kept[:5] + urls[:5]:
        value = int(hashlib.md5(u.encode("utf-8")).hexdigest(), 16)
        assert url_keeps_badword_page(u, 0.999) is (value % denominator >= numerator)
    assert 0 < len(kept) < 60  # about 0.1%
    assert not any(url_keeps_badword_page(u, 1.0) for u in urls[:1000])
    assert all(url_keeps_badword_page(u, 0.0) for u in urls[:1000])
    words = PageBadwords.for_c4(0.999)
    for u in kept[:3]:
        assert words.decide("an ass.", "en", u).reason == "soft-passed"


def test_zh_13_dot_is_escaped_and_substring_matched():
    words = PageBadwords.for_c4()
    assert not words.decide("第13.号", "zh", "u").keep  # a plain substring hit
    assert words.decide("第130号", "zh", "u").keep  # unescaped, "13." would match "130"
    assert words.decide("这是一个很好的页面", "zh-Latn", "u").keep


def test_ja_allowlist_and_substring_matching():
    words = PageBadwords.for_c4()
    assert "sm" in load_badwords("ja", OTHER_COMMIT)
    for allowed in ALLOWLIST["ja"]:
        assert words.decide(f"これは{allowed}です", "ja", "u").keep
    hit = sorted(set(load_badwords("ja", OTHER_COMMIT)) - ALLOWLIST["ja"])[0]
    assert not words.decide(f"これは{hit}です", "ja", "u").keep
    assert not PageBadwords.for_c4().decide("性", "zh", "u").counters.get((NAMESPACE, "filtered"))


def test_fr_ca_is_merged_into_fr_and_every_language_has_a_list():
    words = PageBadwords.for_c4()
    assert words.languages == {name.split("-")[0] for name in BADWORDS_FILES}
    fr_ca_only = set(load_badwords("fr-CA-u-sd-caqc", OTHER_COMMIT)) - set(
        load_badwords("fr", OTHER_COMMIT)
    )
    word = sorted(fr_ca_only)[0]
    assert not words.decide(f"c'est {word} ici", "fr", "u").keep


# --- differential: TFDS 3.1.0's get_badwords_filter_fn on every real page and language --------

REF_HOME = pins.home()
REF_PYTHON = REF_HOME / "venv" / "bin" / "python"

REFERENCE_SCRIPT = r"""
import collections, json, sys
args = json.load(sys.stdin)
from tensorflow_datasets.text import c4_utils as cu
counters = collections.Counter()
def get_counter_inc_fn(namespace):
    def inc(name, amt=1):
        counters[namespace + "\t" + name] += amt
    return inc
cu.get_counter_inc_fn = get_counter_inc_fn  # collect instead of Beam metrics
badwords = collections.defaultdict(set)
for lang, path in args["lists"].items():
    with open(path, encoding="utf-8") as f:
        badwords[lang.split("-")[0]].update(l.strip() for l in f)
for lang, allow in args["allowlist"].items():
    badwords[lang] -= set(allow)
texts = [p.text for path in args["wet"]
         for p in cu.split_wet_file(path, counter_inc_fn=lambda *a, **k: None)] + args["extra"]
out = {"texts": texts, "results": {}}
hits = None
for fraction in args["fractions"]:  # 1.0 first: other fractions only differ on its hits
    fn = cu.get_badwords_filter_fn(badwords, filter_fraction=fraction)
    rows = []
    pairs = hits if hits is not None else [
        (i, lang) for i in range(len(texts)) for lang in args["languages"]]
    for i, lang in pairs:
        counters.clear()
        url = "u%d.com/%s" % (i, lang)
        keep = fn(cu.PageFeatures(text=texts[i], language=lang, normalized_url=url))
        rows.append([i, lang, keep, dict(counters)])
    out["results"][str(fraction)] = rows
    if hits is None:
        hits = [(i, lang) for i, lang, keep, _ in rows if not keep]
json.dump(out, sys.stdout)
"""

LANGUAGES = [*sorted({n.split("-")[0] for n in BADWORDS_FILES}), "zh-Latn", "ja-Latn", "und", ""]
EXTRA = [text for text, _, _ in SPEC_TABLE] + [
    PADDING + "He sat on his ass.",
    "第130号 and 第1300号",
    "第13.号",
    "これはsmです。グロ。女の子。",
    "c'est une bite ici, die Fotze dort, el culo aquí.",
]


@pytest.fixture(scope="module")
def reference_badwords() -> dict:
    if not REF_PYTHON.exists():
        pytest.fail(f"reference not set up under {REF_HOME} (make reference)")
    lists = {
        name: str(LDNOOBW_DIR / ("25e679f" if name == "en" else "5faf2ba") / name)
        for name in BADWORDS_FILES
    }
    args = {
        "lists": lists,
        "allowlist": {k: sorted(v) for k, v in ALLOWLIST.items()},
        "wet": [str(p) for p in REAL_WET],
        "extra": EXTRA,
        "languages": LANGUAGES,
        "fractions": [1.0, 0.999, 0.5],
    }
    h = hashlib.sha256((REFERENCE_SCRIPT + json.dumps(args)).encode())
    for p in [*REAL_WET, *map(Path, lists.values())]:
        h.update(p.read_bytes())
    cache = REPO / ".cache" / f"badwords_reference-{h.hexdigest()[:16]}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    proc = subprocess.run(
        [str(REF_PYTHON), "-c", REFERENCE_SCRIPT],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=True,
        timeout=900,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(proc.stdout, encoding="utf-8")
    return json.loads(proc.stdout)


@pytest.mark.reference
@pytest.mark.parametrize("fraction", [1.0, 0.999, 0.5])
def test_matches_tfds_on_every_page_and_language(reference_badwords: dict, fraction: float):
    words = PageBadwords.for_c4(fraction)
    texts = reference_badwords["texts"]
    rows = reference_badwords["results"][str(fraction)]
    # The fraction only matters for pages with a hit: the 1.0 run has every (page, language),
    # the others only those 1.0 filtered.
    if fraction == 1.0:
        assert len(rows) == len(texts) * len(LANGUAGES)
    outcomes = set()
    for i, lang, keep, counters in rows:
        result = words.decide(texts[i], lang, f"u{i}.com/{lang}")
        got = {f"{ns}\t{name}": n for (ns, name), n in result.counters.items()}
        assert (result.keep, got) == (keep, counters), (i, lang)
        outcomes.add(result.reason)
    assert "filtered" in outcomes
    assert ("passed" in outcomes) is (fraction == 1.0)
    if fraction == 0.5:
        assert "soft-passed" in outcomes


def test_factored_line_regex_matches_like_tfds_plain_regex_on_real_lines():
    import gzip
    import re

    plain = re.compile("[^a-z]({})[^a-z]".format("|".join(load_badwords("en", EN_COMMIT))))
    ours = LineBadwords.for_c4()
    hits = 0
    for path in REAL_WET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                lower = line.strip().lower()
                expected = plain.search(lower) is not None
                assert ours.matches(lower) is expected, lower
                hits += expected
    assert hits > 10


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab- \n\t.é_1")), max_size=12),
    st.lists(st.text(alphabet=st.sampled_from(list("ab-é_1 ")), min_size=1, max_size=3)),
)
def test_page_rule_answers_like_tfds_regex_at_every_edge(text: str, words: list[str]):
    # decide() searches " " + text with ``\W`` where TFDS has ``(?:\W|^)``: same answer, also for
    # words at the very start or end, after a final newline, or made of non-word characters.
    import re

    words = sorted(set(words))
    tfds = re.compile(r"(?:\W|^)(?:{})(?:\W|$)".format("|".join(re.escape(w) for w in words)))
    result = PageBadwords({"en": words}).decide(text, "en", "u.com")
    assert result.keep is (tfds.search(text.lower()) is None), (text, words)
