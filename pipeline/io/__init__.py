"""Where a build's bytes come from and go to: ``gs://`` and Common Crawl over HTTPS, and how an
output changes.

``urls`` is pure (crawl ids, listing lines, URL kinds); ``http`` is the streaming fetcher with
retries and a per-process cap on concurrent requests (HTTPS and ``gs://`` objects); ``gcs`` and
``expand`` use Beam's ``FileSystems``. ``commit`` is the one commit protocol of every command
that changes an output (``generations`` on local disks, ``journal`` on ``gs://``, ``storage``
for their files, ``lock`` for one command at a time, ``faults`` for the kill tests;
docs/output.md). Nothing here runs at import time.

May import: ``filters/`` only (the floor: no other wing of ``pipeline``).
"""
