"""``c4 report`` and ``c4 inspect``: a build you can look at.

What lives here:

* ``taps``, ``combine``, ``sink``: the report's side of ``c4 build``: bounded samples and tallies
  taken in the pipeline (``filters/report.py`` holds their pure logic), merged by combiners, and
  ``DIR/report/aggregates.json`` + ``DIR/report.html`` written at the end of every build;
* ``aggregates`` (pure): the merged parts -> ``aggregates.json``;
* ``model``, ``svg``, ``html`` (pure): a build's files -> the page: sections, inline SVG charts of
  our own (no JavaScript, no network), deterministic bytes;
* ``store``: reading a built DIR (local or ``gs://``) and writing the page, through Beam's
  ``FileSystems``;
* ``recompute``: the Beam job that rebuilds the aggregates from a build's outputs (a build made
  before this feature);
* ``inspect``: the deterministic sample ``c4 inspect`` prints;
* ``command``: the ``c4 report`` and ``c4 inspect`` commands.

May import: ``filters/``, the build's ``write``, ``summary``, ``lineage`` and ``command``
modules, ``io/`` and ``formats/``; never ``forget/``, ``cloud/``, ``masking/`` or ``cli``. The
build (``pipeline/build.py``) imports ``taps`` and ``sink``.
"""
