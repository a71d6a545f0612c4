"""The forget ledger at build time: which ledger ``c4 build`` applies, and what it refuses.

``c4 forget DIR`` records every takedown in ``DIR/forget/ledger.json`` (``filters/ledger.py``).
A build applies a ledger as a blocklist while reading (``pipeline/transforms/read.py``), so a
deletion survives rebuilds:

* a rebuild into DIR applies DIR's own ledger and keeps ``forget/`` (ledger, deletion reports);
* ``--forget_ledger FILE`` (local or ``gs://``) applies FILE and writes it as the new output's
  ``forget/ledger.json``: how a ledger follows the data to a new DIR;
* a build that would stop applying entries of DIR's ledger is refused (exit 2): ``--forget_ledger
  FILE`` lacking some of them, or DIR's ledger unreadable. ``--drop_forget_ledger`` says so
  explicitly: DIR's ``forget/`` is not carried over (the new output holds FILE's ledger, if
  given, and nothing else there).

Ledgers written before ``url_sha256`` existed get the URL hashes of their removed documents
from DIR's deletion reports (each lists ``url_key_sha256``), so an old ledger's doc_ids block
their pages too, and the rewritten ledger holds them from then on.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from filters.ledger import (
    INGEST_COUNTER,
    ITEMS,
    CarriedLedger,
    LedgerBlock,
    LedgerError,
    ledger_text,
    missing,
    parse_ledger,
)
from filters.spec import UsageError

LEDGER = "forget/ledger.json"
REPORTS = "forget/report-*.json"
DROP_FLAG = "--drop_forget_ledger"


def _join(base: str, rel: str) -> str:
    return posixpath.join(base.rstrip("/") or "/", rel)


def _read(path: str, flag: str) -> str | None:
    """A file's text on any file system, ``None`` when there is none.

    Raises:
        UsageError: it exists and cannot be read (naming ``flag``).
    """
    from pipeline.io.output import read_text

    try:
        return read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag}: cannot read {path}: {type(exc).__name__}") from None


def resolve(output_dir: str, given: str | None, drop: bool) -> CarriedLedger | None:
    """The ledger a build into ``output_dir`` applies (module docstring), ``None`` if none.

    Args:
        given: ``--forget_ledger``'s file.
        drop: ``--drop_forget_ledger``.

    Raises:
        UsageError: a ledger that cannot be read, or a build that would drop entries of DIR's
            ledger without ``--drop_forget_ledger``.
    """
    own_path = _join(output_dir, LEDGER)
    own: dict[str, frozenset[str]] | None = None
    own_text = None if drop else _read(own_path, "--output")
    if own_text is not None:
        try:
            own = parse_ledger(own_text)
        except LedgerError as exc:
            raise UsageError(
                f"--output: {own_path}: {exc}; a build would not apply it (repair it, or give "
                f"{DROP_FLAG})"
            ) from None
    if given is not None:
        text = _read(given, "--forget_ledger")
        if text is None:
            raise UsageError(f"--forget_ledger: cannot read {given}: no such file")
        try:
            content = parse_ledger(text)
        except LedgerError as exc:
            raise UsageError(f"--forget_ledger: {given}: {exc}") from None
        if own is not None and missing(own, content):
            items = missing(own, content, ITEMS)
            what = f"{items} of its {sum(len(own[k]) for k in ITEMS)} item(s)" if items else ""
            digests = missing(own, content) - items
            what += (" and " if what else "") + (f"{digests} digest(s)" if digests else "")
            raise UsageError(
                f"--forget_ledger: {given} lacks {what} of {own_path}: forgotten pages could "
                f"come back; add them to it, or give {DROP_FLAG} to replace that ledger"
            )
        return CarriedLedger(ledger_text(content), given, LedgerBlock.of(content))
    if own is None:
        return None
    content = dict(own)
    content["url_sha256"] = own["url_sha256"] | _reported_url_hashes(output_dir)
    return CarriedLedger(ledger_text(content), own_path, LedgerBlock.of(content))


def _reported_url_hashes(output_dir: str) -> frozenset[str]:
    """``url_key_sha256`` of every document DIR's deletion reports list as removed."""
    from pipeline.lineage import match_paths

    found: set[str] = set()
    for path in match_paths(_join(output_dir, REPORTS)):
        text = _read(path, "--output")
        try:
            documents = json.loads(text or "{}").get("matched", {}).get("list", [])
        except (ValueError, AttributeError):
            continue  # a report is an account, not the ledger: an unreadable one is skipped
        found.update(
            d["url_key_sha256"]
            for d in documents
            if isinstance(d, dict) and isinstance(d.get("url_key_sha256"), str)
        )
    return frozenset(found)


def keeps(config: Any) -> tuple[str, ...]:
    """What a rebuild keeps of DIR's current output: ``forget/``, unless dropped."""
    return () if config.drop_forget else ("forget/",)


def stage(config: Any, write_dir: str) -> None:
    """Write the applied ledger into the new output (``write_dir``: the commit's staging area),
    unless DIR already holds exactly it."""
    from pipeline.write import write_atomic

    carried = config.forget
    if carried is None:
        return
    current = None if config.drop_forget else _read(_join(config.output_dir, LEDGER), "--output")
    if current != carried.text:
        write_atomic(_join(write_dir, LEDGER), carried.text.encode("utf-8"))


def summary_line(config: Any) -> str | None:
    """The build summary's line about the ledger: items applied, pages blocked (stats.json)."""
    carried = config.forget
    if carried is None:
        return f"forget ledger: none applied ({DROP_FLAG})" if config.drop_forget else None
    block = carried.block
    stats = json.loads(_read(_join(config.output_dir, "stats.json"), "--output") or "{}")
    blocked = int((stats.get("counters") or {}).get(INGEST_COUNTER, 0))
    return (
        f"forget ledger: {block.items} item(s) applied ({len(block.urls)} URL(s), "
        f"{len(block.domains)} domain(s), {len(block.doc_ids)} doc_id(s)) from {carried.source}"
        f"; {blocked} page(s) blocked ({INGEST_COUNTER})"
    )
