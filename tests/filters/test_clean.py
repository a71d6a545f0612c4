"""clean_page: TFDS's own clean_page cases, the C4_SPEC §1.4 quirks, and a differential run
against the reference code of 3.1.0, 2.2.0 and 1.0.0 on every page of the real WET files
(tests/data/wet)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from filters.badwords import LineBadwords
from filters.clean import LEGACY_COUNTER_NAMES, CleanResult, clean_page
from filters.sentences import load_punkt
from filters.spec import C4Rules
from tests.conftest import REAL_WET, REPO
from tests.reference import pins

V310 = C4Rules("en", "3.1.0")
V220 = C4Rules("en", "2.2.0")
V100 = C4Rules("en", "1.0.0")
PUNKT = load_punkt()
LINE_BADWORDS = LineBadwords.for_c4()


def clean(text: str, rules: C4Rules = V310) -> CleanResult:
    return clean_page(text, rules, PUNKT, LINE_BADWORDS)


# --- TFDS c4_utils_test cases, in our words ------------------------------------------------------

MIXED_PAGE = """This line has enough words and ends in punctuation, Dr. Roberts!
Economic History | All Institutions | Open Access Articles | Digital Commons Network
"Open Access. Powered by Scholars. Published by Universities."
Digital Commons Network™/ Social and Behavioral Sciences...
Too few words.
You need to enable javascript in your browser in order to see this page.
You have JavaScript disabled and that means you can't see this page.
Adam Roberts has a cookie policy: always eat them.
Colin has a privacy policy: don't share people's secrets.
You'd better follow our terms of use!
"""


def test_mixed_page_keeps_two_lines_with_exact_counters():
    result = clean(MIXED_PAGE)
    assert result.text == (
        "This line has enough words and ends in punctuation, Dr. Roberts!\n"
        '"Open Access. Powered by Scholars. Published by Universities."'
    )
    assert result.reason == "passed"
    assert result.counters == {
        "line-passed": 2,
        "line-filtered:too_short": 1,
        "line-filtered:no_endmark": 2,
        "line-filtered:javascript": 2,
        "line-filtered:policy": 3,
        "passed": 1,
    }


def test_ellipsis_inside_a_line_is_one_sentence():
    text = (
        "This first line has one sentence.\n"
        "This line looks like it has three sentences...but it's actually just 1."
    )
    assert PUNKT.count(text.splitlines()[1]) == 1
    assert clean(text) == CleanResult(
        None, "filtered:too_few_sentences", {"line-passed": 2, "filtered:too_few_sentences": 1}
    )


def test_curly_bracket_on_a_kept_line_drops_the_page():
    text = (
        "This page starts out with some text.\n"
        "Everything looks good at first, since these are sentences.\n"
        "But then, all of a sudden, there's a bunch of code like the next block.\n"
        "fn foo(a) { bar = a + 10; }."
    )
    assert clean(text) == CleanResult(
        None, "filtered:squigglybracket", {"filtered:squigglybracket": 1, "line-passed": 3}
    )


def test_lorem_ipsum_drops_the_page_and_later_lines_are_not_counted():
    text = (
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
        "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.\n"
        "short"
    )
    assert clean(text) == CleanResult(None, "filtered:loremipsum", {"filtered:loremipsum": 1})


def test_citations_are_removed_before_the_end_mark_test():
    text = (
        "This page has some text.\n"
        "Some lines don't end with punctuation\n"
        "And some of these lines end with citations.[3]\n"
        "Or have requested citations[citation needed]. Or the option to edit.[edit]\n"
    )
    result = clean(text)
    assert result.text == (
        "This page has some text.\n"
        "And some of these lines end with citations.\n"
        "Or have requested citations. Or the option to edit."
    )
    assert result.counters == {"line-passed": 3, "line-filtered:no_endmark": 1, "passed": 1}


def test_policy_lines_are_dropped_case_insensitively():
    text = (
        "This page has with some text. So, that's good!\n"
        "But at the end it has some polciy lines.\n"
        "This line mentions the Terms of Use.\n"
        "This line should be okay.\n"
        "The privacy policy is mentioned in this line.\n"
        "Let's talk about the Cookie Policy now.\n"
    )
    result = clean(text)
    assert result.text == (
        "This page has with some text. So, that's good!\n"
        "But at the end it has some polciy lines.\n"
        "This line should be okay."
    )
    assert result.counters == {"line-passed": 3, "line-filtered:policy": 3, "passed": 1}


# --- C4_SPEC §1.4 quirks -------------------------------------------------------------------------

GOOD = "One two three four five six.\nSeven eight nine ten eleven twelve.\nA b c d e f g h.\n"


@pytest.mark.parametrize(
    ("line", "counter"),
    [
        ("Ends with two dots here, this passes..", "line-passed"),
        ("Ends with three dots here so it fails...", "line-filtered:no_endmark"),
        ("Ends with a unicode ellipsis here, fails…", "line-filtered:no_endmark"),
        ("Ends with a curly quote here, it fails”", "line-filtered:no_endmark"),
        ('Ends with a straight quote here, it passes"', "line-passed"),
        ("Citation at the end is removed, no strip. [1]", "line-filtered:no_endmark"),
        ("Empty brackets count as a citation too.[]", "line-passed"),
        ("Four words only here.", "line-filtered:too_short"),
        ("Short {line} brace here.", "line-filtered:too_short"),
        ("A braced {javascript} line is only dropped.", "line-filtered:javascript"),
        ("No end mark and a { brace do not kill", "line-filtered:no_endmark"),
        ("We use cookies on this nice website, ok.", "line-filtered:policy"),
    ],
)
def test_single_line_rules(line: str, counter: str):
    result = clean(GOOD + line)
    assert result.counters.get(counter, 0) >= 1
    assert result.reason == "passed"


def test_citation_removal_is_not_restripped():
    result = clean(GOOD + "foo [1] bar baz qux quux.")
    assert result.text is not None
    assert result.text.endswith("foo  bar baz qux quux.")


def test_splitlines_semantics_split_on_unicode_separators():
    # \u2028 and \x0c split lines for str.splitlines, not for str.split("\n").
    text = "One two three four five.\u2028Six seven eight nine ten.\x0cEleven twelve 13 14 15."
    result = clean(text)
    assert result.counters == {"line-passed": 3, "passed": 1}
    assert result.text == (
        "One two three four five.\nSix seven eight nine ten.\nEleven twelve 13 14 15."
    )


def test_too_long_word_is_checked_before_the_end_mark_except_in_1_0_0():
    line = "x" * 1001 + " and four more words"
    assert clean(GOOD + line).counters["line-filtered:too_long_word"] == 1
    assert clean(GOOD + line, V220).counters["line-filtered:too_long_word"] == 1
    assert "line-filtered:too_long_word" not in clean(GOOD + line, V100).counters
    ok = "x" * 1000 + " and four more words."
    assert clean(GOOD + ok).counters["line-passed"] == 4


def test_badwords_kill_the_page_only_in_old_versions_and_only_on_kept_lines():
    bad = "He sat down on his ass and then he left."
    for rules in (V220, V100):
        result = clean(GOOD + bad + "\nLater lines are never counted at all.", rules)
        assert result == CleanResult(
            None, "filtered:badword", {"line-passed": 3, "filtered:badword": 1}
        )
    assert clean(GOOD + bad).reason == "passed"  # 3.x checks bad words on the page later
    # At the start of the line there is no flanking character, so 2.x misses it.
    assert clean(GOOD + "Ass is another word for a donkey here.", V220).reason == "passed"
    # On a line dropped earlier (no end mark) the bad word is never looked at.
    assert clean(GOOD + "he sat on his ass and left", V220).reason == "passed"


def test_text_is_stripped_after_join_and_empty_page_is_too_few_sentences():
    assert clean("") == CleanResult(
        None, "filtered:too_few_sentences", {"filtered:too_few_sentences": 1}
    )


def test_legacy_counter_names_cover_every_name_we_emit():
    ours = set(LEGACY_COUNTER_NAMES["2.2.0"])
    assert ours - set(LEGACY_COUNTER_NAMES["1.0.0"]) == {"line-filtered:too_long_word"}
    assert "filtered:badword" not in LEGACY_COUNTER_NAMES["3.1.0"]
    assert LEGACY_COUNTER_NAMES["1.0.0"]["line-passed"] == "lines-valid"
    assert LEGACY_COUNTER_NAMES["1.0.0"]["filtered:too_few_sentences"] == (
        "filtered-url-toofewsentences"
    )


# --- differential: the reference clean_page of each version on real pages -----------------------

REF_HOME = pins.home()
REF_PYTHON = REF_HOME / "venv" / "bin" / "python"
LEGACY_SRC = REF_HOME / "src"
BADWORDS_EN = REPO / "filters" / "data" / "ldnoobw" / "25e679f" / "en"

# Runs in the reference venv: parses every page with the version's own split_wet_file and cleans
# it with the version's own clean_page, collecting its counters.
REFERENCE_SCRIPT = r"""
import importlib.util, json, sys
args = json.load(sys.stdin)
import nltk
nltk.data.path.insert(0, args["nltk_data"])
nltk.download = lambda *a, **k: True  # offline: punkt_tab is already there
from tensorflow_datasets.text import c4_utils as cu310

def legacy(version):
    spec = importlib.util.spec_from_file_location("c4u_" + version.replace(".", "_"),
                                                  args["legacy"][version])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

with open(args["badwords"], encoding="utf-8") as f:
    badwords = [l.strip() for l in f]
out = {}
for version in ("3.1.0", "2.2.0", "1.0.0"):
    cu = cu310 if version == "3.1.0" else legacy(version)
    fn = cu.get_clean_page_fn() if version == "3.1.0" else cu.get_clean_page_fn(badwords)
    rows = []
    for path in args["wet"]:
        for page in cu.split_wet_file(path, counter_inc_fn=lambda *a, **k: None):
            if version == "3.1.0":
                url, text = page.url, page.text
            elif version == "2.2.0":
                url, text = page[0], page[1]["text"]
            else:
                url, text = page
            counters = {}
            def inc(name, amt=1):
                counters[name] = counters.get(name, 0) + amt
            if version == "3.1.0":
                res = list(fn(page=page, counter_inc_fn=inc))
                cleaned = res[0].text if res else None
            else:
                res = list(fn(page, counter_inc_fn=inc))
                cleaned = (res[0][1]["text"] if version == "2.2.0" else res[0][1]) if res else None
            rows.append({"url": url, "text": text, "clean": cleaned, "counters": counters})
    extra = []
    for text in args["extra"]:
        counters = {}
        def inc(name, amt=1):
            counters[name] = counters.get(name, 0) + amt
        if version == "3.1.0":
            res = list(fn(page=cu.PageFeatures(url="u", text=text), counter_inc_fn=inc))
            cleaned = res[0].text if res else None
        elif version == "2.2.0":
            res = list(fn(("u", {"text": text}), counter_inc_fn=inc))
            cleaned = res[0][1]["text"] if res else None
        else:
            res = list(fn(("u", text), counter_inc_fn=inc))
            cleaned = res[0][1] if res else None
        extra.append({"text": text, "clean": cleaned, "counters": counters})
    out[version] = {"pages": rows, "extra": extra}
json.dump(out, sys.stdout)
"""

# Pages that exercise every exit (badwords, kills after kept lines, quirks) in all versions.
EXTRA_TEXTS = [
    MIXED_PAGE,
    GOOD + "He sat down on his ass and then he left.\nNot counted.",
    GOOD + "Lorem ipsum dolor sit amet is here now.\nAfter the kill, never seen.",
    GOOD + "A line with { a brace and five words.",
    GOOD + "x" * 1001 + " and four more words.",
    GOOD + "Citation at the end is removed, no strip. [1]\nfoo [2] bar baz qux quux.",
    "One two three four five.\u2028Six seven eight nine ten.\x0cEleven twelve 13 14 15.",
    "Mr. Smith went to Washington. He saw the U.S. Capitol! Then, he left.",
    "Ass is another word for a donkey here.\n" + GOOD,
]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256(REFERENCE_SCRIPT.encode() + json.dumps(EXTRA_TEXTS).encode())
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def reference_results(nltk_data_dir: Path) -> dict:
    legacy = {
        "2.2.0": LEGACY_SRC / "tfds2.0.0_c4v2.2.0_c4_utils.py",
        "1.0.0": LEGACY_SRC / "tfds1.3.0_c4v1.0.0_c4_utils.py",
    }
    if not REF_PYTHON.exists() or not all(p.exists() for p in legacy.values()):
        pytest.fail(f"reference not set up under {REF_HOME} (make reference)")
    assert REAL_WET, "no WET files under tests/data/wet"
    inputs = [*REAL_WET, *legacy.values(), BADWORDS_EN]
    cache = REPO / ".cache" / f"clean_reference-{_digest(inputs)}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    args = {
        "nltk_data": str(nltk_data_dir),
        "legacy": {k: str(v) for k, v in legacy.items()},
        "badwords": str(BADWORDS_EN),
        "wet": [str(p) for p in REAL_WET],
        "extra": EXTRA_TEXTS,
    }
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [str(REF_PYTHON), "-c", REFERENCE_SCRIPT],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=900,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(proc.stdout, encoding="utf-8")
    return json.loads(proc.stdout)


def _ours_in_legacy_names(text: str, rules: C4Rules) -> tuple[str | None, dict[str, int]]:
    result = clean(text, rules)
    names = LEGACY_COUNTER_NAMES[rules.version]
    return result.text, {names[k]: v for k, v in result.counters.items()}


@pytest.mark.reference
@pytest.mark.parametrize("rules", [V310, V220, V100], ids=lambda r: r.version)
def test_matches_reference_on_every_real_page(reference_results: dict, rules: C4Rules):
    rows = reference_results[rules.version]["pages"]
    assert len(rows) > 250
    mismatches = []
    for row in rows:
        got = _ours_in_legacy_names(row["text"], rules)
        if got != (row["clean"], row["counters"]):
            mismatches.append(row["url"])
    assert not mismatches, f"{len(mismatches)} pages differ, first: {mismatches[:5]}"
    # The run is only a check if pages take several exits.
    kept = sum(row["clean"] is not None for row in rows)
    assert 0 < kept < len(rows)


@pytest.mark.reference
@pytest.mark.parametrize("rules", [V310, V220, V100], ids=lambda r: r.version)
def test_matches_reference_on_crafted_pages(reference_results: dict, rules: C4Rules):
    for row in reference_results[rules.version]["extra"]:
        assert _ours_in_legacy_names(row["text"], rules) == (row["clean"], row["counters"]), row[
            "text"
        ][:80]


def test_policy_check_covers_exactly_the_policy_substrings():
    # clean_page spells out two substrings and looks for the cookie ones only after "cookie".
    from filters.clean import _COOKIE_POLICY, POLICY_SUBSTRINGS

    assert {"terms of use", "privacy policy", *_COOKIE_POLICY} == set(POLICY_SUBSTRINGS)
    assert all("cookie" in p for p in _COOKIE_POLICY)
    for p in POLICY_SUBSTRINGS:
        line = f"Some words before the {p.upper()} and after it."
        assert clean(GOOD + line).counters.get("line-filtered:policy") == 1, p


def test_sentence_minimum_equals_summed_punkt_counts_on_real_lines():
    # The shortcut in clean_page (each kept line is worth one sentence, at_least on 1-2 lines)
    # against the plain rule: sum of punkt counts over the kept lines >= 3.
    import gzip
    import random

    from filters.clean import _has_min_sentences

    lines = []
    for path in REAL_WET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines.extend(s for s in (line.strip() for line in f) if len(s.split()) >= 5)
    rng = random.Random(0)
    outcomes = set()
    for _ in range(3000):
        kept = rng.sample(lines, rng.randint(0, 3))
        expected = sum(PUNKT.count(line) for line in kept) >= 3
        assert _has_min_sentences(kept, PUNKT) is expected, kept
        outcomes.add((len(kept), expected))
    assert outcomes >= {(1, True), (1, False), (2, True), (2, False), (0, False)}
