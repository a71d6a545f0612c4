"""``c4 trace`` and ``c4 forget``: where documents are, and removing them and all derived data.

``command`` (the two commands' parsers and exit codes), ``store`` (the ledger and the files of a
built DIR), ``rewrite`` (removing documents from shards, Parquet and lineage), ``masked`` (from
masked sets), ``verify`` (proof from the shards themselves), ``trace``.

May import: ``filters/``, the build's ``lineage``/``summary``/``write``, ``formats/``, ``io/`` and
``masking/``'s lineage; nothing imports this wing but the ``c4`` dispatcher and its tests.
"""
