"""Running on Google Cloud: ``c4 submit`` (a ``c4 build`` on Dataflow) and ``c4 estimate``.

May import: the build (``build``, ``build_command``, ``config``), ``io/`` and ``filters/``;
``estimate`` stays pure (no Beam, no network). Nothing else imports this wing but the
dispatcher and ``deploy/flex_main.py``.
"""
