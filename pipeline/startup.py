"""Start a ``c4`` process without work it does not need: unused libraries, repeated introspection.

When they are installed (a development install has them: the test readers pull in pandas),
``import apache_beam`` also imports pandas (for Beam DataFrame type hints), pymongo and bson
(MongoDB IO), and BigQuery with Pub/Sub IO (``apache_beam.io``'s star-imports); pyarrow imports
pandas the first time it converts a Python list. ``c4`` uses none of them, and they cost ~0.9
CPU-s in every process, a fifth of a small build's start-up (``docs/benchmarks.md``, "Where the
time goes"). Beam and pyarrow guard each of these imports with ``except ImportError``, so a
finder first on ``sys.meta_path`` that refuses them makes them skip them. (``None`` in
``sys.modules`` would not do: Cython's import, which pyarrow's is, takes that ``None`` as the
module.)

pandas stays unavailable for the life of the process; the Beam integrations only while Beam is
imported (``apache_beam.io.gcp.bigquery`` can still be imported explicitly afterwards).

Beam also asks ~14 times per ParDo, while it builds, translates and runs a graph, which state and
timer parameters the DoFn declares, each time by ``inspect.signature`` on every method of it:
~0.3 CPU-s of a build with 52 ParDos. The answer is fixed by the DoFn's methods, so it is kept
per DoFn instance (``_remember_dofn_specs``).

A process that had already imported Beam (a test run) is left as it is.
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from typing import Any

# Unavailable for the whole process: nothing c4 runs in its own process needs pandas.
UNUSED = ("pandas",)
# Unavailable while Beam is imported.
UNUSED_BY_BEAM_IMPORT = ("pymongo", "bson", "apache_beam.io.gcp.bigquery")
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


def import_beam() -> None:
    """``import apache_beam`` without the modules above, unless Beam is imported already."""
    if "apache_beam" in sys.modules:
        return
    sys.meta_path.insert(0, _Unavailable([n for n in UNUSED if n not in sys.modules]))
    during_import = _Unavailable(UNUSED_BY_BEAM_IMPORT)
    sys.meta_path.insert(0, during_import)
    mongo_log = logging.getLogger(_MONGO_LOGGER)
    level = mongo_log.level
    mongo_log.setLevel(logging.ERROR)
    try:
        import apache_beam  # noqa: F401
    finally:
        sys.meta_path.remove(during_import)
        mongo_log.setLevel(level)
    _remember_dofn_specs()


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
