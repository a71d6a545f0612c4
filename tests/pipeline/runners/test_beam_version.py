"""The fence around our private Beam APIs: the installed Beam is the one the patches were written
against (``pipeline.runners.PATCHED_BEAM_VERSION``, which setup.py's pins agree with); every
module that uses a private Beam API names it in its docstring's "Private Beam APIs" paragraph
(``beam_fence.py`` finds the uses with ``ast``), every name declared there exists in the
installed Beam, and docs/runners.md lists every such module.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from dask import distributed

import pipeline.runners
from pipeline.runners import PATCHED_BEAM_VERSION, beam_version_warning
from pipeline.runners.select import make_runner
from tests.pipeline.runners import beam_fence
from tests.pipeline.runners.beam_fence import REPO, SECTION

UPGRADE = 'docs/runners.md, "Upgrading Beam"'
FILES = beam_fence.scanned_files()


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_installed_beam_is_the_version_the_patches_were_written_against() -> None:
    installed = beam.__version__
    assert installed == PATCHED_BEAM_VERSION, (
        f"apache-beam {installed} is installed, but the private Beam APIs c4 patches and reaches "
        f"into were written and tested against apache-beam {PATCHED_BEAM_VERSION} "
        "(pipeline.runners.PATCHED_BEAM_VERSION; docs/runners.md lists the modules, and each "
        f'names its own in its docstring\'s "{SECTION}" paragraph). Either install '
        f"{PATCHED_BEAM_VERSION} (.venv/bin/pip install -c requirements.lock -e "
        "'.[dev,test,dask]'), or upgrade on purpose: follow the checklist in "
        f"{UPGRADE}, then set PATCHED_BEAM_VERSION and the apache-beam pins of setup.py to the "
        "new version."
    )


def _setup_beam_pins() -> list[str]:
    """Every ``apache-beam[...]==X`` string literal in setup.py (read, not imported)."""
    tree = ast.parse((REPO / "setup.py").read_text("utf-8"))
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    return [
        m.group(1)
        for s in strings
        if isinstance(s, str)
        for m in [re.fullmatch(r"apache-beam(?:\[[\w,]+\])?==([\w.]+)", s)]
        if m
    ]


def test_setup_py_pins_the_patched_beam_version() -> None:
    pins = _setup_beam_pins()
    assert len(pins) >= 2, (
        f"setup.py's apache-beam pins not found (BEAM and the dask extra): {pins}"
    )
    assert set(pins) == {PATCHED_BEAM_VERSION}, (
        f"setup.py pins apache-beam {sorted(set(pins))}, pipeline.runners.PATCHED_BEAM_VERSION is "
        f"{PATCHED_BEAM_VERSION}: change both together ({UPGRADE})."
    )


def test_the_scan_finds_the_known_private_uses() -> None:
    """The fence itself works: it sees what we know is there, and no more than Beam's own
    marks and the allow-list say."""
    by_file = {_rel(p): beam_fence.private_uses(p) for p in FILES}
    words = {rel: {use.word for use in uses} for rel, uses in by_file.items()}
    assert (
        "apache_beam.runners.portability.fn_api_runner.translations"
        in words["pipeline/runners/direct.py"]
    )
    assert "apache_beam.internal.gcp.auth._Credentials" in words["pipeline/io/gcs.py"]
    assert "_table" in words["pipeline/runners/streamed_inputs.py"]  # inherited from Beam's
    assert (
        "apache_beam.transforms.userstate.get_dofn_specs" in words["pipeline/runners/startup.py"]
    )  # patched
    assert "apache_beam.io.gcp.bigquery" in words["pipeline/runners/startup.py"]  # by name
    conftest = "apache_beam.runners.direct.direct_runner.SwitchingDirectRunner.run_pipeline"
    assert conftest in words["tests/conftest.py"]  # patched through a local alias
    assert "apache_beam.runners.runner.create_runner" in words["pipeline/runners/select.py"]
    assert not words.get("pipeline/build.py", {"missing"})  # public API only
    assert not words.get("pipeline/transforms/common.py", {"missing"})


SAMPLE = '''"""A module.

Private Beam APIs:

- ``apache_beam.runners.common.DoFnInvoker``: declared.
"""
import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.runners import create_runner
from apache_beam.runners.common import DoFnInvoker
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.internal.gcp import auth
from apache_beam.transforms import userstate

auth._Credentials._credentials = None
introspect = userstate.get_dofn_specs
switching = beam.runners.direct.direct_runner.SwitchingDirectRunner
switching.run_pipeline = None
setattr(execution.GroupingBuffer, "append", None)
DECLINED = ("apache_beam.io.gcp.bigquery", "apache_beam.io.filesystems")
beam.Map(len), pvalue.PBegin, FileSystems.exists, beam.runners.DirectRunner


class Buffer(execution.GroupingBuffer):
    def __init__(self) -> None:
        self._mine = 1

    def partition(self, n: int) -> list[bytes]:
        return [self._table, self._mine, self._helper(), super()._windowing]

    def _helper(self) -> None:
        pass
'''


def test_the_scan_sees_each_kind_of_use(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(SAMPLE)
    found = {(use.how, use.word) for use in beam_fence.private_uses(module)}
    runner = "apache_beam.runners.direct.direct_runner"
    assert found == {
        ("import", "apache_beam.runners.create_runner"),  # Beam marks it internal
        ("import", "apache_beam.runners.common.DoFnInvoker"),
        ("import", "apache_beam.runners.portability.fn_api_runner.execution"),
        ("import", "apache_beam.internal.gcp.auth"),
        ("import", "apache_beam.transforms.userstate"),
        ("private name", "apache_beam.internal.gcp.auth._Credentials"),
        ("patched", "apache_beam.internal.gcp.auth._Credentials._credentials"),
        ("private module", runner),
        ("private module", "apache_beam.runners.direct"),
        ("patched", f"{runner}.SwitchingDirectRunner.run_pipeline"),
        (
            "patched",
            "apache_beam.runners.portability.fn_api_runner.execution.GroupingBuffer.append",
        ),
        ("named in a string", "apache_beam.io.gcp.bigquery"),
        ("inherited", "_table"),
        ("inherited", "_windowing"),
    }
    paragraph = beam_fence.declared(module)
    assert paragraph is not None and paragraph.startswith(SECTION)
    assert beam_fence.names("apache_beam.runners.common.DoFnInvoker", paragraph)
    assert beam_fence.names("apache_beam.runners.common", paragraph)  # a longer name counts
    assert not beam_fence.names("apache_beam.runners.common.DoFnSignature", paragraph)
    assert not beam_fence.names("apache_beam.internal.gcp.auth", paragraph)


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_private_beam_use_is_declared_in_its_module_docstring(path: Path) -> None:
    uses = beam_fence.private_uses(path)
    if not uses:
        return
    paragraph = beam_fence.declared(path)
    assert paragraph is not None, (
        f'{_rel(path)} uses private Beam APIs but its docstring has no "{SECTION}:" paragraph; '
        f"add one naming each, and why ({UPGRADE}): " + ", ".join(sorted({u.word for u in uses}))
    )
    missing = [u for u in uses if not beam_fence.names(u.word, paragraph)]
    assert not missing, (
        f'{_rel(path)}: not named in its docstring\'s "{SECTION}" paragraph (say what each is '
        "and why it is needed, or use a public API):\n"
        + "\n".join(f"  line {u.line}: {u.how} {u.name}" for u in missing)
    )


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_declared_private_beam_name_exists_in_the_installed_beam(path: Path) -> None:
    """After an upgrade this names each private API that moved or went away."""
    paragraph = beam_fence.declared(path)
    if paragraph is None:
        return
    gone = []
    for name in beam_fence.declared_names(paragraph):
        try:
            beam_fence.lookup(name)
        except LookupError as error:
            gone.append(f"  {name}: {error}")
    for use in beam_fence.private_uses(path):
        if use.how == "inherited":
            base = use.name.rpartition(".")[0]
            if not beam_fence.beam_mentions(beam_fence.lookup(base), use.word):
                gone.append(f"  line {use.line}: {use.name}: no Beam class of its MRO has it")
    assert not gone, (
        f"{_rel(path)} relies on private Beam APIs that apache-beam {beam.__version__} does not "
        f"have ({UPGRADE}):\n" + "\n".join(gone)
    )


def test_docs_runners_md_names_every_module_that_uses_private_beam_apis() -> None:
    doc = (REPO / "docs" / "runners.md").read_text("utf-8")
    users = [_rel(p) for p in FILES if beam_fence.private_uses(p)]
    assert len(users) > 10
    assert not [rel for rel in users if rel not in doc], "docs/runners.md should list them"


def test_version_warning_names_both_versions_and_the_checklist() -> None:
    assert beam_version_warning(PATCHED_BEAM_VERSION) is None
    message = beam_version_warning("2.99.0")
    assert message is not None and "\n" not in message
    assert "2.99.0" in message and PATCHED_BEAM_VERSION in message
    assert "docs/runners.md" in message and "Upgrading Beam" in message


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _warnings_of_two_runs(
    runner: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> list[str]:
    args = []
    if runner == "DaskRunner":
        args = ["--dask_client_address", request.getfixturevalue("dask_address")]
    for _ in range(2):
        with (
            caplog.at_level(logging.WARNING, logger="pipeline.runners"),
            beam.Pipeline(runner=make_runner(runner), options=PipelineOptions(args)) as p,
        ):
            _ = p | beam.Create([1, 2]) | beam.Map(lambda x: x + 1)
    return [r.getMessage() for r in caplog.records if r.name == "pipeline.runners"]


@pytest.mark.parametrize("runner", ["DirectRunner", "DaskRunner"])
def test_a_run_on_another_beam_warns_once(
    runner: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The only way to see another installed version without installing one.
    monkeypatch.setattr(beam, "__version__", "2.99.0")
    monkeypatch.setattr(pipeline.runners, "_warned", False)
    warnings = _warnings_of_two_runs(runner, request, caplog)
    assert warnings == [beam_version_warning("2.99.0")]


@pytest.mark.parametrize("runner", ["DirectRunner", "DaskRunner"])
def test_a_run_on_the_patched_beam_does_not_warn(
    runner: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(beam, "__version__", PATCHED_BEAM_VERSION)  # whatever is installed
    monkeypatch.setattr(pipeline.runners, "_warned", False)
    assert _warnings_of_two_runs(runner, request, caplog) == []
