"""Which C4 is built: the TFDS configs and dataset versions, and the rules each pair implies.

Constants are named after their source (C4_SPEC.md sections in comments). ``resolve_rules`` is the
one place that turns ``--config``/``--c4_version`` into the set of rules every stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

DEFAULT_CONFIG = "en"
DEFAULT_VERSION = "3.1.0"
VERSIONS = ("3.1.0", "2.2.0", "1.0.0")
CONFIGS = ("en", "en.noclean", "realnewslike", "multilingual")
# INTERFACE.md "What to build": the pairs we build exactly; any other pair is refused.
VALID_PAIRS: dict[str, tuple[str, ...]] = {
    "en": ("3.1.0", "2.2.0", "1.0.0"),
    "en.noclean": ("3.1.0", "2.2.0"),
    "realnewslike": ("3.1.0", "2.2.0"),
    "multilingual": ("3.1.0",),
}

# C4_SPEC §1.3: TFDS's is_valid_length drops pages longer than 1.9e5 characters.
TFDS_MAX_PAGE_LENGTH = 190_000
# C4_SPEC §1.4 (TFDS c4_utils constants).
TFDS_MIN_WORDS_PER_LINE = 5
TFDS_MIN_NUM_SENTENCES = 3
TFDS_MAX_WORD_LENGTH = 1000  # added in 2.2.0
# C4_SPEC §1.6: langdetect's top prediction must reach this probability.
TFDS_LANGDETECT_MIN_PROB = 0.99
# C4_SPEC §2: mC4's CLD3 threshold (3.1.0; 0.7 in 3.0.x).
TFDS_CLD3_MIN_PROB = 0.95
# C4_SPEC §1.8: validation iff md5(normalized url) % 1000 == 0.
TFDS_VALIDATION_MODULUS = 1000


class UsageError(ValueError):
    """A configuration the user asked for that we refuse, with one line saying why."""


@dataclass(frozen=True)
class C4Rules:
    """Every switch a stage needs, resolved from one (config, version) pair.

    The switches are ``cached_property``s: stages read them per line.
    """

    config: str = DEFAULT_CONFIG
    version: str = DEFAULT_VERSION

    @cached_property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @cached_property
    def clean(self) -> bool:
        """``clean_page`` runs (C4_SPEC §1.10)."""
        return self.config in ("en", "realnewslike")

    @cached_property
    def dedupe(self) -> bool:
        """Cross-document text dedup runs."""
        return self.config != "en.noclean"

    @cached_property
    def dedup_unit(self) -> str:
        """``"span"`` (three-sentence windows) for 1.0.0, else ``"line"`` (C4_SPEC §1.5)."""
        return "span" if self.version == "1.0.0" else "line"

    @cached_property
    def min_num_sentences(self) -> int:
        """The post-dedup sentence minimum: 3, or 0 where ``clean`` is off (mC4)."""
        return TFDS_MIN_NUM_SENTENCES if self.clean else 0

    @cached_property
    def url_dedup_rule(self) -> str:
        """``"newest"`` (3.1.0 ``select_newest_page``) or ``"last"`` (2.x/1.0 ``dedupe_urls``).

        2.x keeps the last value its GroupByKey iterates; we fix that to the last page in input
        order (file order, then record offset), as the legacy reference harness does.
        """
        return "newest" if self.major >= 3 else "last"

    @cached_property
    def badwords_in_clean(self) -> bool:
        """2.x and 1.0.0 check bad words per kept line inside ``clean_page`` (C4_SPEC §1.7)."""
        return self.major < 3 and self.clean

    @cached_property
    def badwords_filter_fraction(self) -> float:
        """3.x page-level bad-word filter: 1.0 hard, 0.999 soft (mC4), 0.0 off."""
        if self.major < 3:
            return 0.0
        return {"en": 1.0, "realnewslike": 1.0, "multilingual": 0.999}.get(self.config, 0.0)

    @cached_property
    def max_word_length(self) -> int | None:
        """The too-long-word line rule, absent in 1.0.0."""
        return None if self.version == "1.0.0" else TFDS_MAX_WORD_LENGTH

    @cached_property
    def require_timestamp(self) -> bool:
        """3.x drops pages without ``WARC-Date`` (``filtered:no_timestamp``)."""
        return self.major >= 3

    @cached_property
    def line_hash(self) -> str:
        """``"unicode"`` (2.3.1+: ``str.lower``) or ``"bytes"`` (2.2.0: ASCII-only lower)."""
        return "unicode" if self.major >= 3 else "bytes"

    @cached_property
    def local_line_dedup(self) -> bool:
        """Duplicate lines within one page are removed since 2.3.0."""
        return self.major >= 3

    @cached_property
    def dedup_url_key(self) -> str:
        """Which URL owns lines in dedup: ``"url"`` (raw, 3.x) or ``"normalized_url"`` (2.x)."""
        return "url" if self.major >= 3 else "normalized_url"

    @cached_property
    def paragraph_filter(self) -> bool:
        return self.config == "multilingual"

    @cached_property
    def realnewslike(self) -> bool:
        return self.config == "realnewslike"

    @cached_property
    def language_detector(self) -> str:
        """Default detector: ``"langdetect-rs"`` (langdetect's exact port), ``"cld3"`` for mC4."""
        return "cld3" if self.config == "multilingual" else "langdetect-rs"

    @cached_property
    def has_validation(self) -> bool:
        return self.version != "1.0.0"

    @cached_property
    def features(self) -> tuple[str, ...]:
        """The TFDS features of the version (1.0.0 had only url and text)."""
        if self.version == "1.0.0":
            return ("text", "url")
        return ("content-length", "content-type", "text", "timestamp", "url")


def resolve_rules(config: str = DEFAULT_CONFIG, version: str = DEFAULT_VERSION) -> C4Rules:
    """Validate a (config, version) pair and return its rules.

    Raises:
        UsageError: the config or version is unknown, or the pair is not one TFDS built.
    """
    if config not in VALID_PAIRS:
        raise UsageError(f"--config: unknown config {config!r}; choose one of {', '.join(CONFIGS)}")
    if version not in VERSIONS:
        raise UsageError(
            f"--c4_version: unknown version {version!r}; choose one of {', '.join(VERSIONS)}"
        )
    if version not in VALID_PAIRS[config]:
        allowed = ", ".join(VALID_PAIRS[config])
        raise UsageError(f"--c4_version: {config} is built by C4 version {allowed}, not {version}")
    return C4Rules(config=config, version=version)
