"""A masked set as ``c4 forget`` sees it: ``DIR/masked``, or a ``c4 mask --output MDIR``.

Both hold ``config.json``, ``parquet/<split>/part-NNNNN-of-MMMMM.parquet`` and their TFRecord
twins ``tfrecord/<split>/...``; they differ in where the rest lives:

- paths in reports and lineage are relative to DIR for ``DIR/masked``, to MDIR for MDIR;
- the masked lineage (``pipeline/masking/lineage.py``): ``DIR/lineage/masked/``, or
  ``MDIR/lineage/``;
- the collateral records (``pipeline/forget/collateral.py``): ``DIR/forget/collateral/masked/``,
  or ``MDIR/forget/collateral/``.

A masked set names the DIR it was masked from in ``config.json``'s ``source`` (``c4 mask
--output``); ``DIR/masked``'s source is the DIR around it.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

from pipeline import lineage
from pipeline.forget.store import exists, read_text
from pipeline.masking import lineage as masked_lineage
from pipeline.write import join

CONFIG = "config.json"


@dataclass(frozen=True)
class MaskedSet:
    """Where a masked set's files are.

    Attributes:
        root: what paths in reports and lineage are relative to (DIR, or MDIR itself).
        masked_dir: the set's own directory (``DIR/masked`` or MDIR).
        name: how reports name it (``masked``, or MDIR as registered).
    """

    root: str
    masked_dir: str
    name: str

    @classmethod
    def of_build(cls, root: str) -> MaskedSet:
        return cls(root.rstrip("/"), join(root, "masked"), "masked")

    @classmethod
    def standalone(cls, masked_dir: str, name: str | None = None) -> MaskedSet:
        masked_dir = masked_dir.rstrip("/")
        return cls(masked_dir, masked_dir, name or masked_dir)

    @property
    def inside_build(self) -> bool:
        return self.masked_dir != self.root

    @property
    def config_path(self) -> str:
        return join(self.masked_dir, CONFIG)

    @property
    def table_dir(self) -> str:
        """The masked-lineage table's directory (it may hold no file: an older set)."""
        table_dir, _ = masked_lineage.layout(
            self.masked_dir, self.root if self.inside_build else None
        )
        return table_dir

    @property
    def record_dir(self) -> str:
        """Where ``c4 forget`` keeps its collateral records of this set."""
        base = join(self.root, "forget", "collateral")
        return join(base, "masked") if self.inside_build else base

    def parquet_files(self) -> list[str]:
        return lineage.match_paths(join(self.masked_dir, "parquet", "*", "*.parquet"))

    def twin(self, parquet_path: str) -> str:
        """The TFRecord file holding the same examples as a Parquet shard ('' if none)."""
        split = posixpath.basename(posixpath.dirname(parquet_path))
        stem = posixpath.basename(parquet_path)[: -len(".parquet")]
        path = join(self.masked_dir, "tfrecord", split, stem + ".tfrecord")
        return path if exists(path) else ""

    def relative(self, path: str) -> str:
        return lineage.relative(self.root, path)

    def config(self) -> dict[str, Any]:
        data = json.loads(read_text(self.config_path))
        if not isinstance(data, dict):
            raise ValueError(f"{self.config_path}: not a JSON object")
        return data


def is_masked_config(config: Any) -> bool:
    """Whether a ``config.json`` is a masked set's (``c4 mask``), not a build's."""
    return (
        isinstance(config, dict)
        and isinstance(config.get("vocab"), dict)
        and isinstance(config.get("splits"), dict)
        and "c4_version" not in config
    )


def split_of(parquet_path: str) -> str:
    return posixpath.basename(posixpath.dirname(parquet_path))
