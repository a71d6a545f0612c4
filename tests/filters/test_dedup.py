"""filters.dedup: URL dedup ranks, line and window dedup, and the shuffle-shaped reduction."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters import dedup
from filters.records import Page
from filters.sentences import load_punkt
from filters.spec import resolve_rules
from filters.urls import normalize_url

R3 = resolve_rules("en", "3.1.0")
R2 = resolve_rules("en", "2.2.0")
R1 = resolve_rules("en", "1.0.0")
PUNKT = load_punkt()


def page(url: str, text: str = "x", timestamp: str = "", file_index: int = 0, offset: int = 0):
    return Page(
        url=url,
        normalized_url=normalize_url(url),
        text=text,
        timestamp=timestamp,
        content_type="text/plain",
        content_length="1",
        doc_id=url,
        source_file="f",
        record_offset=offset,
        file_index=file_index,
    )


def run_lines(pages, rules):
    """The Beam shape in miniature: emit, GroupByKey, lost_by, then per-page removal."""
    grouped: dict[bytes, list[dedup.Vote]] = {}
    for p in pages:
        for key, vote in dedup.emit_line_keys(p, rules):
            grouped.setdefault(key, []).append(vote)
    lost: dict[bytes, set[bytes]] = {}
    for key, votes in grouped.items():
        for owner, k in dedup.lost_by(key, votes, rules):
            lost.setdefault(owner, set()).add(k)
    return {
        p.url: dedup.remove_lines(
            p.text, lost.get(dedup.owner_digest(p, rules), set()), rules, PUNKT
        )
        for p in pages
    }


def run_windows(pages, rules):
    grouped: dict[bytes, list[dedup.Vote]] = {}
    for p in pages:
        for key, vote in dedup.emit_window_keys(p, rules, PUNKT):
            grouped.setdefault(key, []).append(vote)
    lost: dict[bytes, set[bytes]] = {}
    counters: dict[str, int] = {}
    for key, votes in grouped.items():
        for name, n in dedup.key_counters(dedup.combine_votes(votes), rules).items():
            counters[name] = counters.get(name, 0) + n
        for owner, k in dedup.lost_by(key, votes, rules):
            lost.setdefault(owner, set()).add(k)
    results = {
        p.url: dedup.remove_windows(
            p.text, lost.get(dedup.owner_digest(p, rules), set()), rules, PUNKT
        )
        for p in pages
    }
    return results, counters


# TFDS 3.1.0 c4_utils_test.test_remove_duplicate_text, rebuilt on our functions.
TFDS_PAGES = [
    page(
        "url/1-0",
        "This is a duplicated line.\nThis is a unique line.\n"
        "This one comes first and so it stays.\n"
        "This is duplicate within the page so the others are removed.\n"
        "Here is a sentence between the duplicates.\n"
        "This is duplicate within the page so the others are removed.\n"
        "this is Duplicate WITHIN the page so the others are removed. ",
    ),
    page(
        "url/2-1",
        "This is 2nd unique line.\nThis one comes second so it is "
        "removed even though the capitalizaiton is different.\n"
        "this is a Duplicated line. ",
    ),
    page(
        "url/3-4",
        "This is a 3rd unique line.\nThis is a duplicated line.\n"
        "This one comes third and so it is removed. But the page stays "
        "because there are still 3 sentences remaining.",
    ),
    page(
        "url/4-4",
        "This is a 4th unique line.\nThis is a duplicated line.\n"
        "This one comes third and so it is removed, and the page is too "
        "since there aren't enough sentences left.",
    ),
]


def test_tfds_unit_example_3x():
    out = run_lines(TFDS_PAGES, R3)
    assert out["url/1-0"].text == (
        "This is a duplicated line.\nThis is a unique line.\n"
        "This one comes first and so it stays.\n"
        "This is duplicate within the page so the others are removed.\n"
        "Here is a sentence between the duplicates."
    )
    assert out["url/1-0"].counters == {
        "dedupe-lines/line-filtered:local_duplicate": 2,
        "dedupe-lines/line-passed": 5,
        "dedupe-lines/passed": 1,
    }
    assert out["url/3-4"].text == (
        "This is a 3rd unique line.\nThis one comes third and so it is removed. But the page "
        "stays because there are still 3 sentences remaining."
    )
    assert out["url/2-1"].reason == "filtered:too_few_sentences"
    assert out["url/4-4"].reason == "filtered:too_few_sentences"
    assert out["url/4-4"].counters["dedupe-lines/line-filtered:global_duplicate"] == 1


def test_2x_keeps_within_page_repeats_and_hashes_bytes():
    out = run_lines(TFDS_PAGES, R2)
    # 2.2.0's winner keeps its own repeated lines (C4_SPEC §1.5).
    assert out["url/1-0"].text == TFDS_PAGES[0].text
    assert "dedupe-lines/line-filtered:local_duplicate" not in out["url/1-0"].counters
    # Bytes lower folds ASCII only; bytes strip keeps a no-break space; 3.x folds both.
    assert dedup.line_hash("É a.", R2) != dedup.line_hash("é a.", R2)
    assert dedup.line_hash("É a.", R3) == dedup.line_hash("é a.", R3)
    assert dedup.line_hash("\u00a0a.", R2) != dedup.line_hash("a.", R2)
    assert dedup.line_hash("\u00a0a.", R3) == dedup.line_hash("a.", R3)
    assert dedup.line_hash(" ABC. ", R2) == hashlib.md5(b"abc.").digest()


def test_owner_is_raw_url_in_3x_and_normalized_in_2x():
    p = page("https://www.Example.com/a/?utm_source=x")
    assert dedup.owner_url(p, R3) == p.url
    assert dedup.owner_url(p, R2) == "Example.com/a"
    # Bytes order of digests equals TFDS's string order of hex digests.
    urls = [f"url/{i}" for i in range(50)]
    by_hex = sorted(urls, key=lambda u: hashlib.md5(u.encode()).hexdigest())
    by_digest = sorted(urls, key=lambda u: dedup.owner_digest(page(u), R3))
    assert by_hex == by_digest


def test_legacy_line_counters():
    pages = [
        page("a", "Same line here.\nSame line here.\nOther one."),
        page("b", "same LINE here."),
    ]
    grouped: dict[bytes, list[dedup.Vote]] = {}
    for p in pages:
        for key, vote in dedup.emit_line_keys(p, R2):
            grouped.setdefault(key, []).append(vote)
    total = sum(
        dedup.key_counters(dedup.combine_votes(v), R2)["dedupe-lines/emitted-line-duplicate"]
        for v in grouped.values()
    )
    # len(urls) - 1 per line: the repeated line has 3 occurrences (two in one page) -> 2.
    assert total == 2
    # 3.x's Top.PerKey counts nothing per key.
    assert dedup.key_counters(dedup.combine_votes(next(iter(grouped.values()))), R3) == {}
    legacy = dedup.to_legacy_counters(
        {"dedupe-lines/line-filtered:global_duplicate": 3, "dedupe-lines/passed": 1}, "2.2.0"
    )
    assert legacy == {"dedupe-lines/filtered-lines-duplicate": 3}


def test_empty_result_3x():
    pages = [page("a", "Only line."), page("b", "Only line.")]
    loser = max(pages, key=lambda p: dedup.owner_digest(p, R3)).url
    res = run_lines(pages, R3)[loser]
    assert res.text is None and res.reason == "filtered:empty"


def test_url_dedup_ranks():
    a = page("http://x.com/", timestamp="2019-01-01T00:00:00Z", file_index=0, offset=10)
    b = page("https://www.x.com", timestamp="2019-01-02T00:00:00Z", file_index=0, offset=5)
    c = page("x.com", timestamp="2019-01-02T00:00:00Z", file_index=1, offset=0)
    # 3.1.0: newest timestamp; tie -> first in input order (b before c).
    assert dedup.select_url_copy([a, b, c], R3) is b
    assert dedup.select_url_copy([c, b, a], R3) is b
    # 2.x/1.0.0: last in input order.
    assert dedup.select_url_copy([c, a, b], R2) is c
    assert dedup.url_dedup_counters(3) == {
        "duplicate-url-filter/passed": 1,
        "duplicate-url-filter/filtered": 2,
    }


def test_windows_1_0_0():
    s = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    pages = [
        page("http://a.com/1", s + "\nUnique tail here. Another one. And a third."),
        page(
            "http://a.com/2",
            "one two three.  four five six. Seven eight nine.\n"
            "The cat sat. The dog ran. The bird flew.",
        ),
    ]
    out, counters = run_windows(pages, R1)
    owners = sorted(pages, key=lambda p: dedup.owner_digest(p, R1))
    winner, loser = owners[0].url, owners[1].url
    # The winner keeps everything; 1.0.0 re-joins sentences with single spaces anyway.
    original = pages[[p.url for p in pages].index(winner)].text
    assert out[winner].text == original.replace("  ", " ")
    # The loser loses the shared window's three sentences; survivors re-join with one space.
    if loser == "http://a.com/2":
        assert out[loser].text == "The cat sat. The dog ran. The bird flew."
    else:
        assert out[loser].text == "Ten eleven twelve.\nUnique tail here. Another one. And a third."
    assert out[loser].counters["dedupe-sentences/sentence-filtered:duplicate"] == 3
    assert counters == {"dedupe-sentences/emitted-sentences-duplicate": 1}


def test_windows_repeated_in_winner_are_deleted_everywhere():
    # skip_n=1 spares one occurrence: a window twice in one page is deleted from it too.
    rest = "The cat sat. The dog ran. The bird flew."
    text = f"Short line one.\nShort line one.\n{rest}"
    out, _ = run_windows([page("http://only.com", text)], R1)
    assert out["http://only.com"].text == rest
    assert out["http://only.com"].counters["dedupe-sentences/sentence-filtered:duplicate"] == 2


def test_bare_endmark_windows_are_not_emitted():
    keys = dedup.page_window_hashes('!\n?\n"', PUNKT)
    assert keys == []


votes = st.builds(
    dedup.Vote,
    st.binary(min_size=2, max_size=2),
    st.integers(1, 3),
    st.integers(1, 3),
).map(lambda v: v._replace(total=v.owner_count))


@given(st.lists(votes, min_size=1, max_size=6), st.randoms())
@settings(max_examples=200, deadline=None)
def test_merge_is_associative_and_commutative(vs, rnd):
    combined = dedup.combine_votes(vs)
    shuffled = list(vs)
    rnd.shuffle(shuffled)
    assert dedup.combine_votes(shuffled) == combined
    # Any bracketing: combine two halves separately, then merge.
    for cut in range(1, len(vs)):
        left, right = dedup.combine_votes(vs[:cut]), dedup.combine_votes(vs[cut:])
        assert dedup.merge_votes(left, right) == combined


@given(
    st.lists(st.tuples(st.integers(0, 5), st.lists(st.integers(0, 4), max_size=6)), max_size=6),
    st.sampled_from([R3, R2, R1]),
)
@settings(max_examples=200, deadline=None)
def test_lost_by_equals_loses(pages_keys, rules):
    """The GroupByKey route (Beam) and the combined-table route (run_local) agree."""
    pages_keys = {owner: keys for owner, keys in pages_keys}  # one page per owner
    grouped: dict[bytes, list[dedup.Vote]] = {}
    emitted: dict[bytes, list[bytes]] = {}
    for owner, keys in pages_keys.items():
        o = bytes([owner])
        ks = [bytes([k]) for k in keys]
        emitted[o] = ks
        for key, vote in dedup.votes_for(ks, o):
            grouped.setdefault(key, []).append(vote)
    via_group = {(o, k) for key, vs in grouped.items() for o, k in dedup.lost_by(key, vs, rules)}
    table = {key: dedup.combine_votes(vs) for key, vs in grouped.items()}
    via_table = {
        (o, k) for o, ks in emitted.items() for k in set(ks) if dedup.loses(table[k], o, rules)
    }
    assert via_group == via_table


@pytest.mark.parametrize("rules", [R3, R2])
def test_lost_or_owned_give_the_same_text(rules):
    """Shipping owned lines (3.x TFDS) or lost ones (ours) keeps the same lines."""
    out = run_lines(TFDS_PAGES, rules)
    table: dict[bytes, dedup.Vote] = {}
    for p in TFDS_PAGES:
        for key, vote in dedup.emit_line_keys(p, rules):
            table[key] = dedup.merge_votes(table[key], vote) if key in table else vote
    for p in TFDS_PAGES:
        me = dedup.owner_digest(p, rules)
        owned = {k for k, v in table.items() if v.owner == me}
        lost = {k for k in dedup.page_line_hashes(p.text, rules) if k not in owned}
        assert dedup.remove_lines(p.text, lost, rules, PUNKT) == out[p.url]


def test_vote_counts_multiplicity():
    votes = dict(dedup.emit_line_keys(page("a", "A.\nb.\na."), R3))
    assert votes[dedup.line_hash("a.", R3)].owner_count == 2
    assert len(votes) == 2


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aA É\u00e9\n\t.\u3000")), max_size=30))
def test_page_line_hashes_are_line_hash_per_line(text: str):
    for rules in (R3, R2):
        expected = [dedup.line_hash(line, rules) for line in text.split("\n")]
        assert dedup.page_line_hashes(text, rules) == expected


LINES = ["A b c.", "a B C.", "x.", "", " ", "Hello there. General."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=6))
def test_remove_no_lines_is_remove_lines_of_a_page_that_loses_nothing(lines: list[str]):
    """The apply step skips hashing a page that owns all its keys and repeats none (3.x) or owns
    all its keys (2.x): ``whole_if_owned`` says when, ``remove_no_lines`` gives the same result."""
    text = "\n".join(lines)
    for rules in (R3, R2):
        hashes = dedup.page_line_hashes(text, rules)
        whole = dedup.whole_if_owned(len(hashes), len(set(hashes)), rules)
        rule = dedup.remove_lines(text, set(), rules, PUNKT)
        # Owning all its keys, a page can only lose its repeats within itself (3.x).
        repeats = f"{dedup.LINES_NAMESPACE}/line-filtered:local_duplicate"
        assert whole == (repeats not in rule.counters)
        if whole:
            assert dedup.remove_no_lines(text, rules, PUNKT) == rule
