"""``c4 forget`` on a build with ``--record_drops``: ``drops/`` keeps no URL of a forgotten page
(neither a dropped copy of it nor its name as the copy URL dedup kept)."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import main
from tests.pipeline import drops_fixtures as fx


def test_forget_blanks_the_urls_drops_holds_of_forgotten_pages(tmp_path: Path) -> None:
    wet, moved = fx.respelled_wet(tmp_path / "respelled.warc.wet.gz")
    out = fx.build(tmp_path / "out", [str(wet)])
    kept_urls = {row["url"] for row in fx.kept(out)}
    spelled, url = next((s, u) for s, u in moved if u in kept_urls or s in kept_urls)
    keeper = url if url in kept_urls else spelled
    before = fx.drops(out)
    named = [r for r in before if keeper in (r["url"], r["winner_url"])]
    assert named, "the build's drops name the kept copy"
    urls = tmp_path / "urls.txt"
    urls.write_text(keeper + "\n")
    assert main(["forget", str(out), "--urls", str(urls)]) == 0
    rows = fx.drops(out)
    assert len(rows) == len(before)  # the rows stay: the drops still count
    assert not [r for r in rows if keeper in (r["url"], r["winner_url"])]
    assert not [r for r in rows if spelled in (r["url"], r["winner_url"])]
