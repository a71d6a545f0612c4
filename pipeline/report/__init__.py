"""``c4 report`` and ``c4 inspect``: a build you can look at.

What lives here:

* ``taps``, ``combine``, ``sink``: the report's side of ``c4 build``: bounded samples and tallies
  taken by the stages themselves (``filters/report.py`` holds their pure logic), merged exactly,
  and ``DIR/report/aggregates.json`` + ``DIR/report.html`` written at the end of every build;
  ``run_facts``: ``DIR/run.json`` (what varies from run to run), written by ``c4 build``;
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
modules, ``transforms/common`` (the stages' ``CountingDoFn``, which ``taps`` gives a recorder),
``io/``, ``formats/`` and ``runners/`` (to run the recompute job); never ``forget/``, ``cloud/``,
``masking/`` or ``cli``. The build (``pipeline/build.py``) imports ``taps`` and ``sink``; the
stages record through ``filters.report.Recorder`` and import nothing of this wing.
"""
