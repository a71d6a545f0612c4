"""The Beam side of c4-pipeline: the build graph, its stages, the runners and the ``c4`` command.

The wings, each a package (its docstring says what it may import):

* the build, here: ``config`` (options -> one frozen, pure ``BuildConfig``), ``options``
  (the flags), ``build`` (``build_pipeline(root, config)``), ``write`` (the sinks), ``summary``
  (counters -> ``stats.json``), ``lineage``, ``derived`` (the outputs registered as derived from a
  DIR), ``build_ledger`` (the forget ledger a build applies), ``build_command`` (``c4 build``),
  ``command``
  (what every command shares), ``stdio`` (a closed standard output does not stop a command) and
  ``cli`` (the thin ``c4`` dispatcher);
* ``transforms/``: one C4 stage per module, a thin Beam skin over ``filters/``;
* ``io/`` and ``formats/``: where bytes come from and go to, and in which format;
* ``masking/``: T5 span corruption, packing, vocabularies, masked lineage (``c4 mask``, ``c4
vocab``);
* ``forget/``: ``c4 trace`` and ``c4 forget`` (ledger, rewrite, verify);
* ``runners/``: the DirectRunner and DaskRunner as ``c4`` runs them, and process start-up;
* ``cloud/``: ``c4 submit`` (Dataflow) and ``c4 estimate``.

Layering, enforced by ``tests/pipeline/test_layout.py`` (no import cycle, counting imports
inside functions): ``filters/`` imports nothing of ``pipeline/``; ``formats/``, ``io/`` and
``runners/`` import no other wing; the build imports ``transforms/``, ``io/``, ``formats/``
and ``masking/``; ``forget/`` and ``cloud/`` sit on top; ``cli`` only dispatches.
"""
