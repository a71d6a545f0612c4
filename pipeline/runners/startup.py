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
- MongoDB, BigQuery, Pub/Sub IO: while Beam is imported (they can be imported explicitly later).
- Beam's GCS filesystem: while Beam is imported, when no argument names a ``gs://`` path and the
  runner is not Dataflow; ``c4 build`` registers it after all when a listing file names
  ``gs://`` inputs (``register_gcs_if_needed``).
- The Dataflow API client: while Beam is imported, when the runner is not Dataflow.
- NLTK's package ``__init__``, which imports the whole toolkit (~245 modules, ~0.2 CPU-s): a
  ``c4`` process uses only punkt (``filters/sentences.py``), which needs a dozen of them.
  ``nltk`` and ``nltk.tokenize`` are registered as bare packages (``_bare_packages``): their
  submodules import as usual, their ``__init__`` never runs.

Beam also asks ~14 times per ParDo, while it builds, translates and runs a graph, which state and
timer parameters the DoFn declares, each time by ``inspect.signature`` on every method of it:
~0.3 CPU-s of a build with 52 ParDos. The answer is fixed by the DoFn's methods, so it is kept
per DoFn instance (``_remember_dofn_specs``).

A process that had already imported Beam (a test run) is left as it is.

Private Beam APIs (docs/runners.md; ``pipeline.runners.PATCHED_BEAM_VERSION``):

- ``apache_beam.io.gcp.bigquery`` and ``apache_beam.io.gcp.gcsfilesystem``, declined by name
  while Beam is imported: this relies on Beam importing them (and pymongo, bson, pandas, the
  Dataflow client) inside ``try``/``except ImportError``;
- ``apache_beam.io.mongodbio``: its logger, quieted while Beam is imported without bson;
- ``apache_beam.io.gcp.gcsfilesystem``, imported to register ``gs://`` after all: Beam finds its
  filesystems among the subclasses of ``FileSystem``;
- ``apache_beam.transforms.userstate.get_dofn_specs``, replaced by a cached wrapper: Beam's
  ``userstate.is_stateful_dofn`` and the rest call it through the module.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import weakref
from collections.abc import Iterable, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from typing import Any

UNUSED: tuple[str, ...] = ("pandas",)
UNUSED_BY_BEAM_IMPORT: tuple[str, ...] = ("pymongo", "bson", "apache_beam.io.gcp.bigquery")
GCS: tuple[str, ...] = ("apache_beam.io.gcp.gcsfilesystem",)
DATAFLOW: tuple[str, ...] = ("google.cloud.dataflow",)
# Packages whose __init__ a c4 process skips (module doc); parents first.
BARE_PACKAGES: tuple[str, ...] = ("nltk", "nltk.tokenize")
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


def declined_during_import(argv: Sequence[str], dataflow: bool = False) -> tuple[str, ...]:
    """The modules Beam is imported without, for a command with arguments ``argv``.

    Args:
        argv: the command's arguments (``--runner X`` or ``--runner=X`` names the runner).
        dataflow: the command submits to Dataflow whatever its arguments (``c4 submit``).
    """
    dataflow = dataflow or "dataflow" in (_runner(argv) or "").lower()
    declined = UNUSED_BY_BEAM_IMPORT
    if not dataflow:
        declined += DATAFLOW
        if not any("gs://" in arg for arg in argv):
            declined += GCS
    return declined


def _runner(argv: Sequence[str]) -> str | None:
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


def import_beam_without(declined: Sequence[str]) -> None:
    """``import apache_beam`` without ``UNUSED`` and, while Beam is imported, ``declined``;
    nothing if Beam is imported already."""
    global _declined
    if "apache_beam" in sys.modules:
        return
    sys.meta_path.insert(0, _Unavailable([n for n in UNUSED if n not in sys.modules]))
    during_import = _Unavailable(declined)
    sys.meta_path.insert(0, during_import)
    mongo_log = logging.getLogger(_MONGO_LOGGER)
    level = mongo_log.level
    mongo_log.setLevel(logging.ERROR)
    try:
        import apache_beam.io.filesystems  # noqa: F401  # Beam, and the filesystems it can have
    finally:
        sys.meta_path.remove(during_import)
        mongo_log.setLevel(level)
    _declined = tuple(declined)
    _remember_dofn_specs()
    _bare_packages(BARE_PACKAGES)


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
    Beam ask) so that each DoFn instance is introspected once."""
    from apache_beam.transforms import userstate

    introspect = userstate.get_dofn_specs
    known: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def get_dofn_specs(dofn: Any) -> Any:
        try:
            return known[dofn]
        except KeyError:
            specs = known[dofn] = introspect(dofn)
            return specs
        except TypeError:  # a DoFn that cannot be weakly referenced or hashed
            return introspect(dofn)

    get_dofn_specs.__doc__ = introspect.__doc__
    userstate.get_dofn_specs = get_dofn_specs
