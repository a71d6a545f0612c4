"""``c4 trace`` for pages a rule dropped (``c4 build --record_drops``), one test per kind of rule.

Each answer is checked against the rule itself, run here on the page as the parser reads it
(``filters/``), not against the drops files: the length, what ``clean_page`` removed, the
language and probability langdetect gives, the bad-words hit, URL dedup's keeper rule, the page
line dedup credited, the paragraph rule, the blocklist, the forget ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from filters.badwords import PageBadwords
from filters.clean import clean_page
from filters.dedup import remove_lines, select_url_copy
from filters.language import detect_english, make_detector
from filters.lineage import document_domain, in_domains
from filters.paragraph import paragraph_filter
from filters.records import Page
from filters.sentences import load_punkt
from filters.spec import TFDS_MAX_PAGE_LENGTH, resolve_rules
from pipeline.cli import main
from tests.pipeline import drops_fixtures as df

BLOCKED = "mayoclinic.org"  # a kept page's domain in the 25-record sample


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return df.inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def inputs(named: dict[str, str]) -> list[str]:
    return list(named.values())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, inputs: list[str]) -> Path:
    tmp = tmp_path_factory.mktemp("drops")
    (tmp / "domains.txt").write_text(BLOCKED + "\n", encoding="utf-8")
    return df.build(tmp / "out", inputs, "--blocklist_domains", str(tmp / "domains.txt"))


@pytest.fixture(scope="module")
def pages(inputs: list[str]) -> dict[str, Page]:
    """The input's pages by doc_id, as parsed (the samples hold no doc_id twice)."""
    found = [p for p in df.records(inputs).values() if isinstance(p, Page)]
    by_id = {p.doc_id: p for p in found}
    assert len(by_id) == len(found)
    return by_id


@pytest.fixture(scope="module")
def punkt() -> Any:
    return load_punkt()


def _trace(capsys: pytest.CaptureFixture[str], out: Path, *argv: str) -> tuple[int, list, str]:
    capsys.readouterr()  # what came before (a build's summary)
    code = main(["trace", str(out), *argv, "--json"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, rows, captured.err


def _dropped(
    capsys: pytest.CaptureFixture[str], out: Path, doc_id: str, counter: str
) -> dict[str, Any]:
    """The one dropped row trace gives for ``doc_id``, checked to be counted ``counter``."""
    code, rows, err = _trace(capsys, out, "--doc_id", doc_id)
    assert code == 0, err
    [row] = [r for r in rows if "dropped" in r]
    assert row["doc_id"] == doc_id
    assert row["dropped"]["counter"] == counter
    return row


def _ids(out: Path, counter: str) -> list[str]:
    return [r["doc_id"] for r in df.drops(out) if f"{r['stage']}/{r['reason']}" == counter]


def _blocked(url: str) -> bool:
    return bool(in_domains(document_domain(url), frozenset([BLOCKED])))


def _cleaned(page: Page, punkt: Any) -> Any:
    return clean_page(page.text, resolve_rules(), punkt)


def test_a_page_too_long(built: Path, pages: dict[str, Page], capsys: Any) -> None:
    code, rows, _ = _trace(capsys, built, "--url", df.LONG_URL)
    assert code == 0
    [row] = rows
    page = pages[row["doc_id"]]
    assert page.url == df.LONG_URL and len(page.text) > TFDS_MAX_PAGE_LENGTH
    assert row["dropped"]["counter"] == "too-long-filter/filtered"
    assert f"{len(page.text):,} characters" in row["dropped"]["detail"]
    assert (row["source_file"], row["record_offset"]) == (page.source_file, page.record_offset)


def test_a_page_the_line_rules_emptied(
    built: Path, pages: dict[str, Page], punkt: Any, capsys: Any
) -> None:
    emptied = 0
    for doc_id in _ids(built, "clean-page/filtered:too_few_sentences"):
        row = _dropped(capsys, built, doc_id, "clean-page/filtered:too_few_sentences")
        result = _cleaned(pages[doc_id], punkt)
        assert result.text is None and result.reason == "filtered:too_few_sentences"
        passed = result.counters.get("line-passed", 0)
        removed = sorted(
            (k.removeprefix("line-filtered:"), n)
            for k, n in result.counters.items()
            if k.startswith("line-filtered:")
        )
        detail = f"{passed} line{'' if passed == 1 else 's'} passed"
        if removed:
            detail += "; lines removed: " + ", ".join(f"{k} {n}" for k, n in removed)
        assert row["dropped"]["detail"] == detail
        emptied += passed == 0
    assert emptied > 10, "the samples have pages the line rules empty"


def test_a_page_in_another_language(
    built: Path, pages: dict[str, Page], punkt: Any, capsys: Any
) -> None:
    detector = make_detector("langdetect-rs").load()
    ids = _ids(built, "english-filter/filtered:ignored_language")
    assert len(ids) > 20
    for doc_id in ids[:25]:
        row = _dropped(capsys, built, doc_id, "english-filter/filtered:ignored_language")
        # What the language filter reads: the cleaned text, its repeated lines removed (3.1.0's
        # line dedup; these pages lost none of their lines to another page).
        cleaned = _cleaned(pages[doc_id], punkt).text
        text = remove_lines(cleaned, set(), resolve_rules(), punkt).text
        [(language, probability), *_] = detector.detect_langs(text)
        assert detect_english(text, detector).language == language != "en"
        assert row["dropped"]["language"] == language
        assert row["dropped"]["probability"] == probability
        assert f"detected {language} with probability" in row["dropped"]["detail"]


def test_a_page_with_a_bad_word(
    built: Path, pages: dict[str, Page], punkt: Any, capsys: Any
) -> None:
    badwords = PageBadwords.for_c4()
    ids = _ids(built, "badwords-filter/filtered")
    assert ids
    for doc_id in ids:
        row = _dropped(capsys, built, doc_id, "badwords-filter/filtered")
        page = pages[doc_id]
        text = _cleaned(page, punkt).text
        assert not badwords.decide(text, "en", page.normalized_url).keep
        assert row["dropped"]["language"] == "en"


def test_a_url_duplicate_names_the_copy_kept(
    built: Path, pages: dict[str, Page], capsys: Any
) -> None:
    copies: dict[str, list[Page]] = defaultdict(list)
    for page in pages.values():
        if not _blocked(page.url):
            copies[page.normalized_url].append(page)
    duplicated = {url: ps for url, ps in copies.items() if len(ps) > 1}
    assert duplicated, "the samples repeat some URLs"
    kept = {r["doc_id"] for r in df.kept(built)}
    seen_kept = 0
    for group in duplicated.values():
        winner = select_url_copy(group, resolve_rules())
        code, rows, _ = _trace(capsys, built, "--url", group[0].url)
        assert code == 0
        losers = [r for r in rows if r.get("dropped", {}).get("stage") == "duplicate-url-filter"]
        assert sorted(r["doc_id"] for r in losers) == sorted(
            p.doc_id for p in group if p is not winner
        )
        for row in losers:
            assert row["kept_instead"]["doc_id"] == winner.doc_id
            assert row["kept_instead"]["url"] == winner.url
            assert row["kept_instead"]["status"] == ("kept" if winner.doc_id in kept else "dropped")
        seen_kept += winner.doc_id in kept
        if winner.doc_id in kept:  # the kept copy is in the same answer, from lineage
            assert winner.doc_id in [r["doc_id"] for r in rows if "dropped" not in r]
    assert seen_kept, "some duplicated URL has a copy kept"
    assert main(["trace", str(built), "--url", group[0].url]) == 0
    text = capsys.readouterr().out
    assert f"kept instead  {winner.doc_id} {winner.url}" in text


def test_a_page_whose_lines_other_pages_kept(
    built: Path, pages: dict[str, Page], punkt: Any, capsys: Any
) -> None:
    [doc_id] = _ids(built, "dedupe-lines/filtered:empty")[:1]
    row = _dropped(capsys, built, doc_id, "dedupe-lines/filtered:empty")
    own = {line.strip().lower() for line in _cleaned(pages[doc_id], punkt).text.split("\n")}
    kept = {r["doc_id"]: r for r in df.kept(built)}
    [credit] = row["lines_kept_by"]
    [page] = credit["pages"]
    assert credit["owner_md5"] == hashlib.md5(page["url"].encode()).hexdigest()
    assert page["status"] == "kept" and page["doc_id"] in kept
    theirs = {line.strip().lower() for line in kept[page["doc_id"]]["text"].split("\n")}
    assert credit["count"] == len(own) and own <= theirs  # every line it lost, that page has
    assert main(["trace", str(built), "--doc_id", doc_id]) == 0
    assert f"credited to   {page['doc_id']} {page['url']}" in capsys.readouterr().out


def test_a_blocklisted_page_leaves_its_ids_only(
    built: Path, pages: dict[str, Page], capsys: Any
) -> None:
    code, rows, _ = _trace(capsys, built, "--domain", BLOCKED)
    assert code == 0 and rows
    expected = {p.doc_id for p in pages.values() if _blocked(p.url)}
    assert {r["doc_id"] for r in rows} == expected
    for row in rows:
        assert row["dropped"]["counter"] == "split-wet-file/filtered:blocklisted"
        assert row["dropped"]["detail"] == ""


def test_paragraphs_in_mc4(
    tmp_path: Path, inputs: list[str], pages: dict[str, Page], capsys: Any
) -> None:
    out = df.build(tmp_path / "mc4", inputs, "--config", "multilingual")
    ids = _ids(out, "paragraph-filter/filtered")
    assert len(ids) > 100
    for doc_id in ids[:20]:
        row = _dropped(capsys, out, doc_id, "paragraph-filter/filtered")
        assert paragraph_filter(pages[doc_id].text) == (False, "filtered")
        assert "fewer than 3 lines of at least 200 characters" in row["dropped"]["detail"]


def test_span_dedup_in_1_0_0_names_the_page_credited(
    tmp_path: Path, inputs: list[str], capsys: Any
) -> None:
    out = df.build(tmp_path / "v1", inputs, "--c4_version", "1.0.0")
    rows = [r for r in df.drops(out) if r["stage"] == "dedupe-sentences" and r["credited_to"]]
    assert rows
    kept = {r["doc_id"]: r for r in df.kept(out)}
    for dropped in rows:
        row = _dropped(
            capsys, out, dropped["doc_id"], "dedupe-sentences/filtered:too_few_sentences"
        )
        for credit in row["lines_kept_by"]:
            [page] = credit["pages"]
            # 1.0.0 dedups by the normalized URL, its ``url`` feature.
            assert credit["owner_md5"] == hashlib.md5(page["url"].encode()).hexdigest()
            assert page["status"] == "kept" and page["doc_id"] in kept


def test_a_page_forgotten_before_the_rebuild(
    tmp_path: Path, named: dict[str, str], capsys: Any
) -> None:
    out = df.build(tmp_path / "out", [named["25"]])
    [doc] = [r for r in df.kept(out) if _blocked(r["url"])]
    (tmp_path / "ids.txt").write_text(doc["doc_id"] + "\n", encoding="utf-8")
    assert main(["forget", str(out), "--doc_ids", str(tmp_path / "ids.txt")]) == 0
    df.build(out, [named["25"]])  # the ledger blocks it while reading
    code, rows, err = _trace(capsys, out, "--doc_id", doc["doc_id"])
    assert code == 0 and "forgotten" in err
    [row] = rows
    assert row["dropped"]["counter"] == "forget/filtered:ledger"
    assert row["url"] == "" and (row["source_file"], row["record_offset"]) == (
        doc["source_file"],
        doc["record_offset"],
    )


def test_without_record_drops_trace_says_how_to_get_them(
    tmp_path: Path, named: dict[str, str], capsys: Any
) -> None:
    out = tmp_path / "plain"
    assert main(["build", "--input", named["25"], named["5"], "--output", str(out)]) == 0
    capsys.readouterr()
    dropped = "http://003ms.ru/catalog/lekarstvennye-sredstva/protivomikrobnye-preparaty/glevo"
    assert main(["trace", str(out), "--url", dropped]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert "no document matches" in line and "c4 build --record_drops" in line
    kept = df.kept(out)[0]
    assert main(["trace", str(out), "--doc_id", kept["doc_id"]]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert "drops were not recorded" in line and "c4 build --record_drops" in line


def test_with_record_drops_nothing_matching_is_just_that(built: Path, capsys: Any) -> None:
    assert main(["trace", str(built), "--domain", "nowhere.example"]) == 1
    assert capsys.readouterr().err.splitlines() == ["c4 trace: no document matches"]
