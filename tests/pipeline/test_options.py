"""``pipeline/options.py``: one declaration of the ``c4 build`` flags serves ``c4 build``,
``c4 submit``, the Flex Template launcher and Beam's ``PipelineOptions``; the blocklists are
among them and reach the build config on each path."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.build_command import build_parser
from pipeline.cli import main
from pipeline.cloud.submit import build_config_from_args, submit_parser
from pipeline.options import C4Options, add_build_arguments

BLOCKLISTS = ("--blocklist_urls", "--blocklist_domains")


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings]


@pytest.fixture
def domains(tmp_path: Path) -> Path:
    path = tmp_path / "domains.txt"
    path.write_text("# a comment\nExample.ORG\nsub.example.net\n")
    return path


def test_blocklists_are_declared_once_in_add_build_arguments() -> None:
    plain = argparse.ArgumentParser()
    add_build_arguments(plain)
    for parser in (plain, build_parser(), submit_parser()):
        flags = _flags(parser)
        for flag in BLOCKLISTS:
            assert flags.count(flag) == 1, (parser.prog, flag)


def test_blocklists_are_beam_pipeline_options() -> None:
    opts = PipelineOptions(
        ["--blocklist_urls", "u.txt", "--blocklist_domains=d.txt", "--runner", "DirectRunner"]
    ).view_as(C4Options)
    assert (opts.blocklist_urls, opts.blocklist_domains) == ("u.txt", "d.txt")


def test_build_reads_the_blocklist_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("example.org\nhttps://not-a-domain.example/\n")
    argv = ["build", "--output", str(tmp_path / "out"), "--blocklist_domains", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--blocklist_domains" in err and "line 2" in err
    assert not (tmp_path / "out").exists()


def test_submit_hands_the_blocklists_to_the_build_config(tmp_path: Path, domains: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://www.example.com/page\n")
    argv = [
        "--output",
        "gs://my-bucket/c4",
        "--project",
        "my-project-123",
        "--blocklist_urls",
        str(urls),
        "--blocklist_domains",
        str(domains),
    ]
    args, beam_args = submit_parser().parse_known_args(argv)
    config = build_config_from_args(args, beam_args)
    assert config.blocklist_domains == ("example.org", "sub.example.net")
    assert len(config.blocklist_urls) == 1
    assert args.project == "my-project-123" and beam_args == []


def test_submit_names_an_unreadable_blocklist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "submit",
        "--output",
        "gs://my-bucket/c4",
        "--blocklist_urls",
        str(tmp_path / "missing.txt"),
    ]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("c4 submit: --blocklist_urls: cannot read") for line in lines)


def test_a_run_skips_beams_type_check_unless_asked() -> None:
    from apache_beam.options.pipeline_options import TypeOptions

    from pipeline.options import run_options

    def checked(args: list[str]) -> bool:
        return run_options(args).view_as(TypeOptions).pipeline_type_check

    assert checked([]) is False
    assert checked(["--direct_num_workers", "2"]) is False
    assert checked(["--pipeline_type_check"]) is True
    assert checked(["--no_pipeline_type_check"]) is False


def test_run_options_make_each_view_once_and_share_its_values() -> None:
    import copy

    from apache_beam.options.pipeline_options import DebugOptions, StandardOptions, TypeOptions

    from pipeline.options import run_options

    options = run_options(["--runner", "DirectRunner", "--experiments", "a"])
    standard = options.view_as(StandardOptions)
    assert options.view_as(StandardOptions) is standard  # kept, not parsed again
    assert options.view_as(TypeOptions).pipeline_type_check is False
    standard.runner = "Other"
    assert PipelineOptions.view_as(options, StandardOptions).runner == "Other"  # a fresh view
    options.view_as(DebugOptions).add_experiment("b")
    assert options.view_as(DebugOptions).experiments == ["a", "b"]
    copied = copy.deepcopy(options)  # what beam.Pipeline keeps: its own values, its own views
    copied.view_as(StandardOptions).runner = "Copy"
    assert copied.view_as(StandardOptions) is not standard
    assert (standard.runner, copied.view_as(StandardOptions).runner) == ("Other", "Copy")
    assert copied.get_all_options()["experiments"] == ["a", "b"]
