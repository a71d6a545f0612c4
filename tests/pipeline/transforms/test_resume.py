"""``c4 build --resumable`` (issue 18.6): a killed build, run again, reuses its finished work and
ends byte-identical to an uninterrupted one.

What a rerun can reuse: per input file, the per-file stages' output (``bundle-*`` spills), the
language and punkt answers, and once line dedup's join is reached, the join itself with all
that crosses it (``join/<inputs>/<attempt>/<bucket>-<size>-<crc>.pkl``, one group a bucket).
Each test proves what was reused by taking the alternative away: the input files are spoiled
(same size and mtime, zeros inside), or the spills are deleted.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from filters.records import Page
from pipeline.transforms.common import Pending, Settled
from pipeline.transforms.packing import ZSTD_MAGIC, pack, unpack
from pipeline.transforms.resume import (
    JOIN,
    SPILL_BATCH,
    FileDone,
    JoinPlan,
    Resumed,
    _SpillFn,
    answer_key,
    file_key,
    finished_spills,
    plan_join,
    prime_text_key,
    read_group,
    read_spill,
    text_key,
)
from tests.conftest import WET_DIR, output_tree

C4 = [sys.executable, "-m", "pipeline.cli"]
INPUTS = [
    WET_DIR / "CC-MAIN-2026-12.excerpt-262.warc.wet.gz",
    WET_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz",
]
# Page buckets of a build over two files (pipeline.transforms.dedup.vote_buckets).
BUCKETS = 16


def run(args: list[str], kill_at: int = 0, log: Path | None = None) -> int:
    return run_out(args, kill_at, log)[0]


def run_out(args: list[str], kill_at: int = 0, log: Path | None = None) -> tuple[int, str]:
    """``run``, and what the command printed on stdout (its summary)."""
    env = {**os.environ, "C4_PROGRESS_INTERVAL": "0"}
    if log is not None:
        env.update(C4_FAULT_LOG=str(log), C4_FAULT_KILL_AT=str(kill_at))
    proc = subprocess.run([*C4, *args], env=env, capture_output=True, start_new_session=True)
    if proc.returncode > 0:  # shown if the test fails
        print(proc.stderr.decode(errors="replace")[-3000:])
    return proc.returncode, proc.stdout.decode(errors="replace")


def resumed_line(stdout: str) -> str | None:
    """The summary's ``resumed:`` line, if any."""
    return next((line for line in stdout.splitlines() if line.startswith("resumed:")), None)


def run_facts(out: Path) -> dict[str, object]:
    facts: dict[str, object] = json.loads((out / "run.json").read_text())
    return facts


def data(out: Path) -> dict[str, bytes]:
    """Every output file but those that name DIR or time the run."""
    return {
        rel: p.read_bytes()
        for rel, p in output_tree(out).items()
        if rel not in ("config.json", "run.json")
    }


def spoil_keeping_identity(path: Path) -> None:
    """Overwrite a file with zeros, same size and mtime: read again, it would give nothing."""
    st = path.stat()
    path.write_bytes(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def copies(tmp_path: Path) -> list[str]:
    """The inputs, copied where a test may spoil them."""
    (tmp_path / "in").mkdir()
    for source in INPUTS:
        shutil.copy2(source, tmp_path / "in" / source.name)
    return [str(tmp_path / "in" / source.name) for source in INPUTS]


def groups(out: Path) -> list[Path]:
    """The kept join's group files, every attempt."""
    return sorted(out.glob(f".c4/resume/*/{JOIN}/*/*/*.pkl"))


@pytest.fixture(scope="module")
def writes(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Every file a ``--resumable --mask`` build writes, in order (its fault log)."""
    tmp = tmp_path_factory.mktemp("count")
    log = tmp / "log"
    args = ["build", "--input", *map(str, INPUTS), "--output", str(tmp / "out")]
    assert run([*args, "--mask", "--resumable"], log=log) == 0
    return log.read_text().splitlines()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What an uninterrupted build without the flag writes."""
    out = tmp_path_factory.mktemp("plain") / "out"
    assert run(["build", "--input", *map(str, INPUTS), "--output", str(out), "--mask"]) == 0
    return data(out)


def first(writes: list[str], part: str) -> int:
    """The 1-based index of the first write whose path has ``part``."""
    return next(i for i, path in enumerate(writes, 1) if part in path)


@pytest.mark.slow
@pytest.mark.parametrize("runner", [[], ["--runner", "DaskRunner"]], ids=["direct", "dask"])
def test_a_rerun_past_the_join_starts_from_it(
    tmp_path: Path, runner: list[str], writes: list[str], plain: dict[str, bytes]
) -> None:
    inputs = copies(tmp_path)
    out = tmp_path / "out"
    args = ["build", "--input", *inputs, "--output", str(out), "--mask", "--resumable", *runner]
    # Killed at its first shard write: the join is kept, the language decisions made.
    at = first(writes, "tfrecord")
    assert run(args, kill_at=at, log=tmp_path / "kill.log") == -signal.SIGKILL
    resume = next((out / ".c4/resume").iterdir())
    assert len(list(resume.glob("bundle-*.files.json"))) == len(inputs)  # one spill a file
    assert list(resume.glob("language/*.pkl")) and not (resume / "sentences").exists()
    assert len(groups(out)) == BUCKETS
    assert not (out / "stats.json").exists()  # nothing committed
    # Proof that the join is what the rerun reads: neither the files nor their spills remain.
    for path in inputs:
        spoil_keeping_identity(Path(path))
    for spill in resume.glob("bundle-*"):
        spill.unlink()
    code, stdout = run_out(args)
    assert code == 0
    assert data(out) == plain
    assert not (out / ".c4/resume").exists()  # done: nothing kept
    # The summary says what was reused: the join, and the answers the killed run had kept.
    line = resumed_line(stdout)
    assert line is not None, stdout
    assert line.startswith(f"resumed: reused line dedup's join ({BUCKETS} group(s)), "), line
    assert " language answer(s)" in line and " sentences answer(s)" not in line
    assert line.endswith("; recomputed: the stages after that join, and the write")
    resumed = run_facts(out)["resumed"]
    assert isinstance(resumed, dict)
    assert resumed["join_groups_reused"] == BUCKETS and resumed["spills_reused"] == 0


@pytest.mark.slow
def test_a_rerun_finds_the_language_answers_under_the_keys_they_were_kept_by(
    tmp_path: Path, writes: list[str], plain: dict[str, bytes]
) -> None:
    # After line dedup an answer is kept by the page's packed bytes and lost keys
    # (resume.answer_key): the rerun must derive the very same keys. Proof: every kept answer
    # is turned into a drop, and the rerun drops exactly as many more pages than it would.
    inputs = copies(tmp_path)
    out = tmp_path / "out"
    args = ["build", "--input", *inputs, "--output", str(out), "--mask", "--resumable"]
    assert run(args, kill_at=first(writes, "tfrecord"), log=tmp_path / "kill.log") < 0
    kept = sorted(next((out / ".c4/resume").iterdir()).glob("language/*.pkl"))
    dropped = 0
    for path in kept:
        answers = pickle.loads(path.read_bytes())
        dropped += sum(1 for answer in answers.values() if answer[0])
        lost = (False, "xx", "filtered:low_confidence", {"filtered:low_confidence": 1}, None)
        path.write_bytes(pickle.dumps(dict.fromkeys(answers, lost)))
    assert dropped > 0
    assert run(args) == 0
    passed = "english-filter/passed"
    want = json.loads(plain["stats.json"])["counters"][passed] - dropped
    # (a counter at 0 is left out: here every page the language stage passed had been asked)
    assert json.loads((out / "stats.json").read_bytes())["counters"].get(passed, 0) == want


def test_an_answer_key_is_the_primed_one_for_that_very_text() -> None:
    text = "".join(["one line\n", "two lines"])  # a str of its own, not an interned constant
    equal = "one line\ntwo lines"
    assert text_key(text) == text_key(equal)  # the text's own digest
    packed = pack(_page(1, text))
    key = answer_key(packed, {b"k2", b"k1"}, whole=False)
    prime_text_key(text, key)
    assert text_key(text) == key and text_key(equal) != key  # only for that very str
    assert key == answer_key(packed, [b"k1", b"k2"], whole=False)  # the lost keys as a set
    others = {
        answer_key(packed, {b"k1"}, whole=False),
        answer_key(packed, (), whole=False),
        answer_key(packed, (), whole=True),
        answer_key(pack(_page(2, text)), {b"k1", b"k2"}, whole=False),
        text_key(equal),
    }
    assert key not in others and len(others) == 5


@pytest.mark.slow
@pytest.mark.parametrize(
    "runner",
    [[], ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]],
    ids=["direct", "two_workers"],
)
def test_a_kill_while_the_join_is_kept_reuses_the_spills(
    tmp_path: Path, runner: list[str], writes: list[str], plain: dict[str, bytes]
) -> None:
    inputs = copies(tmp_path)
    out = tmp_path / "out"
    args = ["build", "--input", *inputs, "--output", str(out), "--mask", "--resumable", *runner]
    # Killed before the join's 9th group is written: an attempt with 8 of 16 groups.
    at = first(writes, f"/{JOIN}/") + BUCKETS // 2
    assert run(args, kill_at=at, log=tmp_path / "kill.log") == -signal.SIGKILL
    assert 0 < len(groups(out)) < BUCKETS
    for path in inputs:  # the per-file spills must serve: the files can no longer be read
        spoil_keeping_identity(Path(path))
    code, stdout = run_out(args)
    assert code == 0
    assert data(out) == plain
    line = resumed_line(stdout)
    assert line is not None and line.startswith("resumed: reused 2 of 2 input file(s)' spills")
    assert line.endswith("; recomputed: the shuffles and all after them (no input file read)")
    resumed = run_facts(out)["resumed"]
    assert isinstance(resumed, dict)
    assert resumed["spills_reused"] == resumed["input_files"] == 2
    assert resumed["join_groups_reused"] == 0


@pytest.mark.slow
def test_a_rerun_past_the_join_records_the_same_drops(tmp_path: Path) -> None:
    """With ``--record_drops`` the kept join also carries the duplicated keys' votes, which the
    credits of the pages line dedup dropped are computed from."""
    inputs = copies(tmp_path)
    drops = ["--record_drops"]
    plain = tmp_path / "plain"
    assert run(["build", "--input", *inputs, "--output", str(plain), *drops]) == 0
    out = tmp_path / "out"
    args = ["build", "--input", *inputs, "--output", str(out), "--resumable", *drops]
    log = tmp_path / "count.log"
    count = ["build", "--input", *inputs, "--output", str(tmp_path / "count"), "--resumable"]
    assert run([*count, *drops], log=log) == 0
    at = first(log.read_text().splitlines(), "tfrecord")
    assert run(args, kill_at=at, log=tmp_path / "kill.log") == -signal.SIGKILL
    assert len(groups(out)) == BUCKETS
    for path in inputs:
        spoil_keeping_identity(Path(path))
    assert run(args) == 0
    assert data(out) == data(plain)
    assert any(rel.startswith("drops/") for rel in data(out))


@pytest.mark.slow
def test_a_torn_group_is_ignored(
    tmp_path: Path, writes: list[str], plain: dict[str, bytes]
) -> None:
    inputs = copies(tmp_path)
    out = tmp_path / "out"
    args = ["build", "--input", *inputs, "--output", str(out), "--mask", "--resumable"]
    at = first(writes, "tfrecord")
    assert run(args, kill_at=at, log=tmp_path / "kill.log") == -signal.SIGKILL
    kept = groups(out)
    assert len(kept) == BUCKETS
    # A group cut short under its final name (a machine that lost a write), and a temporary
    # file a kill left between writing a group and renaming it.
    torn = kept[3]
    torn.write_bytes(torn.read_bytes()[:-10])
    (torn.parent / f"{kept[4].name}.tmp-0123").write_bytes(b"\0" * 10)
    # Read, the torn group would fail the run (its size and crc are checked): the rerun must
    # compute the join again, from the spills.
    assert run(args) == 0
    assert data(out) == plain


@pytest.mark.slow
def test_a_kept_join_serves_only_the_inputs_it_was_made_of(tmp_path: Path) -> None:
    """A changed configuration has another resume directory; an input file replaced in place
    (another size or mtime) another join directory: the kept join of the first is not used."""
    one, other = INPUTS
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "input.warc.wet.gz"
    shutil.copy2(one, path)
    out = tmp_path / "out"
    args = ["build", "--input", str(path), "--output", str(out), "--resumable"]
    writes = tmp_path / "count.log"
    count = ["build", "--input", str(path), "--output", str(tmp_path / "c"), "--resumable"]
    assert run(count, log=writes) == 0
    at = first(writes.read_text().splitlines(), "tfrecord")
    assert run(args, kill_at=at, log=tmp_path / "kill.log") == -signal.SIGKILL
    assert groups(out)  # the join of ``one`` is kept
    # Another configuration (``--record_drops``: its join carries the duplicated keys' votes too)
    # over the same DIR: its own resume directory, the same bytes as without.
    drops = ["--record_drops"]
    assert run(["build", "--input", str(path), "--output", str(tmp_path / "pd"), *drops]) == 0
    assert run([*args, *drops]) == 0
    assert data(out) == data(tmp_path / "pd")
    # The input replaced in place by another file: what is kept of ``one`` must not serve.
    shutil.copy2(other, path)
    assert run(["build", "--input", str(path), "--output", str(tmp_path / "p")]) == 0
    assert run(args) == 0
    assert data(out) == data(tmp_path / "p")


# --- the plan, without a build ----------------------------------------------------------------


def keep(directory: str, attempt: str, bucket: int, value: object) -> Path:
    """A group file as ``KeptJoin`` writes it."""
    data = pickle.dumps((bucket, {"page": [value]}))
    path = Path(directory, attempt, f"{bucket:07d}-{len(data)}-{zlib.crc32(data):08x}.pkl")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_plan_reads_only_a_complete_attempt(tmp_path: Path) -> None:
    inputs = [file_key(str(p)) for p in INPUTS]
    new = plan_join(str(tmp_path), 3, inputs)
    assert not new.complete
    for bucket in range(3):
        keep(new.directory, new.attempt, bucket, bucket)
    plan = plan_join(str(tmp_path), 3, inputs)
    assert plan.complete and plan.attempt == new.attempt and len(plan.groups) == 3
    assert [next(read_group(g)) for g in plan.groups] == [(b, {"page": [b]}) for b in range(3)]
    # Another list of inputs: another directory, nothing to read.
    assert not plan_join(str(tmp_path), 3, inputs[:1]).complete


def test_an_incomplete_attempt_is_replaced(tmp_path: Path) -> None:
    inputs = [file_key(str(p)) for p in INPUTS]
    first_plan = plan_join(str(tmp_path), 3, inputs)
    keep(first_plan.directory, first_plan.attempt, 0, "a")
    keep(first_plan.directory, first_plan.attempt, 1, "b")
    plan = plan_join(str(tmp_path), 3, inputs)
    assert not plan.complete and plan.attempt != first_plan.attempt
    assert not Path(first_plan.directory).exists()  # never mixed with the next attempt's


def test_a_torn_or_damaged_group_is_not_read(tmp_path: Path) -> None:
    inputs = [file_key(str(p)) for p in INPUTS]
    new = plan_join(str(tmp_path), 2, inputs)
    keep(new.directory, new.attempt, 0, "a")
    torn = keep(new.directory, new.attempt, 1, "b")
    torn.write_bytes(torn.read_bytes()[:-1])  # shorter than its name says: not whole
    assert not plan_join(str(tmp_path), 2, inputs).complete
    new = plan_join(str(tmp_path), 2, inputs)
    keep(new.directory, new.attempt, 0, "a")
    damaged = keep(new.directory, new.attempt, 1, "b")
    data = bytearray(damaged.read_bytes())
    data[-2] ^= 0xFF  # same size, another crc: found when read
    damaged.write_bytes(bytes(data))
    plan = plan_join(str(tmp_path), 2, inputs)
    assert plan.complete
    with pytest.raises(ValueError, match="damaged checkpoint"):
        next(read_group(plan.groups[1]))


def test_an_attempt_with_two_files_of_a_bucket_is_not_read(tmp_path: Path) -> None:
    """A runner that computed the join twice wrote some buckets twice, their side items
    spread otherwise: neither copy can be trusted to go with the other buckets' files."""
    inputs = [file_key(str(p)) for p in INPUTS]
    new = plan_join(str(tmp_path), 2, inputs)
    keep(new.directory, new.attempt, 0, "a")
    keep(new.directory, new.attempt, 1, "b")
    keep(new.directory, new.attempt, 1, "b, spread otherwise")
    assert not plan_join(str(tmp_path), 2, inputs).complete


def test_the_inputs_key_follows_a_file_replaced_in_place(tmp_path: Path) -> None:
    path = tmp_path / "a.warc.wet.gz"
    shutil.copy2(INPUTS[0], path)
    before = plan_join(str(tmp_path / "r"), 2, [file_key(str(path))]).directory
    shutil.copy2(INPUTS[1], path)
    assert plan_join(str(tmp_path / "r"), 2, [file_key(str(path))]).directory != before


def test_a_spill_of_a_file_no_longer_read_or_torn_is_not_replayed(tmp_path: Path) -> None:
    for name, files in (("a", ["k1"]), ("b", ["k2"]), ("c", ["k3", "k4"])):
        (tmp_path / f"bundle-{name}.pkl").write_bytes(b"")
        (tmp_path / f"bundle-{name}.files.json").write_text(json.dumps(files))
    (tmp_path / "bundle-d.pkl").write_bytes(b"")
    (tmp_path / "bundle-d.files.json").write_text('["k5", "k')  # torn by a kill
    spills = finished_spills(str(tmp_path), ["k1", "k3", "k5"])
    # k2 is not an input any more; k3's spill also holds k4's stream, which is not either.
    assert spills == {"k1": str(tmp_path / "bundle-a.pkl")}


def _page(i: int, text: str) -> Page:
    return Page(
        url=f"http://e.org/{i}",
        normalized_url=f"e.org/{i}",
        text=text,
        timestamp="2019-04-18T12:00:00Z",
        content_type="text/plain",
        content_length=str(len(text)),
        doc_id=f"d{i}",
        source_file="a.warc.wet.gz",
        record_offset=i,
    )


def test_a_spill_reads_back_what_passed_in_order(tmp_path: Path) -> None:
    spill = _SpillFn(str(tmp_path))
    spill.start_bundle()
    one = [("page", i, "x" * (i % 7)) for i in range(2 * SPILL_BATCH + 5)]  # several batches
    two = [{"counter": 1}, b"a packed drop record"]
    passed = [out for e in [*one, FileDone("a"), *two, FileDone("b")] for out in spill.process(e)]
    spill.finish_bundle()
    assert passed == [*one, *two]  # passed on unchanged, the markers dropped
    spills = finished_spills(str(tmp_path), ["a", "b"])
    assert spills["a"] != spills["b"]
    assert list(read_spill(spills["a"])) == one and list(read_spill(spills["b"])) == two


def test_a_spilled_page_is_packed_once_for_the_spill_and_the_shuffle(tmp_path: Path) -> None:
    # Pages leave the spill as Settled with their packed bytes (what URL dedup shuffles), large
    # ones zstd-compressed, and are read back so; pending decisions ride with them.
    spill = _SpillFn(str(tmp_path))
    spill.start_bundle()
    small, large = _page(1, "short text"), _page(2, "a long line of text\n" * 1000)
    pending = Pending(_page(3, "kept"), (("clean-page/passed", 1),), True, None)
    pages = [small, large, pending]
    passed = [out for e in [*pages, FileDone("a")] for out in spill.process(e)]
    spill.finish_bundle()
    assert [type(out) for out in passed] == [Settled] * 3
    assert [s.page for s in passed] == [small, large, pending.page]
    assert [unpack(s.packed) for s in passed] == pages
    assert passed[1].packed == pack(large) and passed[1].packed[:4] == ZSTD_MAGIC
    replayed = list(read_spill(finished_spills(str(tmp_path), ["a"])["a"]))
    assert replayed == passed


@pytest.mark.slow
def test_a_resumable_build_writes_what_a_plain_one_does(tmp_path: Path) -> None:
    inputs = [str(p) for p in INPUTS]
    assert run(["build", "--input", *inputs, "--output", str(tmp_path / "a")]) == 0
    code, stdout = run_out(
        ["build", "--input", *inputs, "--output", str(tmp_path / "b"), "--resumable"]
    )
    assert code == 0
    assert data(tmp_path / "a") == data(tmp_path / "b")
    assert resumed_line(stdout) is None  # a first attempt: nothing to reuse, nothing said
    assert run_facts(tmp_path / "b")["resumed"] == {
        "input_files": 2,
        "spills_reused": 0,
        "join_groups_reused": 0,
        "answers_kept": {"language": 0},
    }
    assert "resumed" not in run_facts(tmp_path / "a")


# --- the summary line, without a build ----------------------------------------------------------


def resumed(spilled: int = 0, groups: int = 0, language: int = 0, sentences: int = 0) -> Resumed:
    keys = {f"in-{i}": f"k{i}" for i in range(8)}
    join = JoinPlan("d", 64, "a", tuple(f"g{i}" for i in range(groups)))
    return Resumed(
        "r",
        keys,
        join,
        {f"k{i}": "s" for i in range(spilled)},
        {"language": language, "sentences": sentences},
    )


def test_the_summary_line_says_what_was_reused() -> None:
    assert resumed().line() is None  # nothing kept: nothing said
    assert resumed(spilled=6).line() == (
        "resumed: reused 6 of 8 input file(s)' spills; recomputed: reading and cleaning 2 input"
        " file(s), the shuffles and all after them"
    )
    assert resumed(groups=64, language=12_345, sentences=3).line() == (
        "resumed: reused line dedup's join (64 group(s)), 12,345 language answer(s), 3 sentences"
        " answer(s); recomputed: the stages after that join, and the write"
    )
    assert resumed(language=5).line() == (
        "resumed: reused 5 language answer(s); recomputed: everything else"
    )
    assert resumed(spilled=8, groups=64).facts() == {
        "input_files": 8,
        "spills_reused": 8,
        "join_groups_reused": 64,
        "answers_kept": {"language": 0, "sentences": 0},
    }
