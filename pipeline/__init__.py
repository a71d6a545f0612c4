"""The Beam side of c4-pipeline: options, the build graph, its stages and the ``c4`` command.

Only ``pipeline/transforms/``, ``pipeline/build.py``, ``pipeline/options.py``,
``pipeline/runners.py`` and ``pipeline/cli.py`` import Apache Beam; ``pipeline/config.py`` stays
pure so that the resolved configuration can be built and tested without it.
"""
