"""Where a build's bytes come from and go to: ``gs://`` and Common Crawl over HTTPS.

``urls`` is pure (crawl ids, listing lines, URL kinds); ``http`` is the streaming fetcher with
retries and a per-process cap on concurrent requests; ``gcs`` and ``expand`` use Beam's
``FileSystems``. Nothing here runs at import time.
"""
