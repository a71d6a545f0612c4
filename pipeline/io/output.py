"""A ``gs://`` output directory at launch: refuse one holding another build, read its stats.

``pipeline.config.check_output_dir`` checks local directories; this is its counterpart through
Beam's ``FileSystems`` (``config.json`` and the TFDS version directories).
"""

from __future__ import annotations

import json
import posixpath

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.spec import UsageError
from pipeline.io.gcs import connect_anonymously_if_emulated


def read_text(path: str) -> str | None:
    """The text of ``path`` (any Beam filesystem), ``None`` if it does not exist."""
    connect_anonymously_if_emulated()
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data: bytes = f.read()
    return data.decode("utf-8")


def _held(output_dir: str) -> set[tuple[str, str]]:
    """The (config, version) pairs a remote DIR already holds."""
    found: set[tuple[str, str]] = set()
    text = read_text(posixpath.join(output_dir, "config.json"))
    if text is not None:
        try:
            data = json.loads(text)
            if isinstance(data.get("config"), dict):
                data = data["config"]
            found.add((str(data.get("config")), str(data.get("c4_version"))))
        except ValueError:
            found.add(("?", "?"))
    pattern = posixpath.join(output_dir, "c4", "*", "*", "dataset_info.json")
    for result in FileSystems.match([pattern]):
        for meta in result.metadata_list:
            parts = meta.path.split("/")
            found.add((parts[-3], parts[-2]))
    return found


def check_remote_output_dir(output_dir: str, config: str, version: str) -> None:
    """Refuse a remote DIR that already holds another config or version (INTERFACE.md).

    Raises:
        UsageError: it does, or the bucket cannot be read.
    """
    try:
        others = sorted(p for p in _held(output_dir.rstrip("/")) if p != (config, version))
    except OSError as exc:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise UsageError(f"--output: cannot read {output_dir}: {detail}") from None
    if others:
        held = ", ".join(f"{c} {v}" for c, v in others)
        raise UsageError(
            f"--output: {output_dir} already holds c4 {held}; use another directory for "
            f"{config} {version}"
        )
