"""``c4 build --blocklist_*`` against ``c4 forget``, and their dedup interplay.

``build --blocklist`` gives the dataset as if the pages had never been crawled: a line the
blocklisted page won in dedup goes back to the next owner. ``forget`` removes documents from a
finished build and cannot give that line back. Where dedup does not interact, both agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.lineage import document_domain
from pipeline.cli import main
from tests.pipeline.forget import fixtures as ff

# Found on these samples: afrique-infos.com owns a line that another kept page also holds.
INTERACTS = "afrique-infos.com"
INDEPENDENT = "mayoclinic.org"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ff.build(tmp_path_factory.mktemp("ingest") / "out", mask=False)


def _texts(root: Path) -> dict[str, str]:
    return {r["doc_id"]: r["text"] for r in ff.parquet_rows(root)}


def _blocklisted(tmp_path: Path, domain: str) -> Path:
    listing = tmp_path / "block.txt"
    listing.write_text(domain + "\n", encoding="utf-8")
    return ff.build(tmp_path / "blocked", "--blocklist_domains", str(listing), mask=False)


def _forgotten(built: Path, tmp_path: Path, domain: str) -> Path:
    out = ff.copy(built, tmp_path / "forgot")
    listing = tmp_path / "forget.txt"
    listing.write_text(domain + "\n", encoding="utf-8")
    assert main(["forget", str(out), "--domains", str(listing)]) == 0
    return out


def test_blocklist_and_forget_agree_without_dedup_interplay(built: Path, tmp_path: Path) -> None:
    blocked = _blocklisted(tmp_path, INDEPENDENT)
    forgot = _forgotten(built, tmp_path, INDEPENDENT)
    assert _texts(blocked) == _texts(forgot)
    assert len(_texts(forgot)) == len(_texts(built)) - 1
    stats = json.loads((blocked / "stats.json").read_text())
    assert stats["counters"]["split-wet-file/filtered:blocklisted"] == 1
    assert stats["reconciliation"]["balanced"]
    config = json.loads((blocked / "config.json").read_text())
    assert config["blocklist_domains"] == [INDEPENDENT]
    # The shards themselves are the same bytes too (TFRecord and Parquet).
    for name in ("c4/en/3.1.0", "parquet/train"):
        for path in sorted((forgot / name).glob("*-of-*")):
            assert path.read_bytes() == (blocked / name / path.name).read_bytes(), path


def test_forget_cannot_give_a_deduplicated_line_back(built: Path, tmp_path: Path) -> None:
    blocked = _texts(_blocklisted(tmp_path, INTERACTS))
    forgot = _texts(_forgotten(built, tmp_path, INTERACTS))
    original = _texts(built)
    assert set(blocked) == set(forgot)
    differ = [d for d in forgot if forgot[d] != blocked[d]]
    assert len(differ) == 1
    # The never-crawled build gives the other page the line back; forget leaves it as built.
    assert forgot[differ[0]] == original[differ[0]]
    assert len(blocked[differ[0]]) > len(forgot[differ[0]])
    assert any(document_domain(r["url"]) == INTERACTS for r in ff.parquet_rows(built))


def test_blocklist_urls_drops_every_copy(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(
        "http://www.mayoclinic.org/diseases-conditions/asthma/care-at-mayo-clinic/research/"
        "CON-20026992?p=1\n",
        encoding="utf-8",
    )
    out = ff.build(tmp_path / "out", "--blocklist_urls", str(listing), mask=False)
    assert not any("mayoclinic" in r["url"] for r in ff.parquet_rows(out))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counters"]["split-wet-file/filtered:blocklisted"] >= 1
    assert stats["reconciliation"]["balanced"]


def test_bad_blocklist_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "bad.txt"
    listing.write_text("example.com\nnot a domain\n", encoding="utf-8")
    argv = ["build", "--output", str(tmp_path / "out"), "--blocklist_domains", str(listing)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--blocklist_domains" in err and "line 2" in err
    assert not (tmp_path / "out").exists()
