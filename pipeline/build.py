"""build_pipeline: the C4 graph of one (config, version), wiring only; every rule is in filters/.

Stages are composite PTransforms with stable CamelCase labels: ReadWet, FilterLength,
(FilterRealnews), (FilterParagraphs), (CleanPages), DedupUrls, (DedupText), FilterLanguage,
(FilterBadwords), SplitByUrl. Stable labels keep a Dataflow job updatable and its counters
findable. C4 (C4_SPEC §1.1) filters paragraphs and cleans *after* URL dedup; here they run before
its shuffle, provisionally, and DedupUrls applies and counts them for the copy it keeps only
(``pipeline/transforms/common.py``), so the result is the same and the shuffle carries cleaned
text rather than raw pages.

Stages pass one union stream (pages, dead letters, counter dicts) from one to the next; the two
shuffle stages hand back what they passed by on the side, and everything is split by type at the
end.

Every branch (documents, dead letters, counters) flows into ``WriteC4``, which ends in one final
transform: DaskRunner computes only the last transform of a graph. Then the report
(``pipeline/report/``): the stages record what it needs as they go, and ``BuildReport`` writes
``DIR/report.html`` after everything else, its output the build's stats, still the last.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam

from filters.lineage import Request
from pipeline.config import BuildConfig
from pipeline.io.commit import Commit
from pipeline.io.gcs import impersonation_of
from pipeline.io.http import FetchPolicy
from pipeline.report.taps import enable_report
from pipeline.transforms.badwords import FilterBadwords
from pipeline.transforms.clean import CleanPages
from pipeline.transforms.common import is_counters, is_dead_letter, is_doc, is_not_doc
from pipeline.transforms.dedup import DedupText, vote_buckets
from pipeline.transforms.drops import is_drop
from pipeline.transforms.language import FilterLanguage
from pipeline.transforms.length import FilterLength
from pipeline.transforms.paragraph import FilterParagraphs
from pipeline.transforms.read import ReadWet
from pipeline.transforms.realnews import FilterRealnews
from pipeline.transforms.resume import JoinPlan, Replay, Resumed, Spill
from pipeline.transforms.resume import of_config as resume_of
from pipeline.transforms.resume import plan as plan_resume
from pipeline.transforms.split import SplitByUrl
from pipeline.transforms.url_dedup import DedupUrls


class C4Collections(NamedTuple):
    """What the stages produce, for the sinks (``pipeline/write.py``).

    Attributes:
        docs: ``(split, page)`` for every kept page; ``page.language`` is set. 1.0.0 writes
            ``page.normalized_url`` as its ``url`` feature.
        dead_letters: ``DeadLetter`` records of unreadable input and of pages a stage failed on.
        stats: ``"namespace/name" -> count`` partial dicts (TFDS 3.1.0 names) to be summed;
            ``input/records`` counts every WARC record read, and each dropped page is counted once
            under a ``<namespace>/filtered[:<reason>]`` counter.
    """

    docs: beam.PCollection
    dead_letters: beam.PCollection
    stats: beam.PCollection


def stage_labels(config: BuildConfig) -> list[str]:
    """The stage labels of ``config``'s graph, in order (what ``build_collections`` applies)."""
    rules = config.rules
    labels = ["ReadWet", "FilterLength"]
    if rules.realnewslike:
        labels.append("FilterRealnews")
    if rules.paragraph_filter:
        labels.append("FilterParagraphs")
    if rules.clean:
        labels.append("CleanPages")
    labels.append("DedupUrls")
    if rules.dedupe:
        labels.append("DedupText")
    labels.append("FilterLanguage")
    if rules.badwords_filter_fraction > 0:
        labels.append("FilterBadwords")
    labels.append("SplitByUrl")
    return labels


def _stage(config: BuildConfig, label: str, join: JoinPlan | None = None) -> beam.PTransform:
    rules = config.rules
    return {
        "FilterLength": FilterLength,
        "FilterRealnews": lambda: FilterRealnews(rules),
        "DedupUrls": lambda: DedupUrls(rules, config.record_drops),
        "FilterParagraphs": FilterParagraphs,
        "CleanPages": lambda: CleanPages(rules),
        "DedupText": lambda: DedupText(
            rules,
            vote_buckets(len(config.inputs)),
            config.record_drops,
            resume_of(config),
            join,
        ),
        "FilterLanguage": lambda: FilterLanguage(
            rules,
            config.language_detector,
            resume_of(config),
        ),
        "FilterBadwords": lambda: FilterBadwords(rules),
    }[label]()


def build_collections(root: beam.Pipeline, config: BuildConfig) -> C4Collections:
    """Apply every stage of ``config`` to ``root``; the sinks are not applied."""
    return apply_stages(root, config, report=False)[0]


Applied = tuple[C4Collections, beam.PCollection | None, beam.PCollection | None]


def resumed_of(config: BuildConfig) -> Resumed | None:
    """What ``config``'s build reuses of earlier attempts (``--resumable``), else None; once a
    build (``pipeline.transforms.resume.plan``)."""
    return plan_resume(config, vote_buckets(len(config.inputs)))


def apply_stages(
    root: beam.Pipeline, config: BuildConfig, report: bool, resumed: Resumed | None = None
) -> Applied:
    """``build_collections``; with ``report``, the stages also record for the report
    (``pipeline/report/taps.py``), and what they emitted beside the documents (counters, dead
    letters, the report's tallies and samples) is returned for it; with ``config.record_drops``,
    the stages' drop records too (``pipeline/drops.py``). ``resumed``: ``resumed_of(config)``,
    when the caller made it (to say what was reused)."""
    rules = config.rules
    blocklist = Request(frozenset(config.blocklist_urls), frozenset(config.blocklist_domains))
    fetch = _fetch_policy(config)
    if resumed is None:
        resumed = resumed_of(config)
    resume = resumed.directory if resumed else None
    keys = resumed.keys if resumed else {}
    # --resumable: line dedup's join is kept, and a rerun past it starts there
    join = resumed.join if resumed else None
    restored = resumed is not None and resumed.restored
    spilled = resumed.spilled if resumed else {}
    fresh = tuple(f for f in config.inputs if keys.get(f.path) not in spilled)
    forget = config.forget.block if config.forget else None  # DIR's ledger (build_ledger.py)
    stream: Any = root  # a PCollection once read; a tuple to the kept join
    if not restored:
        stream = root | "ReadWet" >> ReadWet(
            fresh, rules, blocklist, fetch, mark_files=bool(resume), forget=forget
        )
    # Shuffle stages hand back what they passed by separately: merging it into their output
    # would make the runner copy every page to build the merged collection.
    side: list[beam.PCollection] = []
    labels = stage_labels(config)[1:-1]
    if restored:  # the kept join holds all that came before it: none of that runs
        labels = labels[labels.index("DedupText") :]
    for label in labels:
        if join is not None and label == "DedupText":  # what crosses the join is kept with it
            stream, side = (stream if restored else (stream, *side)), []
        if resume and label == "DedupUrls":  # the per-file stages are done: spill, replay
            stream = stream | "Spill" >> Spill(resume)
            if spilled:  # a Flatten has the runner copy every page into it: only to replay
                replayed = root | "Replay" >> Replay(spilled.values())
                stream = (stream, replayed) | "Resumed" >> beam.Flatten()
        out = stream | label >> _stage(config, label, join)
        if isinstance(out, tuple):
            stream, passed_by = out
            side.append(passed_by)
        else:
            stream = out
    stream = stream | "SplitByUrl" >> SplitByUrl(rules)
    docs = stream | "Docs" >> beam.Filter(is_doc)
    rest = (stream | "NotDocs" >> beam.Filter(is_not_doc), *side) | "Rest" >> beam.Flatten()
    collections = C4Collections(
        docs=docs,
        dead_letters=rest | "DeadLetters" >> beam.Filter(is_dead_letter),
        stats=rest | "Counters" >> beam.Filter(is_counters),
    )
    drops = None
    if config.record_drops:
        from pipeline.drops import enable_drops

        enable_drops(root)
        drops = rest | "Drops" >> beam.Filter(is_drop)
    if not report:
        return collections, None, drops
    enable_report(root, rules)
    return collections, rest, drops


def build_pipeline(
    root: beam.Pipeline,
    config: BuildConfig,
    commit: Commit | None = None,
    resumed: Resumed | None = None,
) -> beam.PCollection:
    """The whole build: stages, then ``WriteC4`` (and masking), then the report (unless
    ``C4_BUILD_REPORT=0``); returns the single final PCollection.

    Everything is written under ``config.write_dir``. With ``commit`` (``c4 submit``: the
    launcher may be gone when the job ends), a last step publishes it; ``c4 build`` publishes
    from the launcher once the run is done. ``resumed``: as ``apply_stages``.
    """
    from pipeline.report.sink import BuildReport, report_enabled
    from pipeline.write import WriteC4

    collections, emitted, drops = apply_stages(root, config, report_enabled(), resumed)
    if drops is not None:  # DIR/drops/; its row count joins the counters
        from pipeline.drops import WriteDrops

        counted = drops | "WriteDrops" >> WriteDrops(config.write_dir, len(config.inputs))
        stats = (collections.stats, counted) | "WithDrops" >> beam.Flatten()
        collections = collections._replace(stats=stats)
    result: beam.PCollection = collections | "WriteC4" >> WriteC4(config)
    if config.mask:
        from pipeline.masking.run import MaskBuilt, mask_job

        # Last stage: masked/config.json waits for the build's finalize; the stats stay the output.
        result = collections.docs | "Mask" >> MaskBuilt(
            config.write_dir, after=result, job=mask_job(config.mask_options)
        )
    if emitted is not None:
        # After everything it reads: stats.json, config.json, masked/config.json.
        result = emitted | "Report" >> BuildReport(config, after=result)
    if commit is not None:
        result = result | "Publish" >> beam.ParDo(_PublishFn(commit, len(config.inputs)))
    return result


def _fetch_policy(config: BuildConfig) -> FetchPolicy:
    """How the inputs are downloaded: ``--max_concurrent_downloads``, ``--download_attempts``,
    and ``gs://`` requests acting as ``--impersonate_service_account`` when it is given."""
    return FetchPolicy(
        max_concurrent=config.max_concurrent_downloads,
        max_attempts=config.download_attempts,
        impersonate=impersonation_of(config.beam_args),
    )


class _PublishFn(beam.DoFn):  # type: ignore[misc]
    """Makes the staged build current once everything upstream is written; passes stats on.
    A build none of whose inputs could be read fails instead (pipeline/failed_inputs.py)."""

    def __init__(self, commit: Commit, inputs: int) -> None:
        self._commit = commit
        self._inputs = inputs

    def process(self, stats: dict) -> Iterator[dict]:
        from pipeline import derived
        from pipeline.failed_inputs import check_published

        check_published(self._commit.write_dir, self._inputs, self._commit.output_dir)
        # As `c4 build` does: `masked` registered exactly when this job wrote masked/.
        commit = self._commit
        derived.sync_masked(commit.output_dir, commit.write_dir, commit.keeps)
        commit.publish()
        yield stats
