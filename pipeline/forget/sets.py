"""``c4 forget`` beyond DIR: every output registered as derived from it (``pipeline/derived.py``).

- ``c4 forget DIR`` forgets in DIR (one commit, ``DIR/masked`` included), then in each masked
  set registered elsewhere, each in a commit of its own (``begin(MDIR, owns=("",),
  from_current=True)``): a set is switched whole or not at all. The deletion report is written
  with DIR's commit, each set ``pending``, and completed once the sets are done (a commit owning
  only the report); a run stopped in between is finished by running it again, which completes
  the same report. A set that cannot be reached (deleted, moved, no permission, busy) is named
  in the report and on stderr, and the run exits 1.
- ``c4 forget MDIR`` forgets through MDIR's source (``config.json``'s ``source``): in DIR and in
  every set, MDIR included even if it is not registered.
- ``--verify`` checks every registered set as it checks ``DIR/masked``; a set it cannot reach
  is damage (exit 3), never a silent pass.
- ``--unregister PATH`` drops an entry (a set deleted on purpose), in a commit of its own.
- Vocabularies trained on DIR are named in each deletion report as tainted, and the registry
  remembers which forgets tainted them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from filters.lineage import Request
from filters.spec import UsageError
from pipeline import derived
from pipeline.derived import Entry
from pipeline.forget import collateral
from pipeline.forget import masked as forget_masked
from pipeline.forget.masked_set import CONFIG, MaskedSet, is_masked_config
from pipeline.forget.store import Build, Ledger, exists, read_text
from pipeline.write import join, write_atomic

PENDING = "pending"
CHANGED = "changed"
# Recorded in DIR's report just before a set's switch: a run killed after the switch leaves the
# set with nothing left to remove, and its rerun takes the outcome from here.
COMMITTING = "committing"


# --- which DIR, which sets ----------------------------------------------------------------------


def resolve(path: str) -> tuple[str, str | None]:
    """``(DIR, MDIR)``: ``path`` itself when it is not a masked set; else the DIR the set was
    masked from, and the set.

    Raises:
        UsageError: a masked set that does not say where it came from.
    """
    config_path = join(path, CONFIG)
    try:
        config = json.loads(read_text(config_path)) if exists(config_path) else None
    except (OSError, ValueError):
        return path, None  # open_build says what is wrong with it
    if not is_masked_config(config):
        return path, None
    assert isinstance(config, dict)
    mdir = derived.normalize(path)
    source = config.get("source")
    parent = mdir.rsplit("/", 1)[0]
    if not source and mdir.rsplit("/", 1)[-1] == "masked" and exists(join(parent, "stats.json")):
        return parent, None  # DIR/masked: DIR forgets it anyway
    if not isinstance(source, str) or not source:
        raise UsageError(
            f"DIR: {path} is a masked set that does not name its source (masked before sources "
            "were recorded): run c4 forget on the DIR it was masked from, and mask it again"
        )
    return source, mdir


def _sets(root: str, named: str | None) -> list[Entry]:
    """The masked sets outside DIR: registered ones, and MDIR when forgetting through it."""
    entries = [e for e in derived.load(root) if e.kind == derived.MASKED and e.path != "masked"]
    if named and named not in {e.path for e in entries}:
        entries.append(Entry(derived.MASKED, named))
    return entries


def _reach(location: str) -> tuple[MaskedSet | None, str]:
    """The set at ``location``, or why it cannot be reached."""
    try:
        if not exists(join(location, CONFIG)):
            return None, "no config.json there (deleted or moved?)"
        config = json.loads(read_text(join(location, CONFIG)))
    except (OSError, ValueError) as exc:
        return None, f"cannot be read ({type(exc).__name__})"
    except Exception as exc:  # a filesystem's own error: no permission, no bucket
        return None, f"cannot be read ({type(exc).__name__})"
    if not is_masked_config(config):
        return None, "not a masked set (its config.json is not c4 mask's)"
    return MaskedSet.standalone(location), ""


# --- remasking plans ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RemaskPlan:
    """``--remask_collateral``: each reachable set's masking, checked before anything changes."""

    jobs: Mapping[str, collateral.RemaskJob]

    def for_set(self, name: str, texts_root: str) -> forget_masked.Remask | None:
        job = self.jobs.get(name)
        return forget_masked.Remask(job, collateral.Texts(texts_root)) if job else None


def remask_plan(build: Build, named: str | None, wanted: bool) -> RemaskPlan | None:
    """The masking of ``DIR/masked`` and of each reachable set, or None without the flag.

    Raises:
        UsageError: a set's vocabulary cannot be read or changed since it was masked.
    """
    if not wanted:
        return None
    jobs = {}
    own = MaskedSet.of_build(build.root)
    if exists(own.config_path):
        jobs[own.name] = collateral.remask_job(own.config(), own.name)
    for entry in _sets(build.root, named):
        mset, _ = _reach(entry.path)
        if mset is not None:
            jobs[entry.path] = collateral.remask_job(mset.config(), entry.path)
    return RemaskPlan(jobs)


# --- forgetting ----------------------------------------------------------------------------------


def pending(staged: Build, root: str, named: str | None, report_rel: str) -> dict[str, Any]:
    """The report's ``derived`` section as DIR's commit writes it (each set pending), and the
    registry's vocabularies marked as tainted by this report (in the staged DIR)."""
    sets = [{"path": e.path, "status": PENDING} for e in _sets(root, named)]
    vocabularies = []

    def taint(entries: list[Entry]) -> list[Entry]:
        out = []
        for e in entries:
            if e.kind == derived.VOCABULARY:
                e = Entry(e.kind, e.path, e.sha256, tuple(sorted({*e.tainted_by, report_rel})))
                vocabularies.append(_vocabulary(e))
            out.append(e)
        return out

    derived.note(staged.root, staged.root, taint)
    return {"sets": sets, "vocabularies": vocabularies}


def _vocabulary(entry: Entry) -> dict[str, Any]:
    return {
        "path": entry.path,
        "sha256": entry.sha256,
        "tainted": True,
        "tainted_by": list(entry.tainted_by),
        "note": "trained on this DIR before this forget: it may encode forgotten documents; "
        "retrain it (c4 vocab train DIR) and re-mask, or stop using it",
    }


def forget_sets(
    root: str,
    doc_ids: set[str],
    named: str | None,
    plan: RemaskPlan | None,
    record: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Forget ``doc_ids`` in every set outside DIR, each in a commit of its own; ``record``
    writes a set's outcome into the deletion report before its switch (``COMMITTING``)."""
    from pipeline.io.commit import begin

    results = []
    for entry in _sets(root, named):
        mset, why = _reach(entry.path)
        if mset is None:
            results.append({"path": entry.path, "status": "unreachable", "reason": why})
            continue
        try:
            commit = begin(mset.masked_dir, owns=("",), command="c4 forget", from_current=True)
        except UsageError as exc:  # another command holds the set
            results.append({"path": entry.path, "status": "busy", "reason": str(exc)})
            continue
        try:
            staged = MaskedSet(commit.write_dir, commit.write_dir, entry.path)
            remask = plan.for_set(entry.path, root) if plan else None
            result = forget_masked.remove_examples(staged, doc_ids, remask)
            if result["changes"]:
                record({"path": entry.path, "status": COMMITTING, **result})
                commit.publish()
            else:
                commit.abort()
        except BaseException:
            commit.abort()
            raise
        status = CHANGED if result["changes"] else "unchanged"
        results.append({"path": entry.path, "status": status, **result})
    return results


def _undone(report: Mapping[str, Any]) -> bool:
    """Whether a report still waits for a set (its DIR committed, the set not done)."""
    sets = report.get("derived", {}).get("sets", [])
    return any(s.get("status") in (PENDING, COMMITTING, "unreachable", "busy") for s in sets)


def complete_report(
    root: str, report_path: str | None, results: Sequence[dict[str, Any]], format_text: Any
) -> str | None:
    """Write the sets' outcome into the deletion report: this run's, else the last one still
    waiting for a set (a run stopped between DIR and its sets, or a set unreachable then);
    else, when a set changed, a new one. Its path, or None when there was nothing to write."""
    from pipeline import lineage
    from pipeline.forget.store import report_paths
    from pipeline.io.commit import begin

    if report_path is None:
        waiting = [
            p
            for p in lineage.match_paths(join(root, "forget", "report-*.json"))
            if _undone(json.loads(read_text(p)))
        ]
        report_path = waiting[-1] if waiting else None
    if report_path is None:
        if not any(r["status"] == CHANGED for r in results):
            return None
        report: dict[str, Any] = _sets_only_report(root)
        json_path, _ = report_paths(Build(root, "", "", {}))
        before = ""
    else:
        json_path = report_path
        before = read_text(json_path)
        report = json.loads(before)
    sets = {s["path"]: s for s in report.setdefault("derived", {}).setdefault("sets", [])}
    for result in results:
        earlier = sets.get(result["path"], {})
        if result["status"] != "unchanged":
            sets[result["path"]] = _set_section(result)
        elif earlier.get("status") == COMMITTING:  # switched, then stopped: what it removed
            sets[result["path"]] = {**earlier, "status": CHANGED}
        elif earlier.get("status") != CHANGED:  # keep what an earlier run did
            sets[result["path"]] = _set_section(result)
    report["derived"]["sets"] = [sets[k] for k in sorted(sets)]
    body = json.dumps(report, indent=2, sort_keys=True) + "\n"
    if body == before:
        return None
    rel = lineage.relative(root, json_path)
    text_rel = rel[: -len(".json")] + ".txt"
    commit = begin(root, owns=(rel, text_rel), command="c4 forget")
    try:
        write_atomic(join(commit.write_dir, rel), body.encode("utf-8"))
        write_atomic(join(commit.write_dir, text_rel), format_text(report).encode("utf-8"))
    except BaseException:
        commit.abort()
        raise
    commit.publish()
    return json_path


def _sets_only_report(root: str) -> dict[str, Any]:
    import datetime

    return {
        "command": "c4 forget",
        "dir": root,
        "time_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "asked": {"urls": [], "domains": [], "doc_ids": [], "files": {}},
        "matched": {"documents": 0, "by_reason": {}, "by_split": {}, "list": []},
        "files_changed": [],
        "counts": {},
        "masked": {"present": False},
        "note": "documents forgotten from DIR earlier, removed now from its registered sets",
    }


def _set_section(result: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in result.items() if k not in ("changes", "name")}
    if "changes" in result:
        out["files_changed"] = sorted(result["changes"], key=lambda c: c["path"])
    return out


def set_lines(report: Mapping[str, Any]) -> list[str]:
    """The readable lines of the report's ``derived`` section."""
    lines = []
    section = report.get("derived", {})
    for s in section.get("sets", []):
        status = s.get("status")
        if status == CHANGED:
            lines.append(
                f"masked set {s['path']}: {s.get('removed_examples', 0)} example(s) removed, "
                f"{len(s.get('files_changed', []))} file(s) changed"
            )
            lines += collateral_lines(s.get("collateral", {}), "  ")
        elif status in ("unreachable", "busy"):
            lines.append(f"masked set {s['path']}: NOT FORGOTTEN: {status}: {s.get('reason')}")
        else:
            lines.append(f"masked set {s['path']}: {status}")
    for v in section.get("vocabularies", []):
        lines.append(f"vocabulary {v['path']}: TAINTED ({v['note']})")
    return lines


def collateral_lines(section: Mapping[str, Any], indent: str = "") -> list[str]:
    """What removing examples cost other documents, and what a remask gave back."""
    lines = []
    remasked = section.get("remasked")
    if section.get("documents"):
        hint = "" if remasked else " (--remask_collateral gives them back)"
        lines.append(
            f"{indent}collateral: {section['documents']} other document(s) shared an example "
            f"with a forgotten one: {section['lost_all_examples']} lost all their examples, "
            f"{section['lost_some_examples']} some{hint}"
        )
    if remasked:
        lines.append(
            f"{indent}remasked: {len(remasked['packs'])} pack(s) of {remasked['documents']} "
            f"document(s), {remasked['examples_replaced']} example(s) -> "
            f"{remasked['examples_made']}; {remasked['documents_given_back']} document(s) "
            "given back"
        )
        for line in remasked.get("not_remasked", []):
            lines.append(f"{indent}  not remasked: {line}")
    return lines


def exit_code(results: Sequence[Mapping[str, Any]], where: str) -> int:
    """1 when a registered set could not be forgotten (one line on stderr), else 0."""
    undone = [r for r in results if r["status"] in ("unreachable", "busy")]
    if not undone:
        return 0
    first = undone[0]
    more = f" (and {len(undone) - 1} more)" if len(undone) > 1 else ""
    print(
        f"c4 forget: registered masked set {first['path']} of {where} was not forgotten: "
        f"{first['status']}: {first['reason']}{more}; rerun once it can be reached, or "
        f"c4 forget {where} --unregister {first['path']} if it was deleted on purpose",
        file=sys.stderr,
    )
    return 1


# --- verifying -----------------------------------------------------------------------------------


def verify_sets(
    build: Build, request: Request, ledger: Ledger, named: str | None
) -> tuple[list[str], list[str], list[str]]:
    """``(remains, damaged, notes)`` of the registered sets outside DIR (and DIR/masked's entry,
    which DIR's own check reads): each read as ``--verify`` reads ``DIR/masked``."""
    from pipeline.forget import verify as forget_verify
    from pipeline.forget.inventory import Inventory

    remains: list[str] = []
    damaged: list[str] = []
    notes: list[str] = []
    entries = derived.load(build.root)
    if any(e.path == "masked" for e in entries) and not exists(build.path("masked/config.json")):
        damaged.append("masked: registered in forget/derived.json, but DIR/masked is gone")
    for entry in _sets(build.root, named):
        mset, why = _reach(entry.path)
        if mset is None:
            damaged.append(f"{entry.path}: registered masked set unreachable: {why}")
            continue
        config = mset.config()
        source = config.get("source")
        if isinstance(source, str) and source != derived.normalize(build.root):
            notes.append(f"{entry.path}: its config.json names another source, {source}")
        check = forget_verify._Check(Build(mset.root, "", "", {}), request, ledger)
        inv = Inventory(masked_config=config, masked=_masked_shards(mset, config))
        inv.required = [CONFIG]
        forget_verify._masked(check, inv)
        forget_verify._strays(check, inv)
        remains += [f"{entry.path}/{line}" for line in check.verdict.remains]
        damaged += [f"{entry.path}/{line}" for line in check.verdict.damaged]
        notes.append(f"masked set {entry.path}: {check.verdict.files_read} file(s) read")
    for entry in entries:
        if entry.kind == derived.VOCABULARY and entry.tainted_by:
            notes.append(
                f"vocabulary {entry.path}: tainted (trained before {', '.join(entry.tainted_by)})"
            )
    return remains, damaged, notes


def _masked_shards(mset: MaskedSet, config: Mapping[str, Any]) -> list[Any]:
    """The shards a set's ``config.json`` declares, relative to the set."""
    from pipeline.forget.inventory import MaskedShard
    from pipeline.masking import lineage as masked_lineage

    has_table = bool(masked_lineage.table_files(mset.table_dir))
    shards = []
    splits = config.get("splits", {})
    for split in sorted(splits):
        count = splits[split].get("shards") if isinstance(splits[split], dict) else None
        if not isinstance(count, int):
            continue
        for i in range(count):
            stem = f"part-{i:05d}-of-{count:05d}"
            shards.append(
                MaskedShard(
                    split,
                    f"parquet/{split}/{stem}.parquet",
                    f"tfrecord/{split}/{stem}.tfrecord",
                    f"lineage/{split}/{stem}.parquet" if has_table else "",
                )
            )
    return shards


# --- unregistering -------------------------------------------------------------------------------


def unregister(root: str, path: str) -> str:
    """Drop ``path`` from DIR's registry (a commit of its own); what it was.

    Raises:
        UsageError: nothing of that path is registered.
    """
    entries = derived.load(root)
    wanted = path if path == "masked" or "://" in path else os.path.abspath(path).rstrip("/")
    match = [e for e in entries if e.path in (wanted, path.rstrip("/"))]
    if not match:
        known = ", ".join(e.path for e in entries) or "nothing"
        raise UsageError(f"--unregister: {path} is not registered in {root} (registered: {known})")
    derived.register(root, lambda es: derived.without(es, match[0].path), "c4 forget")
    return f"{match[0].kind} {match[0].path}"


def after_dir(
    root: str,
    where: str,
    report_path: str | None,
    named: str | None,
    plan: RemaskPlan | None,
    format_text: Any,
) -> int:
    """Once DIR's own commit is done (or had nothing to do): forget in every set outside DIR
    what DIR's ledger lists, complete the report, print what happened; the exit code."""
    from pipeline.forget.store import load_ledger

    if not _sets(root, named):
        return 0
    ledger = load_ledger(Build(root, "", "", {}))
    written = report_path

    def record(result: dict[str, Any]) -> None:
        nonlocal written
        written = complete_report(root, written, [result], format_text) or written

    results = forget_sets(root, set(ledger.doc_ids), named, plan, record)
    # The report before the printing: stdout may be gone (`c4 forget ... | head -1`).
    written = complete_report(root, written, results, format_text) or written
    for line in set_lines({"derived": {"sets": [_set_section(r) for r in results]}}):
        print(line)
    if written and written != report_path:
        print(f"report: {written}")
    return exit_code(results, where)
