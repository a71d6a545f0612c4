"""The project's TFDS C4 reference harness: the ground truth of "exact" (see README.md here).

``c4_reference.py`` (C4 3.1.0) and ``c4_legacy_reference.py`` (2.2.0, 1.0.0) run TFDS's own C4
code in a virtualenv of their own, which ``install.py`` (``make reference``) sets up;
``tests/reference_runner.py`` runs them for the tests, with a cache. Nothing here is imported
by the pipeline.
"""
