"""pipeline/runners/startup.py: a c4 process imports Beam without what it never uses, and still
works.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.transforms.userstate.get_dofn_specs``, patched to count the introspections, and
  ``apache_beam.transforms.userstate.is_stateful_dofn`` and
  ``apache_beam.transforms.userstate.BagStateSpec``: what startup's cache answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import apache_beam as beam
import pytest
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import BagStateSpec

from pipeline.runners import startup


def _fresh_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter (this one has imported Beam and pandas long ago)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_fresh_process_imports_beam_without_the_unused_modules() -> None:
    run = _fresh_python(
        """
        import importlib.util, sys
        from pipeline.runners.startup import UNUSED, declined_during_import, import_beam
        import_beam(["--input", "x.wet.gz"])
        import apache_beam as beam
        from apache_beam.io.filesystems import FileSystems
        named = UNUSED + declined_during_import([])
        print("loaded:", sorted(m for m in named if m in sys.modules))
        schemes = [c.scheme() for c in beam.io.filesystem.FileSystem.get_all_subclasses()]
        print("gs before:", "gs" in schemes)
        # pandas stays unavailable, and pyarrow (Cython) works without it.
        try:
            import pandas
            print("pandas: imported")
        except ModuleNotFoundError as exc:
            print("pandas:", exc)
        import pyarrow as pa
        print("pyarrow:", pa.table({"a": [1, 2]}).num_rows)
        # The rest is declined only while Beam is imported.
        if importlib.util.find_spec("google.cloud.bigquery") is not None:
            import apache_beam.io.gcp.bigquery
        import apache_beam.io.gcp.gcsfilesystem
        print("gs after:", FileSystems.get_filesystem("gs://bucket/x").scheme())
        with beam.Pipeline() as p:
            p | beam.Create([1, 2]) | beam.Map(lambda x: x)
        print("ran")
        """
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout.splitlines()
    assert "loaded: []" in out
    assert "gs before: False" in out
    assert "pandas: pandas is not used by c4" in out
    assert "pyarrow: 2" in out
    assert "gs after: gs" in out
    assert "ran" in out
    assert "bson" not in run.stderr  # Beam's MongoDB warning is not shown to a c4 user
    assert "GCSFileSystem" not in run.stderr  # nor a warning about the declined filesystem


@pytest.mark.parametrize(
    ("argv", "dataflow", "gcs", "dataflow_api"),
    [
        ([], False, False, False),
        (["--input", "a.wet.gz", "--output", "out"], False, False, False),
        (["--output", "gs://bucket/out"], False, True, False),
        (["--blocklist_urls=gs://bucket/urls.txt"], False, True, False),
        (["--runner", "DataflowRunner"], False, True, True),
        (["--runner=dataflow"], False, True, True),
        (["--runner", "DaskRunner"], False, False, False),
        ([], True, True, True),  # c4 submit
    ],
)
def test_gcs_and_dataflow_are_kept_when_the_command_may_use_them(
    argv: list[str], dataflow: bool, gcs: bool, dataflow_api: bool
) -> None:
    declined = startup.declined_during_import(argv, dataflow=dataflow)
    assert set(startup.UNUSED_BY_BEAM_IMPORT) <= set(declined)
    assert (not set(startup.GCS) & set(declined)) == gcs
    assert (not set(startup.DATAFLOW) & set(declined)) == dataflow_api


def test_gcs_named_only_by_a_listing_is_registered_for_the_build_and_its_workers() -> None:
    run = _fresh_python(
        """
        from pipeline.runners import startup
        from pipeline.runners.startup import GCS, declined_here, import_beam, register_gcs_if_needed
        import_beam(["--input", "local-listing.txt"])
        print("declined before:", set(GCS) <= set(declined_here()))
        register_gcs_if_needed(["/tmp/a.wet.gz", "gs://bucket/b.warc.wet.gz"])
        from apache_beam.io.filesystems import FileSystems
        print("gs:", FileSystems.get_filesystem("gs://bucket/x").scheme())
        print("declined after:", bool(set(GCS) & set(declined_here())))
        """
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == ["declined before: True", "gs: gs", "declined after: False"]


def test_a_dataflow_command_gets_beam_with_gcs_and_the_dataflow_client() -> None:
    run = _fresh_python(
        """
        from pipeline.runners.startup import import_beam
        import_beam(["--runner", "DataflowRunner", "--output", "gs://bucket/out"])
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.runners.dataflow import dataflow_runner
        print("gs:", FileSystems.get_filesystem("gs://bucket/x").scheme())
        print("dataflow api:", dataflow_runner.dataflow_api is not None)
        """
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == ["gs: gs", "dataflow api: True"]


def test_a_process_that_imported_beam_is_left_alone() -> None:
    finders = list(sys.meta_path)
    introspect = userstate.get_dofn_specs
    startup.import_beam()
    assert sys.meta_path == finders
    assert userstate.get_dofn_specs is introspect


class _Stateful(beam.DoFn):
    def process(
        self,
        kv: tuple[str, int],
        seen: object = beam.DoFn.StateParam(BagStateSpec("seen", beam.coders.VarIntCoder())),
    ) -> None:
        pass


class _Plain(beam.DoFn):
    def process(self, x: int) -> None:
        pass


def test_dofn_specs_are_introspected_once_per_class_and_own_methods_with_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []
    introspect = userstate.get_dofn_specs

    def counting(dofn: object) -> object:
        calls.append(dofn)
        return introspect(dofn)

    monkeypatch.setattr(userstate, "get_dofn_specs", counting)
    startup._remember_dofn_specs()
    stateful, plain = _Stateful(), _Plain()
    for _ in range(3):
        assert userstate.is_stateful_dofn(stateful)
        assert not userstate.is_stateful_dofn(plain)
    state_specs, timer_specs = userstate.get_dofn_specs(stateful)
    assert [s.name for s in state_specs] == ["seen"] and not timer_specs
    assert calls == [stateful, plain]  # once each
    assert userstate.get_dofn_specs(_Plain()) == (set(), set())  # a copy: the class's answer
    assert userstate.is_stateful_dofn(_Stateful.__new__(_Stateful))  # as unpickled: the same
    assert len(calls) == 2
    # An instance holding a method of its own is asked about that method.
    own = _Plain()
    own.process = _Stateful().process  # type: ignore[method-assign]
    assert userstate.is_stateful_dofn(own)
    hidden = _Stateful()
    hidden.process = None  # type: ignore[assignment]  # hides the class's: nothing to find
    assert not userstate.is_stateful_dofn(hidden)
    assert len(calls) == 4
    assert userstate.get_dofn_specs(beam.Map(len).fn) == (set(), set())
    assert userstate.get_dofn_specs(beam.Map(str).fn) == (set(), set())  # Map's own process
    assert len(calls) == 5


def test_punkt_is_imported_without_the_rest_of_nltk_and_splits_as_nltk_does() -> None:
    from filters.sentences import load_punkt

    text = "Dr. Smith arrived at 5 p.m. on Jan. 3. He left!\\nThen what? (Nobody knew.) The end."
    run = _fresh_python(
        f"""
        import sys
        from pipeline.runners.startup import import_beam
        import_beam(["--input", "x.wet.gz"])
        from filters.sentences import load_punkt
        print(load_punkt().split("{text}"))
        print("nltk modules:", len([m for m in sys.modules if m.split(".")[0] == "nltk"]))
        """
    )
    assert run.returncode == 0, run.stderr[-3000:]
    split, loaded = run.stdout.splitlines()
    assert split == str(load_punkt().split(text.replace("\\n", "\n")))  # this process: all of NLTK
    assert int(loaded.rpartition(" ")[2]) < 20  # ~245 with NLTK's __init__


def test_beams_unused_imports_are_left_out_or_put_off_and_work_when_used() -> None:
    run = _fresh_python(
        """
        import sys
        from pipeline.runners.startup import import_beam
        import_beam(["--input", "x.wet.gz"])
        left_out = ["beartype", "pyparsing", "apitools", "dill", "absl"]
        print("loaded:", [m for m in left_out if m in sys.modules])
        print("httplib2 run:", type(sys.modules["httplib2"]).__name__ != "module")
        # beartype's check, at its first use, is beartype's own.
        from apache_beam.typehints import typehints
        print("subhint:", typehints.is_consistent_with(bool, int, use_beartype=True))
        print("not:", typehints.is_consistent_with(int, str, use_beartype=True))
        from beartype.door import is_subhint
        from beartype.roar import BeartypeDoorException
        print("real:", typehints.is_subhint is is_subhint)
        print("exception:", typehints.BeartypeDoorException is BeartypeDoorException)
        # httplib2 runs at its first use.
        from apache_beam.internal.http_client import get_new_http
        print("http:", type(get_new_http()).__name__)
        """
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == [
        "loaded: []",
        "httplib2 run: True",
        "subhint: True",
        "not: False",
        "real: True",
        "exception: True",
        "http: Http",
    ]


def test_gcs_registered_late_gets_beams_retry_errors() -> None:
    run = _fresh_python(
        """
        from pipeline.runners.startup import import_beam, register_gcs_if_needed
        import_beam(["--input", "local-listing.txt"])
        from apache_beam.utils import retry
        print("before:", retry.HttpError, retry.GoogleAPICallError)
        register_gcs_if_needed(["gs://bucket/b.warc.wet.gz"])
        from apitools.base.py.exceptions import HttpError
        from google.api_core.exceptions import GoogleAPICallError
        print("after:", retry.HttpError is HttpError)
        print("api:", retry.GoogleAPICallError is GoogleAPICallError)
        """
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == ["before: None None", "after: True", "api: True"]


@pytest.mark.parametrize(
    ("argv", "dill"),
    [
        ([], False),
        (["--pickle_library=dill"], True),
        (["--pickle_library", "dill"], True),
        (["--update_compatibility_version=2.60.0"], True),
    ],
)
def test_dill_is_kept_when_the_command_may_pickle_with_it(argv: list[str], dill: bool) -> None:
    declined = startup.declined_during_import(argv)
    assert ("dill" not in declined) == dill


# The OpenBLAS numpy loads, and what it says its thread count is.
_BLAS_THREADS = """
    import ctypes, sys
    from pipeline.runners.startup import import_beam
    import_beam(["--input", "x.wet.gz"])
    import numpy
    path = next(line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line)
    blas = ctypes.CDLL(path)
    count = None
    for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
        try:
            count = getattr(blas, name)()
            break
        except AttributeError:
            continue
    print(count)
"""


@pytest.mark.parametrize(("given", "threads"), [(None, 1), ("2", 2)])
def test_numpy_gets_one_blas_thread_unless_the_user_set_a_count(
    given: str | None, threads: int
) -> None:
    env = {k: v for k, v in os.environ.items() if k != startup.BLAS_THREADS}
    if given is not None:
        env[startup.BLAS_THREADS] = given
    run = _fresh_python(_BLAS_THREADS, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == [str(threads)]


_ARROW_POOL = """
    import io
    from pipeline.runners.startup import import_beam
    import_beam(["--input", "x.wet.gz"])
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({"text": ["a line of text"] * 1000, "n": list(range(1000))})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    print(pa.default_memory_pool().backend_name, sink.getvalue().hex()[-64:], len(sink.getvalue()))
"""


@pytest.mark.parametrize(("given", "pool"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_arrow_gets_the_system_pool_unless_the_user_named_one(given: str | None, pool: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != startup.ARROW_POOL}
    if given is not None:
        env[startup.ARROW_POOL] = given
    run = _fresh_python(_ARROW_POOL, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    backend, *written = run.stdout.split()
    assert backend == pool
    # The pool changes where buffers live, never the bytes: the same file under both pools.
    other = {**env, startup.ARROW_POOL: "mimalloc" if pool == "system" else "system"}
    again = _fresh_python(_ARROW_POOL, env=other)
    assert again.stdout.split()[1:] == written
