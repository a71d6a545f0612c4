"""The Flex Template launcher's entry (``pipeline.cloud.submit.launch_template``) takes every
template
parameter as a ``c4 build`` flag, the blocklists included, and hands them to the build config.

Dataflow is not reachable here, so the pipeline is built with a stand-in whose ``run`` does
nothing; what is checked is the parsing and the config the job would be built from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest

from pipeline import build
from pipeline.cloud import submit
from tests.conftest import REPO


class _NoRunPipeline:
    """Stands in for ``beam.Pipeline``: records the options, runs nothing."""

    def __init__(self, options: Any = None, **_: Any) -> None:
        self.options = options

    def run(self) -> None:
        return None


def test_launcher_passes_blocklists_to_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("# dropped pages\nhttps://www.example.com/a?b=1\n")
    domains = tmp_path / "domains.txt"
    domains.write_text("Example.ORG\n")
    seen: list[Any] = []
    monkeypatch.setattr(beam, "Pipeline", _NoRunPipeline)
    monkeypatch.setattr(build, "build_pipeline", lambda p, config, commit=None: seen.append(config))

    # As Dataflow's launcher calls flex_main.py: --name=value for each parameter.
    submit.launch_template(
        [
            f"--output={tmp_path / 'out'}",
            f"--blocklist_urls={urls}",
            f"--blocklist_domains={domains}",
            "--project=my-project-123",
        ]
    )
    (config,) = seen
    assert config.blocklist_domains == ("example.org",)
    assert len(config.blocklist_urls) == 1 and "example.com/a" in config.blocklist_urls[0]
    assert config.runner == "DataflowRunner"


def test_every_metadata_parameter_reaches_the_launcher_parser() -> None:
    from pipeline.build_command import build_parser

    meta = json.loads((REPO / "deploy" / "metadata.json").read_text())
    names = [p["name"] for p in meta["parameters"]]
    assert {"blocklist_urls", "blocklist_domains"} <= set(names)
    parser = build_parser()
    # "1" parses as every parameter's type (paths, ids, counts).
    args, rest = parser.parse_known_args([f"--{n}=1" for n in names])
    assert rest == []
    assert args.blocklist_urls == "1" and args.blocklist_domains == "1"
