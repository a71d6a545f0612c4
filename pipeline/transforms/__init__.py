"""Beam adapters: one C4 stage per module, each a composite PTransform calling ``filters/``.

``packing`` (pages zstd-packed across shuffles) and ``vote_rows`` (line-dedup votes as columns)
are the stages' helpers. May import: Beam, ``filters/``, ``config``, ``io/``,
``runners.progress`` (the reader reports how far it is), each other.
"""
