"""The one frozen ``BuildConfig`` a ``c4 build`` run is made from, and its input expansion.

Pure: no Beam here, so a configuration can be resolved, validated and serialized before any
pipeline exists. Every usage problem raises ``filters.spec.UsageError`` with one line naming the
flag, so ``c4 build`` can refuse a run before any work starts.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from filters.ledger import CarriedLedger
from filters.lineage import RequestError, parse_domain_line, parse_url_line, request_lines
from filters.spec import DEFAULT_CONFIG, DEFAULT_VERSION, C4Rules, UsageError, resolve_rules
from filters.wet import source_file_name
from pipeline.io.urls import (
    LISTING_SUFFIXES,
    WET_SUFFIXES,
    cap_files,
    crawl_base,
    crawl_listing,
    is_remote,
    parse_crawls,
)
from pipeline.masking.options import MaskOptions, english_vocab_refusal

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "sample"
SAMPLE_WET = SAMPLE_DIR / "CC-MAIN-2016-50.excerpt-25.warc.wet.gz"
DEFAULT_OUTPUT = "c4-output"
ENGLISH_DETECTORS = ("langdetect-rs", "langdetect")
# A WET file starts with a WARC record; anything else is read as a listing of paths.
_WARC_MAGIC = b"WARC/"


@dataclass(frozen=True)
class InputFile:
    """One WET file to read, with its place in the input order (2.x URL dedup depends on it)."""

    path: str
    file_index: int
    source_file: str


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build reads, resolved once from the command line; JSON for ``config.json``."""

    inputs: tuple[InputFile, ...]
    output_dir: str
    config: str = DEFAULT_CONFIG
    c4_version: str = DEFAULT_VERSION
    language_detector: str = "langdetect-rs"
    num_shards: int | None = None
    runner: str = "DirectRunner"
    mask: bool = False
    # c4 build --mask's masking flags (c4 mask's): vocabulary, seed, epoch, lengths.
    mask_options: MaskOptions = field(default_factory=MaskOptions)
    cc_base_url: str = ""
    beam_args: tuple[str, ...] = field(default=())
    # Match keys (filters/lineage.py) of pages dropped while reading: never in the output.
    blocklist_urls: tuple[str, ...] = field(default=())
    blocklist_domains: tuple[str, ...] = field(default=())
    # Common Crawl crawls read (``--crawl``) and the per-argument cap (``--max_wet_files``).
    crawls: tuple[str, ...] = field(default=())
    max_wet_files: int | None = None
    # https:// downloads (pipeline.io.http.FetchPolicy): per worker process, per request.
    max_concurrent_downloads: int = 4
    download_attempts: int = 8
    # ``--record_drops``: DIR/drops/ lists every page a rule dropped, and why (pipeline/drops.py);
    # in config.json when on.
    record_drops: bool = False
    # Where this run writes before its commit makes it current (``pipeline/io/commit.py``);
    # never in config.json: the same build must give the same bytes wherever it was staged.
    staging_dir: str | None = None
    # ``--resumable`` (pipeline/transforms/resume.py): how the run is done, not what it makes,
    # so not in config.json either.
    resumable: bool = False
    # The forget ledger applied at ingest and written to DIR/forget/ledger.json, and whether
    # DIR's forget/ is dropped (``pipeline/build_ledger.py``); the ledger is its own file, not
    # part of config.json.
    forget: CarriedLedger | None = None
    drop_forget: bool = False

    @property
    def write_dir(self) -> str:
        """Where the sinks write: the commit's staging area, or DIR itself without one."""
        return self.staging_dir or self.output_dir

    @property
    def rules(self) -> C4Rules:
        """The C4 rules of this (config, version) pair."""
        return resolve_rules(self.config, self.c4_version)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (inputs as a list of objects); the staging area left out."""
        data = asdict(self)
        del data["staging_dir"], data["resumable"], data["forget"], data["drop_forget"]
        if not self.record_drops:  # a default build's config.json as before the option
            del data["record_drops"]
        return data

    def resume_identity(self) -> str:
        """What a ``--resumable`` build's kept work depends on (``pipeline/transforms/resume.py``):
        the configuration and the forget ledger it applies, which config.json leaves out."""
        ledger = self.forget.text if self.forget is not None else ""
        return self.to_json() + "\0" + ledger + ("\0drop" if self.drop_forget else "")

    def to_json(self) -> str:
        """Stable, sorted JSON: the same config always serializes to the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> BuildConfig:
        """Inverse of ``to_json``."""
        data = json.loads(text)
        data["inputs"] = tuple(InputFile(**i) for i in data["inputs"])
        data["beam_args"] = tuple(data.get("beam_args", ()))
        data["mask_options"] = MaskOptions(**data.get("mask_options", {}))
        for name in ("blocklist_urls", "blocklist_domains", "crawls"):
            data[name] = tuple(data.get(name, ()))
        return cls(**data)


_is_remote = is_remote
# Expands one remote argument (``pipeline.io.expand.expand_remote``): Beam-side, so injected.
# Called as ``expand_remote(arg, cc_base_url, flag)``; raises UsageError naming ``flag``.
RemoteExpander = Callable[[str, str, str], list[str]]


def _dangling(path: Path) -> bool:
    """A symlink whose target does not exist."""
    return path.is_symlink() and not path.exists()


def _looks_like_wet(path: str) -> bool:
    """WET by name, else by its first bytes (a listing file is plain paths, maybe gzipped)."""
    if path.endswith(WET_SUFFIXES):
        return True
    if path.endswith(LISTING_SUFFIXES):
        return False
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return bool(f.read(len(_WARC_MAGIC)) == _WARC_MAGIC)
    except OSError:
        # Unreadable here: let the reader dead-letter it rather than guess it is a listing.
        return True


def _read_listing(path: str, base: str) -> list[str]:
    """Paths of a listing file, one a line; relative ones resolve against ``base``."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    root = base or os.path.dirname(os.path.abspath(path))
    out = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if _is_remote(line) or os.path.isabs(line):
            out.append(line)
        elif _is_remote(root):
            out.append(root.rstrip("/") + "/" + line)
        else:
            out.append(os.path.join(root, line))
    return out


def _expand_one(
    arg: str, cc_base_url: str, expand_remote: RemoteExpander | None = None, flag: str = "--input"
) -> list[str]:
    """One ``--input`` argument -> WET paths, sorted within the argument."""
    if _is_remote(arg):
        # Without an expander (pure use), a remote argument is taken as one WET file.
        return expand_remote(arg, cc_base_url, flag) if expand_remote else [arg]
    if os.path.isdir(arg):
        # A dangling symlink is kept: the reader dead-letters it (``unreadable: dangling
        # symlink``) instead of the file vanishing from the build unseen.
        found = [
            str(p)
            for p in Path(arg).rglob("*")
            if (p.is_file() or _dangling(p)) and str(p).endswith(WET_SUFFIXES)
        ]
        return sorted(found)
    matches = sorted(glob.glob(arg)) if glob.has_magic(arg) else [arg]
    out: list[str] = []
    for path in matches:
        if not os.path.isfile(path) and not (path != arg and _dangling(Path(path))):
            continue
        if _looks_like_wet(path):
            out.append(path)
        else:
            out.extend(_check_listed(_read_listing(path, cc_base_url), path, flag))
    return out


def _check_listed(paths: list[str], listing: str, flag: str) -> list[str]:
    """A listing's paths, unless it names local files only and none of them exists (a listing
    of remote files is checked by the reader: each file it cannot fetch is a dead letter).

    Raises:
        UsageError: every file the listing names is local and missing.
    """
    local = [p for p in paths if not _is_remote(p)]
    if local and len(local) == len(paths) and not any(os.path.isfile(p) for p in local):
        if len(local) == 1:
            raise UsageError(f"{flag}: {listing}: the file it lists does not exist: {local[0]}")
        raise UsageError(
            f"{flag}: {listing}: none of the {len(local)} files it lists exists (first {local[0]})"
        )
    return paths


def expand_inputs(
    args: Sequence[str],
    cc_base_url: str = "",
    expand_remote: RemoteExpander | None = None,
    max_wet_files: int | None = None,
    crawls: Sequence[str] = (),
) -> tuple[InputFile, ...]:
    """Expand files, globs, directories, listing files and crawls, keeping the user's order.

    ``--input`` arguments come first, then each crawl's ``wet.paths.gz`` (under
    ``--cc_base_url``, Common Crawl's HTTPS endpoint by default); ``max_wet_files`` keeps the
    first N WET files of each argument and each crawl.

    Raises:
        UsageError: an argument matched no file.
    """
    paths: list[str] = []
    sources = [("--input", arg, cc_base_url) for arg in args]
    # A crawl's listing holds paths relative to the root that contains crawl-data/.
    sources += [("--crawl", crawl_listing(c, cc_base_url), crawl_base(cc_base_url)) for c in crawls]
    for flag, arg, base in sources:
        if flag == "--crawl" and _is_remote(arg) and expand_remote is None:
            raise UsageError(f"--crawl: reading {arg} needs the launcher's remote expansion")
        found = cap_files(_expand_one(arg, base, expand_remote, flag), max_wet_files)
        if not found:
            raise UsageError(f"{flag}: no WET files matched {arg!r}")
        paths.extend(found)
    return tuple(
        InputFile(path=p, file_index=i, source_file=source_file_name(p))
        for i, p in enumerate(paths)
    )


def _configs_in(output_dir: str) -> set[tuple[str, str]]:
    """The (config, version) pairs an existing output directory already holds."""
    found: set[tuple[str, str]] = set()
    config_json = Path(output_dir) / "config.json"
    if config_json.is_file():
        try:
            data = json.loads(config_json.read_text(encoding="utf-8"))
            if isinstance(data.get("config"), dict):
                data = data["config"]
            found.add((str(data.get("config")), str(data.get("c4_version"))))
        except (OSError, ValueError):
            found.add(("?", "?"))
    tfds_root = Path(output_dir) / "c4"
    if tfds_root.is_dir():
        for version_dir in tfds_root.glob("*/*"):
            if version_dir.is_dir():
                found.add((version_dir.parent.name, version_dir.name))
    return found


def check_output_dir(output_dir: str, config: str, version: str) -> None:
    """Refuse a DIR that already holds another config or version (INTERFACE.md).

    Raises:
        UsageError: DIR is a file, or holds a build of another (config, version).
    """
    if _is_remote(output_dir):
        return
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError(f"--output: {output_dir} exists and is not a directory")
    others = sorted(p for p in _configs_in(output_dir) if p != (config, version))
    if others:
        held = ", ".join(f"{c} {v}" for c, v in others)
        raise UsageError(
            f"--output: {output_dir} already holds c4 {held}; use another directory for "
            f"{config} {version}"
        )


def resolve_detector(rules: C4Rules, requested: str | None) -> str:
    """The language detector to run: the flag's choice, validated against the config.

    Raises:
        UsageError: a detector that cannot build this config.
    """
    if rules.language_detector == "cld3":
        if requested not in (None, "cld3"):
            raise UsageError(f"--language_detector: {rules.config} uses cld3, not {requested}")
        return "cld3"
    if requested is None:
        return ENGLISH_DETECTORS[0]
    if requested not in ENGLISH_DETECTORS:
        choices = "|".join(ENGLISH_DETECTORS)
        raise UsageError(f"--language_detector: choose {choices}, not {requested!r}")
    return requested


def read_blocklist(path: str | None, flag: str) -> tuple[str, ...]:
    """A blocklist file (one URL or domain a line, ``#`` comments) -> its sorted match keys.

    Raises:
        UsageError: the file cannot be read or a line is malformed (naming file and line).
    """
    if not path:
        return ()
    parse = parse_url_line if flag == "--blocklist_urls" else parse_domain_line
    try:
        if "://" in path:  # gs:// (a Flex Template launcher has no local copy)
            from pipeline.io.output import read_text

            remote = read_text(path)
            if remote is None:
                raise OSError("no such file")
            text = remote
        else:
            text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc}") from None
    keys = set()
    for number, line in request_lines(text):
        try:
            keys.add(parse(line))
        except RequestError as exc:
            raise UsageError(f"{flag}: {path} line {number}: {exc}") from None
    return tuple(sorted(keys))


def make_build_config(
    inputs: Iterable[str] | None,
    output_dir: str | None,
    config: str = DEFAULT_CONFIG,
    c4_version: str = DEFAULT_VERSION,
    language_detector: str | None = None,
    num_shards: int | None = None,
    runner: str = "DirectRunner",
    mask: bool = False,
    cc_base_url: str = "",
    beam_args: Sequence[str] = (),
    blocklist_urls: str | None = None,
    blocklist_domains: str | None = None,
    crawls: Iterable[str] | None = None,
    max_wet_files: int | None = None,
    expand_remote: RemoteExpander | None = None,
    max_concurrent_downloads: int = 4,
    download_attempts: int = 8,
    record_drops: bool = False,
    mask_options: MaskOptions | None = None,
) -> BuildConfig:
    """Validate every option and resolve the inputs; with no inputs, the bundled sample.

    The masking flags (``mask_options``) are checked here for what needs no file: given
    without ``--mask``, or the English vocabulary for a multilingual build; the vocabulary
    and lengths themselves by ``pipeline.masking.run.mask_job`` at launch.

    Raises:
        UsageError: one line naming the offending flag.
    """
    rules = resolve_rules(config, c4_version)
    detector = resolve_detector(rules, language_detector)
    mask_options = mask_options or MaskOptions()
    if mask:
        refusal = english_vocab_refusal(config, mask_options)
        if refusal:
            raise UsageError(refusal)
    elif mask_options.given():
        raise UsageError(f"{mask_options.given()[0]}: a masking flag; add --mask to mask")
    if num_shards is not None and num_shards < 1:
        raise UsageError(f"--num_shards: must be at least 1, not {num_shards}")
    url_keys = read_blocklist(blocklist_urls, "--blocklist_urls")
    domain_keys = read_blocklist(blocklist_domains, "--blocklist_domains")
    if max_wet_files is not None and max_wet_files < 1:
        raise UsageError(f"--max_wet_files: must be at least 1, not {max_wet_files}")
    for flag, value in (
        ("--max_concurrent_downloads", max_concurrent_downloads),
        ("--download_attempts", download_attempts),
    ):
        if value < 1:
            raise UsageError(f"{flag}: must be at least 1, not {value}")
    crawl_ids = parse_crawls(crawls)
    args = list(inputs or [])
    if not args and not crawl_ids:
        args = [str(SAMPLE_WET)]
    files = expand_inputs(args, cc_base_url, expand_remote, max_wet_files, crawl_ids)
    out = output_dir or DEFAULT_OUTPUT
    check_output_dir(out, config, c4_version)
    return BuildConfig(
        inputs=files,
        output_dir=out,
        config=config,
        c4_version=c4_version,
        language_detector=detector,
        num_shards=num_shards,
        runner=runner,
        mask=mask,
        mask_options=mask_options,
        cc_base_url=cc_base_url,
        beam_args=tuple(beam_args),
        blocklist_urls=url_keys,
        blocklist_domains=domain_keys,
        crawls=crawl_ids,
        max_wet_files=max_wet_files,
        max_concurrent_downloads=max_concurrent_downloads,
        download_attempts=download_attempts,
        record_drops=record_drops,
    )
