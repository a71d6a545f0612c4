"""The runners as ``c4`` runs them, and what a ``c4`` process imports at start-up.

``select`` maps ``--runner NAME`` to an instance; ``direct`` is the DirectRunner on Beam's
FnApiRunner, with its helpers ``forked_workers``, ``sdk_worker``, ``streamed_inputs``,
``flatten_sink`` and ``balanced_bundles``; ``dask`` is the fixed DaskRunner; ``startup``
keeps unused integrations out of a process. docs/runners.md explains every patch.

These modules reach into **private Beam APIs** (each names the ones it uses in its docstring),
written against the Beam version in ``PATCHED_BEAM_VERSION`` below; a test fails with a clear
message when the installed Beam differs, so an upgrade is a deliberate step.

May import: Beam, ``filters/`` and each other; never the build, the other wings or the command.
"""

# The apache-beam release whose private APIs the patches in this wing (and io/gcs.py,
# cloud/submit.py, tests/conftest.py) were written and tested against.
PATCHED_BEAM_VERSION = "2.77.0"
