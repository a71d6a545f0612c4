"""Issue 16, item 1: every ``c4`` command refuses what it does not know, before any work.

An unknown or misspelled flag is one line naming it (with the closest known flag) and exit 2,
on every subcommand; Beam's own flags, the chosen runner's included, still pass through. Local
inputs and the output location are checked at launch.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from filters.spec import UsageError
from pipeline.build_command import build_parser
from pipeline.cli import COMMANDS, main
from pipeline.command import closest_flag, refuse_unknown_beam_args, unknown_args_message
from pipeline.io.writable import check_writable
from tests.conftest import REAL_WET

WET = str(min(REAL_WET, key=lambda p: p.stat().st_size))


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.rstrip("\n")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["build", "--ouptut", "OUT", "--c4version", "2.2.0"],
            "c4 build: unknown flags --ouptut (did you mean --output?), "
            "--c4version (did you mean --c4_version?)",
        ),
        (["mask", "DIR", "--bogus", "3"], "c4 mask: unknown flag --bogus"),
        (["mask", "DIR", "--sed", "3"], "c4 mask: unknown flag --sed (did you mean --seed?)"),
        (
            ["vocab", "train", "DIR", "--output", "m.model", "--vocab_sise", "9"],
            "c4 vocab: unknown flag --vocab_sise (did you mean --vocab_size?)",
        ),
        (["trace", "DIR", "--url", "http://a.com/", "--jsn"], "c4 trace: unknown flag --jsn"),
        (
            ["forget", "DIR", "--url", "http://a.com/"],
            "c4 forget: unknown flag --url (did you mean --urls?)",
        ),
        (
            ["submit", "--dry_run", "--ouptut", "gs://b/o"],
            "c4 submit: unknown flag --ouptut (did you mean --output?)",
        ),
        (
            ["estimate", "--crawl", "CC-MAIN-2019-18", "--worker", "10"],
            "c4 estimate: unknown flag --worker (did you mean --workers?)",
        ),
    ],
)
def test_an_unknown_flag_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    err = _one_line(capsys, argv)
    if "(did you mean" in line or argv[0] != "trace":
        assert err == line
    else:
        assert err.startswith(line)


def test_every_command_is_covered() -> None:
    """A command added later must be added to the test above."""
    assert set(COMMANDS) <= {"build", "mask", "vocab", "trace", "forget", "submit", "estimate"} | {
        "report",
        "inspect",
    }


@pytest.mark.parametrize("command", ["report", "inspect"])
def test_later_commands_refuse_unknown_flags_too(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    if command not in COMMANDS:
        pytest.skip(f"c4 {command} is not there yet")
    err = _one_line(capsys, [command, "DIR", "--no_such_flag_here"])
    assert "--no_such_flag_here" in err


def test_a_typo_does_not_build_anything(tmp_path: Path) -> None:
    """Before: Beam dropped both typos, built 3.1.0 into ./c4-output and exited 0."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "build", "--ouptut", "o", "--c4version", "2.2.0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Discarding" not in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("runner", "beam_args"),
    [
        ("DirectRunner", ["--direct_num_workers", "2", "--direct_running_mode=multi_processing"]),
        ("DirectRunner", ["--pipeline_type_check", "--experiments", "a", "--experiments=b"]),
        ("DaskRunner", ["--dask_client_address", "127.0.0.1:8786", "--dask_connection_limit=8"]),
        ("DataflowRunner", ["--service_account_email", "a@b.c", "--network", "n", "--no_auth"]),
    ],
)
def test_beam_flags_pass_through(runner: str, beam_args: list[str]) -> None:
    refuse_unknown_beam_args(build_parser(), beam_args, runner)


def test_a_bad_value_of_a_beam_flag_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--direct_num_workers: invalid int value"):
        refuse_unknown_beam_args(build_parser(), ["--direct_num_workers", "two"], "DirectRunner")


def test_our_build_flags_are_not_beam_flags_of_other_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``c4 build``'s flags are PipelineOptions too (``C4Options``): ``c4 mask`` must not take
    them for Beam's."""
    err = _one_line(capsys, ["mask", "DIR", "--c4_version", "2.2.0"])
    assert err == "c4 mask: unknown flag --c4_version"


def test_suggestions() -> None:
    flags = ["--output", "--c4_version", "--config", "--input"]
    assert closest_flag("--ouptut", flags) == "--output"
    assert closest_flag("--c4version", flags) == "--c4_version"
    assert closest_flag("--bogus", flags) is None
    assert unknown_args_message(["stray"], flags) == "unexpected argument stray"
    assert unknown_args_message(["--x=1", "--y", "v"], flags) == "unknown flags --x, --y"


def test_dataflow_on_c4_build_points_to_c4_submit(capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line(capsys, ["build", "--runner", "DataflowRunner", "--project", "p"])
    assert err.startswith("c4 build: --runner: ") and "c4 submit" in err


# --- launch checks ----------------------------------------------------------------------------


def test_a_listing_whose_files_are_all_missing_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: it built 0 documents (one dead letter) and exited 0."""
    listing = tmp_path / "wet.paths"
    listing.write_text(f"{tmp_path}/gone-1.warc.wet.gz\n{tmp_path}/gone-2.warc.wet.gz\n")
    out = tmp_path / "out"
    err = _one_line(capsys, ["build", "--input", str(listing), "--output", str(out)])
    assert err.startswith(f"c4 build: --input: {listing}: none of the 2 files it lists exists")
    assert not out.exists()


def test_a_listing_with_one_file_present_is_built_with_dead_letters(tmp_path: Path) -> None:
    """Only "every listed local file missing" is a usage error: a partly missing listing runs,
    the missing file a dead letter (as before)."""
    from pipeline.config import make_build_config

    listing = tmp_path / "wet.paths"
    listing.write_text(f"{WET}\n{tmp_path}/gone.warc.wet.gz\n")
    config = make_build_config([str(listing)], str(tmp_path / "out"))
    assert [f.path for f in config.inputs] == [WET, f"{tmp_path}/gone.warc.wet.gz"]


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_unwritable_output_is_refused_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    """Before: found after all the work, a 115-line traceback and exit 1."""
    (tmp_path / "a-file").write_text("x")
    output = str(tmp_path / "a-file" / "out") if where == "under-a-file" else "/proc/c4-out"
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"^--output: "):
        check_writable(output)
    assert time.monotonic() - started < 1.0
    err = _one_line(capsys, ["build", "--input", WET, "--output", output])
    assert err.startswith("c4 build: --output: ")


def test_the_write_check_leaves_nothing_behind(tmp_path: Path) -> None:
    check_writable(str(tmp_path / "new" / "deeper" / "out"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "existing").mkdir()
    check_writable(str(tmp_path / "existing"))
    assert list((tmp_path / "existing").iterdir()) == []


def test_mask_checks_its_output_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    built = tmp_path / "built"
    assert main(["build", "--output", str(built)]) == 0  # the bundled sample: 14 documents
    capsys.readouterr()
    err = _one_line(capsys, ["mask", str(built), "--output", "/proc/c4-masked"])
    assert err.startswith("c4 mask: --output: cannot write in /proc/c4-masked")


# --- c4 --help, c4 --version --------------------------------------------------------------------


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_, _, text) in COMMANDS.items():
        assert any(line.split(None, 1) == [name, text] for line in out.splitlines()), name


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"c4 {version('c4-pipeline')}\n"
