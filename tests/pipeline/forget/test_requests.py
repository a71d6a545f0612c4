"""What a takedown request matches, end to end on a real build with internationalized hosts.

The 25-record WET sample with six kept pages moved to IDN hosts and one to a host with an
underscore (their records otherwise as crawled): a URL or domain given in the other IDNA form is
forgotten; IDNA 2003's ß/ς mappings do not make two hosts one; a parent domain matches a host
with an underscore; keys that match nothing are named, not recorded, and ``c4 trace`` does not
call them forgotten.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from filters.lineage import document_domain, parse_domain_line
from pipeline.cli import main
from tests.conftest import REAL_WET
from tests.pipeline.forget import fixtures as ff

# A kept page of the sample (by its URL's start) -> the host it is moved to.
MOVED = {
    "http://www.biomedsearch.com/nih/Bioactive": "http://BÜCHER.de/x",
    "http://www.biomedsearch.com/nih/Effect-ageing": "http://xn--caf-dma.fr/y",
    "http://www.biomedsearch.com/nih/Quality-life": "http://straße.de/s",
    "http://www.biomedsearch.com/nih/effect-gT": "http://strasse.de/s",
    "http://www.electricalbody.com/": "http://σας.gr/t",
    "http://www.freshairpro.com/": "http://ΣΑΣ.gr/t",
    # A label with "_": no request can name this host, its parent domain must still match it.
    "http://www.alamocommunitycollege.org/": "http://Shop_1.Example.org:8080/u",
}


def idn_wet(path: Path) -> Path:
    """The 25-record sample with the ``MOVED`` pages' WARC-Target-URI rewritten (UTF-8)."""
    [sample] = [p for p in REAL_WET if "excerpt-25." in p.name]
    data = gzip.decompress(sample.read_bytes())

    def move(found: re.Match[bytes]) -> bytes:
        url = found.group(1).decode("utf-8")
        new = next((v for k, v in MOVED.items() if url.startswith(k)), url)
        return b"WARC-Target-URI: " + new.encode("utf-8") + b"\r\n"

    data, count = re.subn(rb"WARC-Target-URI: ([^\r\n]*)\r\n", move, data)
    assert count == 25
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("idn")
    wet = idn_wet(tmp / "CC-MAIN-2016-50.idn.warc.wet.gz")
    out = tmp / "out"
    argv = ["build", "--input", str(wet), "--output", str(out), "--num_shards", "2"]
    assert main(argv) == 0
    assert set(MOVED.values()) <= {r["url"] for r in ff.parquet_rows(out)}
    return out


@pytest.fixture()
def out(base: Path, tmp_path: Path) -> Path:
    return ff.copy(base, tmp_path / "out")


def _write(path: Path, *lines: str) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _urls(out: Path) -> set[str]:
    return {r["url"] for r in ff.parquet_rows(out)}


def _ledger(out: Path) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((out / "forget/ledger.json").read_text())
    return data


def test_urls_in_the_other_idna_form_are_forgotten(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Stored as BÜCHER.de (asked as its A-label) and as xn--caf-dma.fr (asked as CAFÉ.fr).
    urls = _write(tmp_path / "urls.txt", "http://xn--bcher-kva.de/x", "https://www.CAFÉ.fr/y/")
    assert main(["forget", str(out), "--urls", urls]) == 0
    assert not {"http://BÜCHER.de/x", "http://xn--caf-dma.fr/y"} & _urls(out)
    assert "nothing matched" not in capsys.readouterr().out
    assert sorted(_ledger(out)["urls"]) == ["xn--bcher-kva.de/x", "xn--caf-dma.fr/y"]
    assert main(["forget", str(out), "--verify"]) == 0
    capsys.readouterr()
    assert main(["trace", str(out), "--url", "http://bücher.de/x"]) == 0
    assert "forgotten: url xn--bcher-kva.de/x" in capsys.readouterr().err


def test_idna2003_only_mappings_do_not_match(out: Path, tmp_path: Path) -> None:
    domains = _write(tmp_path / "domains.txt", "straße.de", "σας.gr")
    assert main(["forget", str(out), "--domains", domains]) == 0
    left = _urls(out)
    assert not {"http://straße.de/s", "http://σας.gr/t"} & left
    # strasse.de is not straße.de; ΣΑΣ folds to σασ, which is not σας.
    assert {"http://strasse.de/s", "http://ΣΑΣ.gr/t"} <= left
    assert sorted(_ledger(out)["domains"]) == ["xn--mxa8ab.gr", "xn--strae-oqa.de"]
    urls = _write(tmp_path / "urls.txt", "http://STRASSE.de/s", "http://σασ.gr/t")
    assert main(["forget", str(out), "--urls", urls]) == 0
    assert not {"http://strasse.de/s", "http://ΣΑΣ.gr/t"} & _urls(out)
    assert main(["forget", str(out), "--verify"]) == 0


def test_a_parent_domain_matches_a_host_with_an_underscore(out: Path, tmp_path: Path) -> None:
    """Common Crawl has such hosts (``470543com_dh1.470543aa.buzz``); they used to get no
    domain at all, so ``--domains example.org`` matched nothing and ``--verify`` passed."""
    assert document_domain("http://Shop_1.Example.org:8080/u") == "shop_1.example.org"
    domains = _write(tmp_path / "d.txt", "example.org")
    assert main(["forget", str(out), "--domains", domains, "--verify"]) == 1
    assert main(["forget", str(out), "--domains", domains]) == 0
    assert "http://Shop_1.Example.org:8080/u" not in _urls(out)
    assert _ledger(out)["domains"] == ["example.org"]
    assert main(["forget", str(out), "--verify"]) == 0


def test_a_host_with_an_underscore_can_be_named_itself(out: Path, tmp_path: Path) -> None:
    """The page's own URL, or its own host as a domain, is a request too (not "not a URL")."""
    urls = _write(tmp_path / "u.txt", "http://shop_1.example.org:8080/u")
    assert main(["forget", str(out), "--urls", urls]) == 0
    assert "http://Shop_1.Example.org:8080/u" not in _urls(out)
    assert _ledger(out)["urls"] == ["shop_1.example.org:8080/u"]  # C4's normalize_url key
    assert parse_domain_line("SHOP_1.example.org") == "shop_1.example.org"
    assert main(["forget", str(out), "--verify"]) == 0


def test_keys_that_match_nothing_are_named_and_not_recorded(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domains = _write(tmp_path / "d.txt", "nothing-here.example", "bücher.de", "strasse.de.example")
    assert main(["forget", str(out), "--domains", domains]) == 0
    printed = capsys.readouterr().out
    assert "nothing matched: domain nothing-here.example" in printed
    assert "nothing matched: domain strasse.de.example" in printed
    assert _ledger(out)["domains"] == ["xn--bcher-kva.de"]
    report = json.loads((out / "forget/report-0001.json").read_text())
    assert report["not_matched"]["domains"] == ["nothing-here.example", "strasse.de.example"]
    assert main(["trace", str(out), "--domain", "nothing-here.example"]) == 1
    err = capsys.readouterr().err
    assert "forgotten" not in err and "no document matches" in err
    assert main(["trace", str(out), "--domain", "BÜCHER.de"]) == 0
    assert "forgotten: domain xn--bcher-kva.de" in capsys.readouterr().err


def test_a_request_that_matches_nothing_records_nothing(
    out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ff.digests(out)
    urls = _write(tmp_path / "u.txt", "http://strasse.de/other")
    domains = _write(tmp_path / "d.txt", "nothing-here.example")
    assert main(["forget", str(out), "--urls", urls, "--domains", domains]) == 0
    printed = capsys.readouterr().out
    assert "nothing matched: url strasse.de/other" in printed
    assert "nothing matched: domain nothing-here.example" in printed
    assert "nothing recorded" in printed
    assert ff.digests(out) == before and not (out / "forget").exists()
    assert main(["trace", str(out), "--url", "http://strasse.de/other"]) == 1
    assert "forgotten" not in capsys.readouterr().err


def test_a_ledger_written_before_uts46_keys_still_matches(out: Path) -> None:
    """Older ``c4 forget`` stored a Unicode host lowercased (``bücher.de/x``): still found."""
    (out / "forget").mkdir()
    old = {"urls": ["bücher.de/x"], "domains": [], "doc_ids": [], "sha256": [], "records": []}
    (out / "forget/ledger.json").write_text(json.dumps(old), encoding="utf-8")
    assert main(["forget", str(out), "--verify"]) == 1
