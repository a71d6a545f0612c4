"""``c4 trace`` and ``c4 forget``: where documents are, and removing them and all derived data.

``command`` (the two commands' parsers and exit codes), ``store`` (the ledger and the files of a
built DIR), ``rewrite`` (removing documents from shards, Parquet and lineage), ``masked`` (from
masked sets; ``masked_set``: where a set's files are), ``collateral`` (what removal cost other
documents, and re-masking it back), ``sets`` (the derived outputs registered in DIR), ``verify``
(proof from the shards themselves), ``trace``.

May import: ``filters/``, the build's ``lineage``/``summary``/``write``/``derived``, ``formats/``,
``io/`` and ``masking/`` (lineage; packing, vocabulary and writer to re-mask collateral);
nothing imports this wing but the ``c4`` dispatcher and its tests.
"""
