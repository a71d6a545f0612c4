"""Writes ``pipeline/cloud/data/rates.json``, the measured rates ``c4 estimate`` ships with.

``c4 estimate`` must work from any install, where ``benchmarks/results/`` is not there: the
figures it reads of those results (and when and on what machine each was measured) go into the
package. ``make rates`` runs this; ``make bench`` (benchmarks/suite.py) runs it after a full
suite. ``tests/pipeline/cloud/test_rates.py`` fails while the shipped file and the results differ.

    python benchmarks/rates.py [--results DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.cloud import estimate  # noqa: E402


def rates_text(results: Path) -> str:
    """The bytes of rates.json for ``results``: sorted keys, so the same results give the same
    file."""
    return json.dumps(estimate.rates_json(results), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=Path, default=estimate.RESULTS_DIR)
    parser.add_argument("--output", type=Path, default=estimate.RATES_PATH)
    args = parser.parse_args(argv)
    text = rates_text(args.results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"rates -> {args.output} (from {args.results})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
