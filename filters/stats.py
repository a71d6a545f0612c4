"""Reconciliation: every input record is kept, dropped for a counted reason, or dead-lettered.

``stats.json`` (INTERFACE.md) reports the balance ``input records = kept + dropped per reason +
dead-lettered``; a record that vanishes without a reason is a bug, so an imbalance raises (or, with
``strict=False``, is flagged in the result for a report to show). Input lost where no record count
can say how much (a damaged stretch of a file, the rest of a failed download) is reported beside
the balance, in bytes (``lost_bytes``), so that a balanced build does not look whole when it is not.

Pure: no Beam, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATS_SCHEMA_VERSION = 1


class ReconciliationError(ValueError):
    """Input records do not equal kept + dropped + dead-lettered."""


def _reason_name(reason: tuple[str, str] | str) -> str:
    """``("clean-page", "filtered:loremipsum")`` -> ``"clean-page/filtered:loremipsum"``."""
    if isinstance(reason, tuple):
        return "/".join(reason)
    return reason


def reconcile(
    n_input_records: int,
    kept: int,
    dropped_by_reason: Mapping[tuple[str, str], int] | Mapping[str, int],
    dead_lettered: int,
    strict: bool = True,
    lost_bytes: int = 0,
    removed: int = 0,
) -> dict[str, Any]:
    """Check and describe the record balance of one build.

    Args:
        n_input_records: WET records read (every ``WARC/1.0`` record, the ``warcinfo`` one too).
        kept: documents written (one per page; a page is in exactly one split).
        dropped_by_reason: ``(stage, reason)`` (or ``"stage/reason"``) to the pages it removed.
        dead_lettered: records that could not be read as pages.
        strict: raise on an imbalance instead of returning ``balanced: False``.
        lost_bytes: bytes of the input, as stored, that dead letters stand for beyond records.
        removed: documents kept by the build and removed since by request (``c4 forget``): not
            a rule's drop, so not in ``dropped``.

    Returns:
        ``{"input_records", "kept", "dropped": {"stage/reason": n}, "dropped_total",
        "dead_lettered", "balanced", "unaccounted"}`` with ``dropped`` sorted by name, and
        ``"lost_bytes"`` when some were lost (absent, so stats of whole input keep their bytes),
        ``"removed"`` when documents were removed by request (absent otherwise, likewise).

    Raises:
        ReconciliationError: ``strict`` and the numbers do not add up, or a count is negative.
    """
    dropped = {_reason_name(k): int(v) for k, v in dropped_by_reason.items() if v}
    dropped = dict(sorted(dropped.items()))
    counts = [n_input_records, kept, dead_lettered, lost_bytes, removed, *dropped.values()]
    if any(c < 0 for c in counts):
        raise ReconciliationError(f"negative count in reconciliation: {counts}")
    dropped_total = sum(dropped.values())
    unaccounted = n_input_records - kept - dropped_total - removed - dead_lettered
    result: dict[str, Any] = {
        "input_records": n_input_records,
        "kept": kept,
        "dropped": dropped,
        "dropped_total": dropped_total,
        "dead_lettered": dead_lettered,
        "balanced": unaccounted == 0,
        "unaccounted": unaccounted,
    }
    if lost_bytes:
        result["lost_bytes"] = lost_bytes
    if removed:
        result["removed"] = removed
    if strict and unaccounted:
        also = f"{removed} removed by request + " if removed else ""
        raise ReconciliationError(
            f"{n_input_records} input records != {kept} kept + {dropped_total} dropped + "
            f"{also}{dead_lettered} dead-lettered ({unaccounted:+d} unaccounted)"
        )
    return result


def split_summary(docs: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Documents and UTF-8 text bytes per split, splits sorted by name."""
    out: dict[str, dict[str, int]] = {}
    for doc in docs:
        entry = out.setdefault(str(doc["split"]), {"documents": 0, "text_bytes": 0})
        entry["documents"] += 1
        entry["text_bytes"] += len(str(doc["text"]).encode("utf-8"))
    return dict(sorted(out.items()))


def stats_document(
    config: str,
    version: str,
    reconciliation: Mapping[str, Any],
    counters: Mapping[str, int],
    splits: Mapping[str, Mapping[str, int]],
) -> dict[str, Any]:
    """The ``stats.json`` shape: what was built, every counter, per-split sizes, the balance."""
    return {
        "schema_version": STATS_SCHEMA_VERSION,
        "config": config,
        "c4_version": version,
        "splits": {k: dict(v) for k, v in sorted(splits.items())},
        "reconciliation": dict(reconciliation),
        "counters": dict(sorted(counters.items())),
    }
