"""Start a ``c4`` process without work it does not need: unused libraries, repeated introspection.

``import apache_beam`` imports every integration that is installed: pandas (for Beam DataFrame
type hints; a development install has pandas, the test readers pull it in), pymongo and bson
(MongoDB IO), BigQuery with Pub/Sub IO (``apache_beam.io``'s star-imports), the Google Cloud
Storage client (Beam's ``gs://`` filesystem) and the Dataflow API client (``DataflowRunner``);
pyarrow imports pandas the first time it converts a Python list. Together that is ~1.2 of the
~1.9 CPU-s Beam's import costs, in every ``c4`` process (``docs/benchmarks.md``, "Where the time
goes"). Beam and pyarrow guard each of these imports with ``except ImportError``, so a finder
first on ``sys.meta_path`` that refuses them makes them skip them. (``None`` in ``sys.modules``
would not do: Cython's import, which pyarrow's is, takes that ``None`` as the module.)

What is declined, and for how long:

- pandas: for the life of the process; nothing ``c4`` runs in its own process uses it.
- MongoDB, BigQuery, Pub/Sub IO, and absl (for pickling absl's ``FLAGS``, which no DoFn of ours
  holds): while Beam is imported (they can be imported explicitly later).
- dill, Beam's other pickler (cloudpickle is its default): while Beam is imported, unless an
  argument names it or ``--update_compatibility_version`` (old versions pickle with dill).
- Beam's GCS filesystem, and apitools (the old Google API client; Beam's retry filters import
  it for its ``HttpError``, and it brings oauth2client and pyasn1's ASN.1 modules, ~0.07 CPU-s):
  while Beam is imported, when no argument names a ``gs://`` path and the runner is not
  Dataflow; ``c4 build`` registers them after all when a listing file names ``gs://`` inputs
  (``register_gcs_if_needed``).
- The Dataflow API client: while Beam is imported, when the runner is not Dataflow.
- NLTK's package ``__init__``, which imports the whole toolkit (~245 modules, ~0.2 CPU-s): a
  ``c4`` process uses only punkt (``filters/sentences.py``), which needs a dozen of them.
  ``nltk`` and ``nltk.tokenize`` are registered as bare packages (``_bare_packages``): their
  submodules import as usual, their ``__init__`` never runs.

Two more of Beam's imports cannot be declined (no ``except ImportError``) and are put off
instead, until first used, which a ``c4`` run on local files never does: httplib2 (with
pyparsing, ~0.08 CPU-s; Beam's HTTP client for staging and GCS), loaded by importlib's
``LazyLoader`` at its first attribute access (``_Deferred``); and beartype (~270 modules, ~0.08
CPU-s), whose ``is_subhint`` Beam's type hints call only for a construction-time type check of a
hint Beam does not know: a stand-in takes its place during the import (``_BeartypeStandIn``).
Together with apitools this takes ~0.25 CPU-s (~480 modules) off Beam's import.

Beam also asks ~14 times per ParDo, while it builds, translates and runs a graph, which state and
timer parameters the DoFn declares, each time by ``inspect.signature`` on every method of it:
~0.3 CPU-s of a build with 52 ParDos. The answer is fixed by the DoFn's methods, so it is kept
per class and the methods an instance holds of its own (``_remember_dofn_specs``).

numpy, which Beam imports, gets one OpenBLAS thread instead of a pool of one per core that spins
for nothing: c4 uses numpy only to sort (``one_blas_thread``; ``OPENBLAS_NUM_THREADS`` set by the
user wins), and Arrow's default memory pool is the system allocator (``system_arrow_pool``;
``ARROW_DEFAULT_MEMORY_POOL`` set by the user wins).

A process that had already imported Beam (a test run) is left as it is.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.io.gcp.bigquery`` and ``apache_beam.io.gcp.gcsfilesystem``, declined by name
  while Beam is imported: this relies on Beam importing them (and pymongo, bson, pandas, the
  Dataflow client) inside ``try``/``except ImportError``;
- ``apache_beam.io.mongodbio``: its logger, quieted while Beam is imported without bson;
- ``apache_beam.io.gcp.gcsfilesystem``, imported to register ``gs://`` after all: Beam finds its
  filesystems among the subclasses of ``FileSystem``;
- ``apache_beam.utils.retry.HttpError`` and ``apache_beam.utils.retry.GoogleAPICallError``:
  imported by Beam inside
  ``try``/``except ImportError`` (``None`` without apitools), set when ``gs://`` is registered;
- ``apache_beam.internal.pickler`` and ``apache_beam.internal.cloudpickle_pickler``: import dill
  and absl inside ``try``/``except ImportError``;
- ``apache_beam.typehints.typehints.is_subhint`` and
  ``apache_beam.typehints.typehints.BeartypeDoorException``: the two names
  Beam imports from beartype, stand-ins replaced by beartype's own at the first call;
- ``apache_beam.transforms.userstate.get_dofn_specs``, replaced by a cached wrapper: Beam's
  ``userstate.is_stateful_dofn`` and the rest call it through the module.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import sys
import types
from collections.abc import Iterable, Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from typing import Any

UNUSED: tuple[str, ...] = ("pandas",)
UNUSED_BY_BEAM_IMPORT: tuple[str, ...] = (
    "pymongo",
    "bson",
    "apache_beam.io.gcp.bigquery",
    "absl",  # cloudpickle's support for pickling absl's FLAGS
)
# dill: Beam's other pickler, for --pickle_library=dill and old --update_compatibility_version.
DILL: tuple[str, ...] = ("dill",)
# Imported by Beam at its import, used only by what c4 does not run (module doc): loaded when
# first used, by importlib's LazyLoader.
DEFERRED: tuple[str, ...] = ("httplib2",)
GCS: tuple[str, ...] = ("apache_beam.io.gcp.gcsfilesystem", "apitools")
DATAFLOW: tuple[str, ...] = ("google.cloud.dataflow",)
# Packages whose __init__ a c4 process skips (module doc); parents first.
BARE_PACKAGES: tuple[str, ...] = ("nltk", "nltk.tokenize")
# OpenBLAS's thread count (numpy's BLAS), read when the library loads (``one_blas_thread``).
BLAS_THREADS = "OPENBLAS_NUM_THREADS"
# Arrow's default memory pool, read when pyarrow loads (``system_arrow_pool``).
ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"
# Without bson, Beam's MongoDB module logs a warning when imported; nobody asked for MongoDB.
_MONGO_LOGGER = "apache_beam.io.mongodbio"


class _Unavailable(MetaPathFinder):
    """Refuses to import the modules it names (not their siblings, nor what they would import)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname in self.names:
            raise ModuleNotFoundError(f"{fullname} is not used by c4", name=fullname)
        return None


class _Deferred(MetaPathFinder):
    """Imports the modules it names with ``importlib.util.LazyLoader``: the module object is
    made now, its code runs at the first access to one of its attributes."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


class _BeartypeStandIn(MetaPathFinder, Loader):
    """While Beam is imported: ``beartype``, ``beartype.door`` and ``beartype.roar`` as small
    stand-ins, so that Beam's ``from beartype.door import is_subhint`` does not import the whole
    of beartype (~270 modules, ~0.08 CPU-s) for a check a c4 run never makes.

    Beam binds the two names it imports (``apache_beam.typehints.typehints.is_subhint`` and
    ``BeartypeDoorException``); the stand-in ``is_subhint``, at its first call, imports the real
    beartype and puts its two objects in their place. Afterwards the stand-ins leave
    ``sys.modules``, so any other import of beartype gets the real one.
    """

    NAMES = ("beartype", "beartype.door", "beartype.roar")

    class NeverRaised(Exception):
        """``BeartypeDoorException`` until beartype is imported: nothing raises it before."""

    def __init__(self) -> None:
        self.active = "beartype" not in sys.modules  # else the real one is there to stay

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if not self.active or fullname not in self.NAMES or fullname in sys.modules:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname == "beartype")

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        module.__c4_stand_in__ = True
        if module.__name__ == "beartype.door":
            module.is_subhint = _is_subhint
        elif module.__name__ == "beartype.roar":
            module.BeartypeDoorException = _BeartypeStandIn.NeverRaised

    @classmethod
    def leave(cls) -> None:
        for name in cls.NAMES:
            if getattr(sys.modules.get(name), "__c4_stand_in__", False):
                del sys.modules[name]


def _is_subhint(subhint: Any, superhint: Any) -> bool:
    """beartype's ``is_subhint``, imported at the first call (``_BeartypeStandIn``)."""
    from apache_beam.typehints import typehints
    from beartype.door import is_subhint
    from beartype.roar import BeartypeDoorException

    # setattr: mypy refuses an assignment to a name that holds a class.
    setattr(typehints, "is_subhint", is_subhint)  # noqa: B010
    setattr(typehints, "BeartypeDoorException", BeartypeDoorException)  # noqa: B010
    return bool(is_subhint(subhint, superhint))


def declined_during_import(argv: Sequence[str], dataflow: bool = False) -> tuple[str, ...]:
    """The modules Beam is imported without, for a command with arguments ``argv``.

    Args:
        argv: the command's arguments (``--runner X`` or ``--runner=X`` names the runner).
        dataflow: the command submits to Dataflow whatever its arguments (``c4 submit``).
    """
    dataflow = dataflow or "dataflow" in (runner_flag(argv) or "").lower()
    declined = UNUSED_BY_BEAM_IMPORT
    if not any("dill" in arg or "update_compatibility_version" in arg for arg in argv):
        declined += DILL
    if not dataflow:
        declined += DATAFLOW
        if not any("gs://" in arg for arg in argv):
            declined += GCS
    return declined


def runner_flag(argv: Sequence[str]) -> str | None:
    """The value of ``--runner`` among a command's arguments, if given."""
    for i, arg in enumerate(argv):
        if arg == "--runner" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--runner="):
            return arg.partition("=")[2]
    return None


def import_beam(argv: Sequence[str] = (), dataflow: bool = False) -> None:
    """``import apache_beam`` without the modules above, unless Beam is imported already.

    Args:
        argv: the command's arguments, which say whether it needs GCS or Dataflow.
        dataflow: the command submits to Dataflow whatever its arguments (``c4 submit``).
    """
    import_beam_without(declined_during_import(argv, dataflow))


_declined: tuple[str, ...] = ()


def declined_here() -> tuple[str, ...]:
    """What this process's Beam import declined and nothing imported since (for worker processes
    to do the same)."""
    return tuple(name for name in _declined if name not in sys.modules)


def register_gcs_if_needed(paths: Iterable[str]) -> None:
    """Registers Beam's ``gs://`` filesystem when one of ``paths`` needs it and no argument said
    so (a local listing of ``gs://`` WET files): Beam finds filesystems by subclass, so importing
    the module is enough."""
    if any(path.startswith("gs://") for path in paths):
        import apache_beam.io.gcp.gcsfilesystem  # noqa: F401

        _restore_retry_errors()


def _restore_retry_errors() -> None:
    """The two Google API errors Beam's retry filters tell server errors by, which its import
    left ``None`` when apitools was declined (``apache_beam.utils.retry``)."""
    from apache_beam.utils import retry

    if retry.HttpError is None:
        from apitools.base.py.exceptions import HttpError
        from google.api_core.exceptions import GoogleAPICallError

        # setattr: mypy refuses an assignment to a name that holds a class.
        setattr(retry, "HttpError", HttpError)  # noqa: B010
        setattr(retry, "GoogleAPICallError", GoogleAPICallError)  # noqa: B010


def import_beam_without(declined: Sequence[str]) -> None:
    """``import apache_beam`` without ``UNUSED`` and, while Beam is imported, ``declined``;
    nothing if Beam is imported already."""
    global _declined
    if "apache_beam" in sys.modules:
        return
    one_blas_thread()
    system_arrow_pool()
    sys.meta_path.insert(0, _Unavailable([n for n in UNUSED if n not in sys.modules]))
    during_import: list[MetaPathFinder] = [
        _Unavailable(declined),
        _Deferred([n for n in DEFERRED if n not in sys.modules]),
        _BeartypeStandIn(),
    ]
    sys.meta_path[:0] = during_import
    mongo_log = logging.getLogger(_MONGO_LOGGER)
    level = mongo_log.level
    mongo_log.setLevel(logging.ERROR)
    try:
        import apache_beam.io.filesystems  # noqa: F401  # Beam, and the filesystems it can have
    finally:
        for finder in during_import:
            sys.meta_path.remove(finder)
        _BeartypeStandIn.leave()
        mongo_log.setLevel(level)
    _declined = tuple(declined)
    _remember_dofn_specs()
    _bare_packages(BARE_PACKAGES)


def one_blas_thread() -> None:
    """One OpenBLAS thread for numpy, unless ``OPENBLAS_NUM_THREADS`` says otherwise.

    Beam imports numpy, whose OpenBLAS starts a pool of one thread per core at load; c4 uses
    numpy only to sort (``pipeline/transforms/vote_rows.py``), never BLAS, and the idle pool
    still costs CPU (~0.75 % of an 85 MB build spent spinning). OpenBLAS reads the variable once,
    when loaded: this must run before numpy's first import. Worker processes inherit it.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault(BLAS_THREADS, "1")


def system_arrow_pool() -> None:
    """Arrow's C++ default memory pool is the system allocator, unless
    ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise.

    pyarrow's default, mimalloc, hands a freed buffer's pages back to the system and faults them
    in again for the next one: Parquet's page and compression buffers (~11 MB a shard) cost
    ~0.28 CPU-s of an 85 MB build's write that way, ~0.03 s with the system allocator. Arrow
    reads the variable once, when pyarrow loads (``pa.set_memory_pool`` does not reach the
    writer's buffers): this must run before pyarrow's first import. Worker processes inherit it.
    The bytes written are the same (tests/pipeline/runners/test_startup.py).
    """
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(ARROW_POOL, "system")


def _bare_packages(names: Sequence[str]) -> None:
    """Registers each package of ``names`` not imported yet without running its ``__init__``:
    the module has its ``__path__``, so ``import package.submodule`` works as usual."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


def _remember_dofn_specs() -> None:
    """Wraps ``userstate.get_dofn_specs`` (through which ``is_stateful_dofn`` and the rest of
    Beam ask) so that the methods of a DoFn are introspected once: per class, and per method an
    instance holds of its own (``_methods_key``). Beam copies each DoFn several times (pickled
    with its ``ParDo``, unpickled for each bundle processor), so a cache per instance missed
    most of the ~100 DoFns a build asks about."""
    from apache_beam.transforms import userstate

    introspect = userstate.get_dofn_specs
    known: dict[Any, Any] = {}

    def get_dofn_specs(dofn: Any) -> Any:
        key = _methods_key(dofn)
        if key is None:
            return introspect(dofn)
        try:
            return known[key]
        except KeyError:
            specs = known[key] = introspect(dofn)
            return specs

    get_dofn_specs.__doc__ = introspect.__doc__
    userstate.get_dofn_specs = get_dofn_specs


def _methods_key(dofn: Any) -> tuple[Any, ...] | None:
    """What ``userstate.get_dofn_specs`` reads of ``dofn``: the defaults of the methods it finds on
    it, that is its class's methods, except where the instance holds an attribute of that name
    (a method bound elsewhere, such as the function ``beam.Map`` wraps, or anything else, which
    hides the class's). None when that cannot be told (no ``__dict__``, or a ``__getattr__``)."""
    cls = type(dofn)
    own = getattr(dofn, "__dict__", None)
    if own is None or hasattr(cls, "__getattr__"):
        return None
    shadows = tuple(
        (name, value.__func__ if isinstance(value, types.MethodType) else None)
        for name, value in sorted(own.items(), key=lambda item: item[0])
        if isinstance(value, types.MethodType) or hasattr(cls, name)
    )
    return (cls, shadows)
