"""Real builds for the report's tests, and readers of what they wrote.

Builds go through ``pipeline.cli.main`` (``c4 build``, as a person runs it) on the real WET files
of tests/data; ``recount_*`` read the outputs back with pyarrow, never through the report's code.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from tests.conftest import REAL_WET

INPUTS = [str(p) for p in REAL_WET]


def build(out: Path, *extra: str, report: bool = True) -> Path:
    """``c4 build`` of every real WET sample into ``out`` (``C4_BUILD_REPORT=0`` if not
    ``report``: a build as it was made before the report)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("C4_BUILD_REPORT", "1" if report else "0")
        assert main(["build", "--input", *INPUTS, "--output", str(out), *extra]) == 0
    return out


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def documents(out: Path) -> list[dict[str, Any]]:
    """Every document's Parquet row, with its split, from ``parquet/<split>/``."""
    rows: list[dict[str, Any]] = []
    for path in sorted(out.glob("parquet/*/*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows.append({**row, "split": path.parent.name})
    return rows


def lineage_rows(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(out.glob("lineage/*/*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def recount_top(values: list[str], k: int) -> list[list[Any]]:
    """The ``k`` most frequent values, ties by value, as ``[value, count]``."""
    counts = Counter(values)
    return [[v, n] for v, n in sorted(counts.items(), key=lambda vn: (-vn[1], vn[0]))[:k]]
